"""The daily fund-flow history's source facts: secids, parameters, parsing, identities."""

from __future__ import annotations

import json
from datetime import date

import pytest

from findata_assets.eastmoney import klines
from findata_assets.eastmoney.errors import (
    PERMANENT, HistorySchemaError, KlineLineError, NoSuchSecurityError, SchemaDriftError)

# the facts file's sample line (000001, a Shenzhen stock, 2023-12-18)
SAMPLE = ("2023-12-18,-58234405.0,47874618.0,10359788.0,-13362003.0,-44872402.0,-9.72,7.99,1.73,"
          "-2.23,-7.49,8.41,-0.94,0.00,0.00")


def body(lines, **data) -> bytes:
    payload = {"rc": 0, "rt": 21, "data": {"code": "000001", "market": 0, "name": "平安银行",
                                         "tradePeriods": None, "klines": lines, **data}}
    return json.dumps(payload, ensure_ascii=False).encode()


def line(day: str, *values: str) -> str:
    fields = SAMPLE.split(",")
    fields[0] = day
    for i, v in enumerate(values, start=1):
        fields[i] = v
    return ",".join(fields)


# --- secids and parameters --------------------------------------------------------------------

@pytest.mark.parametrize("code, secid", [
    ("600000", "1.600000"), ("688981", "1.688981"), ("689009", "1.689009"), ("900901", "1.900901"),
    ("000001", "0.000001"), ("002594", "0.002594"), ("300750", "0.300750"), ("200002", "0.200002"),
    ("920001", "0.920001"), ("BK0459", "90.BK0459"), ("bk1036", "90.BK1036"),
])
def test_codes_get_their_market_prefix(code, secid):
    assert klines.secid_for(code) == secid


@pytest.mark.parametrize("code, words", [
    ("430047", "old Beijing code"), ("830799", "old Beijing code"), ("872925", "old Beijing code"),
    ("510300", "no daily fund-flow history"), ("999999", "no daily fund-flow history"),
    ("60000", "no daily fund-flow history"), ("BK45", "no daily fund-flow history"),
])
def test_other_codes_are_refused_naming_the_code_and_the_rule(code, words):
    with pytest.raises(ValueError, match=words) as err:
        klines.secid_for(code)
    assert repr(code) in str(err.value) and ("920xxx" in str(err.value))


def test_query_parameters_of_a_stock_and_of_the_market_pair():
    stock = klines.query_params("0.000001")
    assert stock == {"lmt": "0", "klt": "101", "secid": "0.000001", "fields1": "f1,f2,f3,f7",
                     "fields2": ",".join(f"f{n}" for n in range(51, 66)),
                     "ut": klines.UT}
    market = klines.query_params(klines.MARKET_SECID, ut=False)
    assert market["secid"] == "1.000001" and market["secid2"] == "0.399001"
    assert "ut" not in market and "_" not in market  # the fetcher adds the cache-buster
    with pytest.raises(ValueError, match="secid '600000' is not"):
        klines.query_params("600000")


def test_the_field_catalog_matches_the_line_and_the_dataclass():
    names = [f.name for f in klines.DAILY_FIELDS]
    assert [f.code for f in klines.DAILY_FIELDS] == [f"f{n}" for n in range(51, 66)]
    assert names == ["trade_date", "main_net", "small_net", "medium_net", "large_net",
                     "super_large_net", "main_pct", "small_pct", "medium_pct", "large_pct",
                     "super_large_pct", "close", "change_pct", "close_2", "change_pct_2"]
    assert names == list(klines.DailyLine.__dataclass_fields__)
    labels = {f.name: f.label_zh for f in klines.DAILY_FIELDS}
    assert labels["trade_date"] == "日期" and labels["main_net"] == "主力净流入-净额"
    assert labels["super_large_pct"] == "超大单净流入-净占比" and labels["close"] == "收盘价"
    market = {f.name: f.market_label_zh for f in klines.DAILY_FIELDS}
    assert market["close_2"] == "深证成指收盘" and market["change_pct_2"] == "深证成指涨跌幅"
    units = {f.name: f.unit for f in klines.DAILY_FIELDS}
    assert units["small_net"] == "yuan" and units["medium_pct"] == "percent"
    assert units["close_2"] == "index points"
    assert klines.DAILY_FIELDS[0].column().sql_type == "date"
    assert not klines.DAILY_FIELDS[0].column().nullable


# --- parsing ----------------------------------------------------------------------------------

def test_the_sample_line_parses_to_its_values():
    series = klines.parse_daily(body([SAMPLE]), "0.000001")
    assert (series.secid, series.code, series.name) == ("0.000001", "000001", "平安银行")
    [day] = series.lines
    assert day.trade_date == date(2023, 12, 18)
    assert day.main_net == -58234405.0 and day.small_net == 47874618.0
    assert day.medium_net == 10359788.0 and day.large_net == -13362003.0
    assert day.super_large_net == -44872402.0
    assert (day.main_pct, day.small_pct, day.medium_pct) == (-9.72, 7.99, 1.73)
    assert (day.large_pct, day.super_large_pct) == (-2.23, -7.49)
    assert (day.close, day.change_pct, day.close_2, day.change_pct_2) == (8.41, -0.94, 0.0, 0.0)


def test_jsonp_and_str_bodies_parse_too():
    wrapped = b"jQuery112_1702890000(" + body([SAMPLE]) + b");"
    assert klines.parse_daily(wrapped, "0.000001").lines[0].close == 8.41
    assert klines.parse_daily(body([SAMPLE]).decode(), "0.000001").lines[0].close == 8.41


