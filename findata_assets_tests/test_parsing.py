"""Unit tests of parsing.py: envelopes, JSONP, np=2, "-" -> None, ranks, trade dates."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from findata_assets.eastmoney import catalog, parsing
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, NotTheApiError, SchemaDriftError, UnparsableColumnError,
    ValueParseError)
from findata_assets.eastmoney.snapshot import Snapshot

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
    'jQuery1_2({"rc":0,"data":{"total":1,', "jQuery1_2();"])
def test_empty_truncated_or_non_json_bodies_are_retryable(body):
    with pytest.raises(BadResponseError):
        parsing.decode_body(body)


@pytest.mark.parametrize("body", ["<html>blocked</html>", "\n <!DOCTYPE html><title>Login</title>"])
def test_an_html_page_is_not_the_api(body):
    with pytest.raises(NotTheApiError, match="HTML page"):
        parsing.decode_body(body)


@pytest.mark.parametrize("payload", [[1, 2], {"error": "not found"}, {"result": {}, "ok": True}])
def test_json_without_the_envelope_is_not_the_api(payload):
    with pytest.raises(NotTheApiError, match="not the clist envelope"):
        parsing.parse_page(payload, "stock_flow_all_1d")


def test_data_null_with_rc_0_is_an_empty_selection_not_an_error():
    page = parsing.parse_page({"rc": 0, "data": None}, "stock_flow_all_1d")
    assert page.null and page.total == 0 and page.rows == []
    assert not parsing.parse_page(ENVELOPE, "t").null


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
    ({"rc": 100, "data": None}, "rc=100"),
    ({"rc": 102, "data": {"total": 1, "diff": []}}, "rc=102"),
])
def test_soft_failures_are_retryable(payload, reason):
    with pytest.raises(BadResponseError, match=reason):
        parsing.parse_page(payload, "stock_flow_all_1d")


@pytest.mark.parametrize("payload,field", [
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


def test_a_garbage_cell_is_stored_as_null_and_reported_with_table_code_and_raw_value():
    rows = [raw_row(STOCK, f"0000{i:02d}", float(i)) for i in range(150)]
    rows[7]["f75"] = "abc"
    rows[9]["f62"] = "NaN"
    parsed = parsing.parse_table(STOCK, snapshot(STOCK, rows))
    by_code = {r["code"]: r for r in parsed.rows}
    assert by_code["000007"]["large_pct"] is None and by_code["000009"]["main_net"] is None
    assert by_code["000008"]["large_pct"] == rows[8]["f75"]  # the neighbours are untouched
    assert [(c.column, c.field, c.code, c.raw) for c in parsed.bad_cells] == [
        ("large_pct", "f75", "000007", "abc"), ("main_net", "f62", "000009", "NaN")]
    assert parsed.bad_cells_by_column() == {"large_pct": 1, "main_net": 1}
    assert len(parsed.rows) == 150 and rows[9]["f62"] == "NaN"  # the raw row keeps its value


def test_a_column_mostly_unparsable_is_a_hard_error_naming_column_and_examples():
    rows = [raw_row(STOCK, f"0000{i:02d}", float(i), f66="--") for i in range(60)]
    rows[0]["f66"] = 1.0
    with pytest.raises(UnparsableColumnError) as info:
        parsing.parse_table(STOCK, snapshot(STOCK, rows))
    message = str(info.value)
    assert "stock_flow_all_1d" in message and "super_large_net (f66)" in message
    assert "59 of 60" in message and "000001='--'" in message


def test_the_bad_share_allows_one_cell_in_a_small_table_and_one_percent_in_a_large_one():
    small = [raw_row(SECTOR, f"BK{i:04d}", float(i)) for i in range(31)]
    small[3]["f164"] = "--"
    assert len(parsing.parse_table(SECTOR, snapshot(SECTOR, small)).bad_cells) == 1
    small[4]["f164"] = "--"
    with pytest.raises(UnparsableColumnError, match="2 of 31"):
        parsing.parse_table(SECTOR, snapshot(SECTOR, small))
    large = [raw_row(STOCK, f"{i:06d}", float(i)) for i in range(1000)]
    for row in large[:10]:
        row["f3"] = "NaN"
    assert len(parsing.parse_table(STOCK, snapshot(STOCK, large)).bad_cells) == 10
    large[10]["f3"] = "NaN"
    with pytest.raises(UnparsableColumnError, match="11 of 1000"):
        parsing.parse_table(STOCK, snapshot(STOCK, large))


def test_f124_in_milliseconds_is_recognised_and_garbage_f124_is_a_bad_cell():
    ms = _ts(2025, 10, 27, 14, 59, 58) * 1000
    rows = [raw_row(STOCK, "000001", 1.0, f124=ms), raw_row(STOCK, "000002", 2.0)]
    rows += [raw_row(STOCK, f"6000{i:02d}", 3.0) for i in range(200)]
    rows[1]["f124"] = "yesterday"
    parsed = parsing.parse_table(STOCK, snapshot(STOCK, rows))
    by_code = {r["code"]: r for r in parsed.rows}
    assert by_code["000001"]["updated_at"] == datetime(2025, 10, 27, 14, 59, 58)
    assert by_code["000002"]["updated_at"] is None
    assert [(c.column, c.raw) for c in parsed.bad_cells] == [("updated_at", "yesterday")]
    with pytest.raises(ValueParseError, match="f124"):  # never a bare ValueError
        parsing.updated_at({"f12": "000001", "f124": 10 ** 20}, "stock_flow_all_1d")


def test_duplicate_code_in_snapshot_is_an_error():
    rows = [raw_row(STOCK, "000001", 1.0), raw_row(STOCK, "000001", 2.0)]
    with pytest.raises(EastmoneyError, match="000001"):
        parsing.typed_rows(STOCK, snapshot(STOCK, rows))


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
