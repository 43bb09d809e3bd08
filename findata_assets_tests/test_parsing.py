"""Unit tests of parsing.py: envelopes, JSONP, np=2, "-" -> None, ranks, trade dates."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from findata_assets.eastmoney import catalog, parsing
from findata_assets.eastmoney.client import Snapshot
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, SchemaDriftError, ValueParseError)

SH = parsing.SHANGHAI
STOCK = catalog.table("stock", "all", "1d")
SECTOR = catalog.table("sector", "industry", "5d")


def _ts(*args) -> int:
    """Unix seconds of a wall-clock time in Asia/Shanghai."""
    return int(datetime(*args, tzinfo=SH).timestamp())


def raw_row(spec, code, main_net, f124=None, **overrides) -> dict:
    """A plausible API row for `spec` (values derived from the code so rows differ)."""
    n = int("".join(c for c in code if c.isdigit()) or 1)
    row = {f: round(n * 0.37 + i, 2) for i, f in enumerate(spec.period.fields)}
    row.update({"f12": code, "f14": f"name{code}", spec.period.fid: main_net,
                "f124": f124 if f124 is not None else _ts(2025, 10, 27, 15, 0)})
    for col in ("top_stock_name", "top_stock_code"):
        row[spec.period.columns[col]] = f"{col}-{code}"
    row.update(overrides)
    return row


def snapshot(spec, rows, fetched_at=None, trade_date=date(2025, 10, 27)) -> Snapshot:
    fetched_at = fetched_at or datetime(2025, 10, 27, 15, 30, tzinfo=SH)
    return Snapshot(table=spec.name, kind=spec.kind, group_key=spec.group.key,
                    period_key=spec.period.key, url="http://x/api/qt/clist/get", params={},
                    fetched_at=fetched_at, updated_at=None, trade_date=trade_date,
                    total=len(rows), page_size=100, pages=1, requests=1, shared_with=[],
                    rows=rows)


# --- bodies and envelopes ------------------------------------------------------------------

ENVELOPE = {"rc": 0, "rt": 6, "data": {"total": 2, "diff": [{"f12": "000001"}, {"f12": "000002"}]}}


@pytest.mark.parametrize("wrap", [
    "{}", "jQuery1123_1761550782({});", "jQuery1123_1761550782({})", "  cb_1 (\n{}\n) ;\n"])
def test_decode_plain_json_and_jsonp(wrap):
    body = wrap.replace("{}", json.dumps(ENVELOPE))
    assert parsing.decode_body(body) == ENVELOPE


@pytest.mark.parametrize("body", [
    "", "   ", '{"rc":0,"data":{"total":2,"diff":[{"f12":"0000',
    'jQuery1_2({"rc":0,"data":{"total":1,', "<html>blocked</html>", "jQuery1_2();"])
def test_empty_truncated_or_non_json_bodies_are_retryable(body):
    with pytest.raises(BadResponseError):
        parsing.decode_body(body)


def test_np2_object_diff_is_ordered_by_numeric_key():
    rows = {str(i): {"f12": f"{i:06d}"} for i in range(12)}
    shuffled = dict(sorted(rows.items()))  # "0","1","10","11","2",...: string order
    page = parsing.parse_page({"rc": 0, "data": {"total": 12, "diff": shuffled}}, "t")
    assert [r["f12"] for r in page.rows] == [f"{i:06d}" for i in range(12)]
    assert page.total == 12


def test_np1_list_diff():
    page = parsing.parse_page(ENVELOPE, "t")
    assert page.total == 2 and [r["f12"] for r in page.rows] == ["000001", "000002"]


@pytest.mark.parametrize("payload,reason", [
    ({"rc": 0, "data": None}, "data: null"),
    ({"rc": 100, "data": None}, "rc=100"),
    ({"rc": 102, "data": {"total": 1, "diff": []}}, "rc=102"),
])
def test_soft_failures_are_retryable(payload, reason):
    with pytest.raises(BadResponseError, match=reason):
        parsing.parse_page(payload, "stock_flow_all_1d")


@pytest.mark.parametrize("payload,field", [
    ([1, 2], "<envelope>"),
    ({"rc": 0, "result": {}}, "data"),
    ({"rc": 0, "data": [1]}, "data"),
    ({"rc": 0, "data": {"total": 1}}, "data.diff"),
    ({"rc": 0, "data": {"diff": []}}, "data.total"),
    ({"rc": 0, "data": {"total": "5", "diff": []}}, "data.total"),
    ({"rc": 0, "data": {"total": 1, "diff": "x"}}, "data.diff"),
    ({"rc": 0, "data": {"total": 1, "diff": ["x"]}}, "data.diff[0]"),
    ({"rc": 0, "data": {"total": 1, "diff": {"a": {}}}}, "data.diff"),
])
def test_unexpected_envelope_is_a_clear_schema_error(payload, field):
    with pytest.raises(SchemaDriftError) as info:
        parsing.parse_page(payload, "stock_flow_all_1d")
    assert info.value.field == field and info.value.table == "stock_flow_all_1d"
    assert "stock_flow_all_1d" in str(info.value) and field in str(info.value)


def test_missing_required_field_is_schema_drift_naming_field_and_table():
    row = raw_row(STOCK, "000001", 1.0)
    del row["f184"]
    with pytest.raises(SchemaDriftError) as info:
        parsing.check_required([raw_row(STOCK, "000002", 2.0), row],
                               dict.fromkeys(STOCK.required_fields(), STOCK.name))
    assert (info.value.field, info.value.table) == ("f184", STOCK.name)
    assert "'f184'" in str(info.value) and STOCK.name in str(info.value)
    with pytest.raises(SchemaDriftError, match="f184"):
        parsing.typed_rows(STOCK, snapshot(STOCK, [row]))


# --- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("-", None), (None, None), ("", None), (0, 0.0), (0.0, 0.0), ("-1.5", -1.5),
    (2672467968.0, 2672467968.0), (3, 3.0)])
def test_number(value, expected):
    result = parsing.number(value, "t", "000001", "f62")
    assert result == expected and (result is None) == (expected is None)


@pytest.mark.parametrize("value", ["abc", "1,5", True, [1], float("nan"), "inf"])
def test_non_numeric_value_names_table_code_and_field(value):
    with pytest.raises(ValueParseError) as info:
        parsing.number(value, "stock_flow_all_1d", "600000", "f66")
    message = str(info.value)
    assert "stock_flow_all_1d" in message and "'600000'" in message and "'f66'" in message


def test_typed_rows_keys_units_and_dash_is_none_never_zero():
    rows = [raw_row(STOCK, "000001", 1.5e8, f3=-1.25, f184="-", f66="-", f2="-"),
            raw_row(STOCK, "000002", "-")]
    out = {r["code"]: r for r in parsing.typed_rows(STOCK, snapshot(STOCK, rows))}
    assert all(tuple(r) == catalog.COLUMN_NAMES for r in out.values())
    a, b = out["000001"], out["000002"]
    assert a["main_net"] == 1.5e8 and a["change_pct"] == -1.25  # yuan and percent as sent
    assert a["main_pct"] is None and a["super_large_net"] is None and a["price"] is None
    assert b["main_net"] is None
    assert a["large_net"] == rows[0]["f72"] and a["small_pct"] == rows[0]["f87"]
    assert a["top_stock_code"] is None and a["top_stock_name"] is None  # stocks: no top stock
    assert a["name"] == "name000001" and a["trade_date"] == date(2025, 10, 27)


def test_typed_rows_sector_top_stock_and_times_in_shanghai():
    fetched = datetime(2025, 10, 27, 7, 30, tzinfo=timezone.utc)  # 15:30 in Shanghai
    row = raw_row(SECTOR, "BK0459", 2.67e9, f124=_ts(2025, 10, 27, 14, 59, 58),
                  f257="胜宏科技", f258="300476")
    [out] = parsing.typed_rows(SECTOR, snapshot(SECTOR, [row], fetched_at=fetched))
    assert out["top_stock_name"] == "胜宏科技" and out["top_stock_code"] == "300476"
    assert out["updated_at"] == datetime(2025, 10, 27, 14, 59, 58)
    assert out["fetched_at"] == datetime(2025, 10, 27, 15, 30)
    assert out["updated_at"].tzinfo is None and out["fetched_at"].tzinfo is None
    assert out["main_net"] == 2.67e9 and out["rank"] == 1


def test_typed_rows_updated_at_missing_is_none():
    rows = [raw_row(STOCK, "000001", 1.0, f124="-"), raw_row(STOCK, "000002", 2.0)]
    rows[1]["f124"] = 0
    assert [r["updated_at"] for r in parsing.typed_rows(STOCK, snapshot(STOCK, rows))] == [
        None, None]


def test_rank_by_main_net_desc_nulls_last_ties_by_code():
    values = {"600001": 5.0, "000009": "-", "000003": 7.5, "300001": 5.0, "000002": -1.0,
              "000001": 5.0, "200001": None}
    rows = [raw_row(STOCK, code, v) for code, v in values.items()]
    ranked = parsing.typed_rows(STOCK, snapshot(STOCK, rows))
    assert [(r["rank"], r["code"]) for r in ranked] == [
        (1, "000003"), (2, "000001"), (3, "300001"), (4, "600001"), (5, "000002"),
        (6, "000009"), (7, "200001")]


def test_rank_uses_the_tables_own_period():
    spec_5d = catalog.table("stock", "all", "5d")
    rows = [raw_row(spec_5d, "000001", 1.0, f62=9e9), raw_row(spec_5d, "000002", 2.0, f62=-9e9)]
    assert [r["code"] for r in parsing.typed_rows(spec_5d, snapshot(spec_5d, rows))] == [
        "000002", "000001"]


def test_garbage_value_in_typed_rows_names_table_code_and_field():
    rows = [raw_row(STOCK, "000001", 1.0), raw_row(STOCK, "600519", 2.0, f75="abc")]
    with pytest.raises(ValueParseError, match=r"stock_flow_all_1d.*'f75'.*'600519'"):
        parsing.typed_rows(STOCK, snapshot(STOCK, rows))


def test_duplicate_code_in_snapshot_is_an_error():
    rows = [raw_row(STOCK, "000001", 1.0), raw_row(STOCK, "000001", 2.0)]
    with pytest.raises(EastmoneyError, match="000001"):
        parsing.typed_rows(STOCK, snapshot(STOCK, rows))


# --- trade dates ---------------------------------------------------------------------------

def test_latest_update_is_max_f124_in_shanghai():
    # 00:30 in Shanghai is still the previous day in UTC: the date must come from Shanghai time
    rows = [{"f12": "a", "f124": _ts(2025, 10, 27, 0, 30)}, {"f12": "b", "f124": "-"},
            {"f12": "c", "f124": _ts(2025, 10, 26, 15, 0)}, {"f12": "d"}]
    latest = parsing.latest_update(rows, "t")
    assert latest == datetime(2025, 10, 27, 0, 30, tzinfo=SH)
    assert latest.utcoffset() == timedelta(hours=8)
    assert parsing.trade_date_for(latest, datetime(2025, 10, 27, 1, tzinfo=SH)) == (
        date(2025, 10, 27), False)


def test_before_the_open_today_still_holds_the_previous_session():
    fetched = datetime(2025, 10, 28, 8, 0, tzinfo=SH)  # Tuesday 08:00, market not yet open
    rows = [raw_row(STOCK, "000001", 1.0, f124=_ts(2025, 10, 27, 15, 0, 3))]
    latest = parsing.latest_update(rows, STOCK.name)
    assert parsing.trade_date_for(latest, fetched) == (date(2025, 10, 27), False)


def test_no_timestamps_fall_back_to_fetch_date_in_shanghai_and_say_so():
    fetched = datetime(2025, 10, 27, 20, 0, tzinfo=timezone.utc)  # 04:00 on the 28th in Shanghai
    rows = [{"f12": "a", "f124": "-"}, {"f12": "b"}]
    assert parsing.latest_update(rows, "t") is None
    assert parsing.trade_date_for(None, fetched) == (date(2025, 10, 28), True)


def test_garbage_f124_is_a_parse_error():
    with pytest.raises(ValueParseError, match="f124"):
        parsing.latest_update([{"f12": "000001", "f124": "yesterday"}], "stock_flow_all_1d")


# --- Snapshot JSON -----------------------------------------------------------------------------

def test_snapshot_json_round_trip_through_text():
    rows = [raw_row(SECTOR, "BK0001", "-"), raw_row(SECTOR, "BK0002", 3.0)]
    snap = snapshot(SECTOR, rows)
    snap.updated_at = datetime(2025, 10, 27, 15, 0, 2, tzinfo=SH)
    snap.shared_with = ["sector_flow_industry_1d"]
    snap.trade_date_fallback = True
    back = Snapshot.from_json(json.loads(json.dumps(snap.to_json(), ensure_ascii=False)))
    assert back == snap
    assert back.fetched_at.utcoffset() == timedelta(hours=8)
    assert parsing.typed_rows(SECTOR, back) == parsing.typed_rows(SECTOR, snap)