def test_a_dash_or_an_empty_field_is_none_never_zero():
    series = klines.parse_daily(body([line("2023-12-18", "-", "", "0.0")]), "0.000001")
    [day] = series.lines
    assert day.main_net is None and day.small_net is None and day.medium_net == 0.0


@pytest.mark.parametrize("payload", [{"rc": 0, "data": None}, {"rc": 100, "data": None},
                                     {"rc": 102, "data": {"klines": []}}])
def test_data_null_or_a_bad_rc_is_no_such_security(payload):
    with pytest.raises(NoSuchSecurityError, match="0.430047: the source has no such security"):
        klines.parse_daily(json.dumps(payload), "0.430047")
    assert not issubclass(NoSuchSecurityError, PERMANENT)  # about one security, not the run


def test_an_envelope_without_data_is_schema_drift_naming_the_secid():
    with pytest.raises(HistorySchemaError, match=r"daily history of 1\.600000.*'data'") as err:
        klines.parse_daily(json.dumps({"rc": 0, "rt": 21}), "1.600000")
    assert isinstance(err.value, SchemaDriftError) and err.value.secid == "1.600000"
    with pytest.raises(HistorySchemaError, match="data.klines"):
        klines.parse_daily(json.dumps({"rc": 0, "data": {"code": "600000"}}), "1.600000")
    with pytest.raises(HistorySchemaError, match="not the kline envelope"):
        klines.parse_daily(b'{"ok": true}', "1.600000")


@pytest.mark.parametrize("bad, problem", [
    (SAMPLE.rsplit(",", 1)[0], "has 14 fields, expected 15"),
    (SAMPLE + ",1.0", "has 16 fields, expected 15"),
    (line("2023-13-18"), "has a bad date '2023-13-18'"),
    (line("18/12/2023"), "has a bad date"),
    (line("2023-12-18", "abc"), "has main_net (f52) = 'abc', not a number"),
    (line("2023-12-18", "nan"), "main_net (f52) = 'nan'"),
    (line("2023-12-18", "1,5"), "has 16 fields"),
])
def test_a_malformed_line_is_one_line_naming_the_secid_and_quoting_the_line(bad, problem):
    lines = [line("2023-12-15"), bad]
    with pytest.raises(KlineLineError) as err:
        klines.parse_daily(body(lines), "0.000001")
    text = str(err.value)
    assert text.startswith("0.000001: daily history line 2 ") and problem in text
    assert "\n" not in text and bad[:20] in text and len(text) < 240


def test_a_long_bad_line_is_quoted_shortened():
    with pytest.raises(KlineLineError) as err:
        klines.parse_daily(body([SAMPLE + ",9" * 200]), "0.000001")
    assert str(err.value).endswith("...") and len(str(err.value)) < 200


@pytest.mark.parametrize("days, problem", [(["2023-12-18", "2023-12-18"], "repeats the date"),
                                           (["2023-12-18", "2023-12-15"], "out of date order")])
def test_lines_must_come_in_date_order_without_repeats(days, problem):
    with pytest.raises(KlineLineError, match=problem):
        klines.parse_daily(body([line(d) for d in days]), "0.000001")


# --- identities -------------------------------------------------------------------------------

def test_good_lines_break_no_identity():
    lines = [SAMPLE, line("2023-12-19", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-")]
    report = klines.check_identities(klines.parse_daily(body(lines), "0.000001"))
    assert report.ok and report.lines == 2
    assert report.checked == dict.fromkeys(klines.IDENTITIES, 1)  # the line of "-" is skipped


def test_a_line_that_breaks_an_identity_is_counted_with_its_gap_and_not_fixed():
    # super-large and small swapped: the order some public code reads, which is wrong
    f = SAMPLE.split(",")
    swapped = ",".join([f[0], f[1], f[5], f[3], f[4], f[2], *f[6:]])
    shifted_pct = line("2023-12-19", *f[1:6], "-9.72", "7.99", "1.73", "-2.23", "-6.00")
    series = klines.parse_daily(body([SAMPLE.replace("2023-12-18", "2023-12-15"), swapped,
                                      shifted_pct]), "0.000001")
    report = klines.check_identities(series)
    counts = report.counts()
    assert counts[klines.MAIN_SPLIT] == 1 and counts[klines.PCT_SPLIT] == 1
    [main, *_] = [v for v in report.violations if v.identity == klines.MAIN_SPLIT]
    assert main.trade_date == date(2023, 12, 18)
    assert main.gap == pytest.approx(-58234405.0 - (-13362003.0 + 47874618.0))
    [pct] = [v for v in report.violations if v.identity == klines.PCT_SPLIT]
    assert pct.trade_date == date(2023, 12, 19) and pct.gap == pytest.approx(-1.49)
    assert series.lines[1].small_net == -44872402.0  # values stay as the source sent them


def test_the_order_classes_may_miss_zero_by_a_small_share_of_turnover_only():
    # the turnover the line implies (net / percent, at least 599 M yuan): 1% of it is 6-8 M
    near = line("2023-12-19", "-58234405.0", "50874618.0")  # 3 M off: the source's noise
    far = line("2023-12-20", "-58234405.0", "60874618.0")  # 13 M off: not the same thing
    report = klines.check_identities(klines.parse_daily(body([SAMPLE, near, far]), "0.000001"))
    [bad] = [v for v in report.violations if v.identity == klines.NET_ZERO]
    assert bad.trade_date == date(2023, 12, 20) and 5e6 < bad.tolerance < 8e6
