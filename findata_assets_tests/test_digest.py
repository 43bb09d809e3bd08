"""The numeric digest, checked against SQL over the same warehouse tables (SQLite and MariaDB).

Expected values come from SQL queries written here (ORDER BY / SUM / CASE), not from the digest
code, so a wrong sort key, a NULL counted as zero, a leaked other day or a wrong order class makes
a test fail.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
import sqlalchemy as sa

from findata_assets.analysis import digest as digests
from findata_assets.eastmoney import catalog
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.flow_rows import make_day, store_day

DAY = dt.date(2026, 3, 10)
OTHER_DAY = dt.date(2026, 3, 11)


@pytest.fixture(params=["sqlite", "mariadb"])
def warehouse(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'wh.db'}" if request.param == "sqlite"
           else request.getfixturevalue("mysql_url"))
    wh = Warehouse(url)
    yield wh
    wh.dispose()


@pytest.fixture
def stored(warehouse):
    """Two days stored; the digest of DAY must only see DAY."""
    store_day(warehouse, make_day(DAY, seed=0))
    store_day(warehouse, make_day(OTHER_DAY, seed=1))
    return warehouse


def _plain(value):
    # MariaDB returns DECIMAL for SUM(...) of integers: compare as plain numbers
    return float(value) if isinstance(value, Decimal) else value


def q(wh: Warehouse, sql: str, **params):
    with wh.engine.connect() as conn:
        return [tuple(map(_plain, row)) for row in conn.execute(sa.text(sql), {"d": DAY, **params})]


def codes(wh, table: str, direction: str, limit: int) -> list[str]:
    return [r[0] for r in q(wh, f"SELECT code FROM {table} WHERE trade_date = :d AND main_net IS "
                                f"NOT NULL ORDER BY main_net {direction}, code LIMIT {limit}")]


def test_rankings_breadth_and_flows_match_sql_for_every_market(stored):
    d = digests.compute(digests.load_inputs(stored, DAY))
    assert set(d["markets"]) == set(catalog.MARKETS)
    for key, market in d["markets"].items():
        table = catalog.table("stock", key, "1d").name
        assert [e["code"] for e in market["top"]] == codes(stored, table, "DESC", 10)
        assert [e["code"] for e in market["bottom"]] == codes(stored, table, "ASC", 10)
        top_value = q(stored, f"SELECT MAX(main_net) FROM {table} WHERE trade_date = :d")[0][0]
        assert market["top"][0]["main_net"] == pytest.approx(top_value)
        inflow, outflow, flat, counted, total = q(stored, f"""
            SELECT SUM(CASE WHEN main_net > 0 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN main_net < 0 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN main_net = 0 THEN 1 ELSE 0 END), COUNT(main_net), COUNT(*)
            FROM {table} WHERE trade_date = :d""")[0]
        b = market["breadth"]
        assert (b["inflow"], b["outflow"], b["flat"], b["no_data"]) == (
            inflow, outflow, flat, total - counted)
        assert b["share_inflow"] == pytest.approx(inflow / counted)
        assert market["rows"] == total
        sums = q(stored, f"""SELECT SUM(main_net), SUM(super_large_net), SUM(large_net),
                             SUM(medium_net), SUM(small_net) FROM {table} WHERE trade_date = :d""")[0]
        for name, value in zip(("main_net", *digests.FLOW_FIELDS), sums):
            assert market["flows"][name] == pytest.approx(float(value), rel=1e-9)


def test_main_versus_retail_divergence_matches_sql(stored):
    d = digests.compute(digests.load_inputs(stored, DAY))
    for key in ("all", "chinext", "sh_a"):
        table = catalog.table("stock", key, "1d").name
        both = ("super_large_net IS NOT NULL AND large_net IS NOT NULL "
                "AND small_net IS NOT NULL")
        main_sum, retail_sum, compared, in_out, out_in = q(stored, f"""
            SELECT SUM(super_large_net + large_net), SUM(small_net), COUNT(*),
                   SUM(CASE WHEN super_large_net + large_net > 0 AND small_net < 0 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN super_large_net + large_net < 0 AND small_net > 0 THEN 1 ELSE 0 END)
            FROM {table} WHERE trade_date = :d AND {both}""")[0]
        div = d["markets"][key]["divergence"]
        assert div["main_net"] == pytest.approx(float(main_sum), rel=1e-9)
        assert div["retail_net"] == pytest.approx(float(retail_sum), rel=1e-9)
        assert (div["stocks_compared"], div["main_in_retail_out"], div["main_out_retail_in"]) == (
            compared, in_out, out_in)
        assert 0 < in_out and 0 < out_in  # the data exercises both directions
        assert div["opposite_share"] == pytest.approx((in_out + out_in) / compared)
        top = [r[0] for r in q(stored, f"""SELECT code FROM {table} WHERE trade_date = :d AND {both}
               AND super_large_net + large_net > 0 AND small_net < 0
               ORDER BY super_large_net + large_net DESC, code LIMIT 5""")]
        assert [e["code"] for e in div["top_main_in_retail_out"]] == top


def test_sector_leaders_laggards_and_heatmap_match_sql(stored):
    d = digests.compute(digests.load_inputs(stored, DAY))
    assert set(d["boards"]) == set(catalog.BOARDS)
    for key, board in d["boards"].items():
        t1 = catalog.table("sector", key, "1d").name
        assert [e["code"] for e in board["leaders"]] == codes(stored, t1, "DESC", 10)
        assert [e["code"] for e in board["laggards"]] == codes(stored, t1, "ASC", 10)
        assert board["leaders"][0]["top_stock_name"]  # the board's top stock travels along
        heat_codes = [r["code"] for r in board["heatmap"]]
        assert heat_codes == codes(stored, t1, "DESC", 6) + codes(stored, t1, "ASC", 6)[::-1]
        for row in board["heatmap"]:
            for period in ("1d", "5d", "10d"):
                table = catalog.table("sector", key, period).name
                found = q(stored, f"SELECT main_net FROM {table} WHERE trade_date = :d AND code = :c",
                          c=row["code"])
                assert row[period] == (found[0][0] if found else None)


def _persistent(wh, tables: list[str], cap: int, share: float) -> tuple[list[str], list[str]]:
    counted = q(wh, f"SELECT COUNT(main_net) FROM {tables[0]} WHERE trade_date = :d")[0][0]
    n = max(1, min(cap, int(counted * share)))
    leaders = [codes(wh, t, "DESC", n) for t in tables]
    laggards = [codes(wh, t, "ASC", n) for t in tables]
    lead = [c for c in leaders[0] if all(c in other for other in leaders[1:])]
    lag = [c for c in laggards[0] if all(c in other for other in laggards[1:])]
    return lead, lag


def test_persistence_is_the_intersection_of_the_1d_5d_10d_leaders(stored):
    d = digests.compute(digests.load_inputs(stored, DAY))
    tables = [catalog.table("stock", "all", p).name for p in ("1d", "5d", "10d")]
    lead, lag = _persistent(stored, tables, 50, 0.05)
    assert lead and lag  # the generated strengths make some names persist
    assert [p["code"] for p in d["stock_persistence"]["leaders"]] == lead
    assert [p["code"] for p in d["stock_persistence"]["laggards"]] == lag
    for key, board in d["boards"].items():
        tables = [catalog.table("sector", key, p).name for p in ("1d", "5d", "10d")]
        lead, lag = _persistent(stored, tables, 10, 0.2)
        assert [p["code"] for p in board["persistence"]["leaders"]] == lead
        assert [p["code"] for p in board["persistence"]["laggards"]] == lag


def test_snapshot_time_and_row_counts_come_from_that_day_only(stored, tmp_path):
    d = digests.compute(digests.load_inputs(stored, DAY))
    latest = max(q(stored, f"SELECT MAX(updated_at) FROM {s.name} WHERE trade_date = :d")[0][0]
                 for s in digests.input_tables())
    latest = latest if isinstance(latest, dt.datetime) else dt.datetime.fromisoformat(latest)
    assert d["snapshot"]["updated_at"] == latest.isoformat(sep=" ")
    for name, count in d["tables"].items():
        assert count == q(stored, f"SELECT COUNT(*) FROM {name} WHERE trade_date = :d")[0][0]
    # the same day alone in another warehouse gives the same digest: OTHER_DAY did not leak in
    alone = Warehouse(f"sqlite:///{tmp_path / 'alone.db'}")
    store_day(alone, make_day(DAY, seed=0))
    assert digests.compute(digests.load_inputs(alone, DAY)) == d
    alone.dispose()


def test_digest_hash_is_deterministic_and_ignores_only_fetch_time(tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path / 'h.db'}")
    specs = [catalog.table("stock", "all", p) for p in ("1d", "5d", "10d")]
    day = make_day(DAY, tables=specs)
    store_day(wh, day)
    first = digests.compute(digests.load_inputs(wh, DAY))
    # stored again in reverse order and re-fetched later: same figures, same hash
    later = make_day(DAY, tables=specs, fetched_at=dt.datetime(2026, 3, 10, 16, 0))
    store_day(wh, {name: rows[::-1] for name, rows in later.items()})
    again = digests.compute(digests.load_inputs(wh, DAY))
    assert again["snapshot"]["fetched_at"] != first["snapshot"]["fetched_at"]
    assert again["snapshot"]["source_fetched_at"] != first["snapshot"]["source_fetched_at"]
    assert digests.digest_hash(again) == digests.digest_hash(first)
    # one value moves: the hash moves
    changed = later[specs[0].name]
    changed[100]["small_net"] = (changed[100]["small_net"] or 0) + 1.0
    store_day(wh, {specs[0].name: changed})
    moved = digests.compute(digests.load_inputs(wh, DAY))
    assert digests.digest_hash(moved) != digests.digest_hash(first)
    assert digests.canonical_json(moved) == digests.canonical_json(moved)
    wh.dispose()


def test_missing_tables_are_listed_and_a_day_without_all_stocks_is_no_data(tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(digests.NoDataError, match="no rows for 2026-03-10 in stock_flow_all_1d"):
        digests.load_inputs(wh, DAY)
    store_day(wh, make_day(DAY, tables=[catalog.table("stock", "all", "1d"),
                                        catalog.table("sector", "industry", "1d")]))
    d = digests.compute(digests.load_inputs(wh, DAY))
    assert set(d["markets"]) == {"all"} and set(d["boards"]) == {"industry"}
    assert d["stock_persistence"] is None and d["boards"]["industry"]["persistence"] is None
    assert "stock_flow_all_5d" in d["missing_tables"] and "stock_flow_all_1d" not in d["missing_tables"]
    assert all(math.isfinite(v) for v in d["markets"]["all"]["flows"].values())
    wh.dispose()
