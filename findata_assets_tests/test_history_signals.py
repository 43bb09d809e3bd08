"""The daily-history signals (analysis/history_signals.py) and the digest of a day known only from
the daily history, on MariaDB: 25 real trading days of daily_flow rows with hand-shaped stocks
(steady inflow, +,+,-,+,+,+, a missing day, a NULL day, steady outflow) among seeded noise.
Expected figures come from the shapes by hand or from SQL over the same rows."""

from __future__ import annotations

import datetime as dt
import math
import json
import os
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from findata_assets import trading_calendar as tc
from findata_assets.analysis import digest as digests
from findata_assets.analysis import history_signals as hs
from findata_assets.analysis.history import AnalysisHistory
from findata_assets.defs.analysis.assets import build_analysis_asset
from findata_assets.defs.location import build_analysis_definitions
from findata_assets.defs.report.assets import build_report_asset
from findata_assets.defs.trading_days import trading_day_partitions
from findata_assets.eastmoney import catalog
from findata_assets.storage.daily_flow import DailyFlowStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.daily_history_rows import (
    DAYS, D, HOLE, NULL_DAY, PATTERN, SHAPED, STEADY_IN, STEADY_OUT, market_change, market_net,
    rows_of, snapshot_rows, store_days)
from findata_assets_tests.scratch_databases import create_test_database, drop_test_database

HINT = "run `python -m findata_assets.run history` to backfill"
ALL_1D = catalog.table("stock", "all", "1d")
V1_KEYS = ("trade_date", "snapshot", "tables", "missing_tables", "units", "markets", "boards",
           "stock_persistence")


@pytest.fixture(scope="module")
def history_wh(mariadb_url):
    """25 trading days of daily rows (stocks, boards, the market), nothing else."""
    name, url = create_test_database(mariadb_url)
    wh = Warehouse(url)
    store_days(DailyFlowStore(wh))
    yield wh
    wh.dispose()
    drop_test_database(mariadb_url, name)


def q(wh: Warehouse, sql: str, **params) -> list[tuple]:
    with wh.engine.connect() as conn:
        return [tuple(float(v) if isinstance(v, Decimal) else v for v in row)
                for row in conn.execute(sa.text(sql), params)]


def sql_window(wh, n: int, direction: str) -> list[tuple]:
    return q(wh, f"""SELECT code, SUM(main_net) FROM daily_flow WHERE kind = 'stock'
                     AND trade_date BETWEEN :s AND :e GROUP BY code HAVING COUNT(main_net) = {n}
                     ORDER BY SUM(main_net) {direction}, code LIMIT 10""", s=DAYS[-n], e=D)


def shaped_sum(code: str, n: int) -> float:
    return math.fsum(SHAPED[code][-n:])


def test_5_and_20_day_leaders_match_sql_and_the_shapes(history_wh):
    h = hs.compute(hs.load(history_wh, D))
    for n in (5, 20):
        window = h["windows"][f"{n}d"]
        assert (window["start"], window["end"], window["days"]) == (
            DAYS[-n].isoformat(), "2026-11-27", n)
        for side, direction in (("leaders", "DESC"), ("laggards", "ASC")):
            expected = sql_window(history_wh, n, direction)
            assert [e["code"] for e in window[side]] == [c for c, _ in expected]
            for entry, (_, total) in zip(window[side], expected):
                assert entry["main_net_sum"] == pytest.approx(total, rel=1e-12)
                assert entry["days"] == n
        ranked = q(history_wh, f"""SELECT COUNT(*) FROM (SELECT code FROM daily_flow WHERE
                   kind = 'stock' AND trade_date BETWEEN :s AND :e GROUP BY code
                   HAVING COUNT(main_net) = {n}) AS t""", s=DAYS[-n], e=D)[0][0]
        assert window["ranked"] == ranked
    five, twenty = h["windows"]["5d"], h["windows"]["20d"]
    by_code = {e["code"]: e for e in five["leaders"] + five["laggards"]}
    assert by_code[STEADY_IN]["main_net_sum"] == shaped_sum(STEADY_IN, 5) == 5.75e9
    assert by_code[STEADY_OUT]["main_net_sum"] == shaped_sum(STEADY_OUT, 5) == -1.15e10
    assert five["leaders"][0]["code"] == HOLE  # its gap is older than 5 days: ranked
    assert by_code[STEADY_IN]["change_pct"] == pytest.approx((1.01 ** 5 - 1) * 100)
    # 20 days: the stock missing a day is not ranked though its sum would lead (2e9 a day);
    # neither is the one with a NULL main_net, in either window
    assert twenty["leaders"][0]["code"] == STEADY_IN
    assert twenty["leaders"][0]["main_net_sum"] == shaped_sum(STEADY_IN, 20) == 1.55e10
    assert twenty["laggards"][0]["main_net_sum"] == shaped_sum(STEADY_OUT, 20) == -3.1e10
    listed = {e["code"] for w in (five, twenty) for side in ("leaders", "laggards") for e in w[side]}
    assert HOLE not in {e["code"] for e in twenty["leaders"] + twenty["laggards"]}
    assert NULL_DAY not in listed
    assert twenty["ranked"] == five["ranked"] - 1  # HOLE only


def test_streak_lengths():
    assert hs.streak([1, 1, -1, 1, 1, 1]) == (3, False)
    assert hs.streak([-1, 1, 1, 1]) == (3, False)
    assert hs.streak([1, 1, 1]) == (3, True)  # reaches the first day read: maybe longer
    assert hs.streak([-2, -1, None, -3, -4]) == (2, False)  # a missing day ends it
    assert hs.streak([1, 0, 1]) == (1, False) and hs.streak([1, 1, 0]) == (0, False)
    assert hs.streak([1, 1, 1, 1], breaks=[2]) == (2, True)  # the history lacks a day there
    assert hs.streak([]) == (0, False) and hs.streak([1, None]) == (0, False)


def test_streaks_of_the_stored_history(history_wh):
    s = hs.compute(hs.load(history_wh, D))["streaks"]
    inflow = {e["code"]: e for e in s["inflow"]}
    outflow = {e["code"]: e for e in s["outflow"]}
    assert (inflow[PATTERN]["days"], inflow[PATTERN]["at_least"]) == (3, False)  # +,+,-,+,+,+
    assert inflow[PATTERN]["main_net_sum"] == 1.8e8
    assert inflow[PATTERN]["since"] == DAYS[-3].isoformat()
    assert (inflow[STEADY_IN]["days"], inflow[STEADY_IN]["at_least"]) == (25, True)
    assert inflow[STEADY_IN]["main_net_sum"] == shaped_sum(STEADY_IN, 25)
    assert (inflow[HOLE]["days"], inflow[HOLE]["at_least"]) == (14, False)  # since its gap
    assert NULL_DAY not in inflow  # a run of one day after its NULL: not listed
    assert (outflow[STEADY_OUT]["days"], outflow[STEADY_OUT]["at_least"]) == (25, True)
    assert [e["code"] for e in s["inflow"][:2]] == [STEADY_IN, HOLE]  # longest first
    # every listed run really is one: same sign on each of its days, not on the day before
    for side, sign in (("inflow", ">"), ("outflow", "<")):
        for e in s[side]:
            stored = dict(q(history_wh, """SELECT trade_date, main_net FROM daily_flow WHERE
                            code = :c AND trade_date BETWEEN :s AND :e""",
                            c=e["code"], s=DAYS[0], e=D))
            values = [stored.get(day) for day in DAYS]  # None: no row that day
            run = values[-e["days"]:]
            assert all(v > 0 if sign == ">" else v < 0 for v in run), e
            assert math.fsum(run) == pytest.approx(e["main_net_sum"])
            if not e["at_least"]:
                before = values[-e["days"] - 1]
                assert before is None or (before <= 0 if sign == ">" else before >= 0)
    assert s["window_days"] == 25 and s["window_start"] == DAYS[0].isoformat()


def test_the_market_20_days(history_wh):
    m = hs.compute(hs.load(history_wh, D))["market"]
    assert [day for day, _ in m["series"]] == [d.isoformat() for d in DAYS[-20:]]
    assert [v for _, v in m["series"]] == [market_net(i) for i in range(5, 25)]
    assert m["main_net_sum"] == math.fsum(market_net(i) for i in range(5, 25)) == 1.5e10
    [(total,)] = q(history_wh, "SELECT SUM(main_net) FROM daily_flow WHERE code = 'MARKET' "
                               "AND trade_date BETWEEN :s AND :e", s=DAYS[-20], e=D)
    assert m["main_net_sum"] == pytest.approx(total)
    assert m["inflow_days"] == sum(1 for i in range(5, 25) if market_net(i) > 0)
    product = math.prod(1 + market_change(i) / 100 for i in range(5, 25))
    assert m["sh_change_pct"] == pytest.approx((product - 1) * 100, abs=1e-12)
    assert (m["sh_close"], m["sz_close"], m["end"]) == (3024.0, 10024.0, "2026-11-27")
    assert "note" not in m


def test_a_short_history_says_what_is_missing(mysql_url):
    wh = Warehouse(mysql_url)
    try:
        assert hs.compute(hs.load(wh, D)) == {
            "missing": f"no daily history up to 2026-11-27: daily_flow holds no day up to it — {HINT}"}
        store = DailyFlowStore(wh)
        store_days(store, DAYS[-3:])
        h = hs.compute(hs.load(wh, D))
        assert h["windows"]["20d"] == {"missing": "20-day leaders need 20 days of history up to "
                                                  f"2026-11-27; the history holds 3 — {HINT}",
                                       "need": 20, "have": 3}
        assert h["windows"]["5d"]["missing"].startswith("5-day leaders need 5 days")
        assert (h["market"]["need"], h["market"]["have"]) == (20, 3)
        assert h["coverage"] == {"first_day": DAYS[-3].isoformat(), "until": "2026-11-27",
                                 "days": 3, "read_from": DAYS[-3].isoformat(), "read_days": 3,
                                 "gaps": [], "today_from": "daily_flow"}
        steady = next(e for e in h["streaks"]["inflow"] if e["code"] == STEADY_IN)
        assert (steady["days"], steady["at_least"]) == (3, True)
        # a trading day the history lacks ends every run there, and is named
        store_days(store, DAYS[-6:-3])
        with wh.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM daily_flow WHERE trade_date = :d"), {"d": DAYS[-3]})
        h = hs.compute(hs.load(wh, D))
        assert h["coverage"]["gaps"] == [DAYS[-3].isoformat()] and h["coverage"]["days"] == 5
        steady = next(e for e in h["streaks"]["inflow"] if e["code"] == STEADY_IN)
        assert (steady["days"], steady["at_least"]) == (2, True)
        assert h["windows"]["5d"]["start"] == DAYS[-6].isoformat()  # the 5 days it holds
        # before the history's first day: nothing held up to it
        before = tc.previous_trading_day(DAYS[-6])
        assert hs.compute(hs.load(wh, before))["missing"].startswith(
            f"no daily history up to {before}")
    finally:
        wh.dispose()


def test_the_digest_of_a_day_known_only_from_the_daily_history(history_wh):
    d = digests.compute(digests.load_inputs(history_wh, D))
    assert d["version"] == digests.DIGEST_VERSION == 2
    assert set(d["markets"]) == {"all"} and set(d["boards"]) == set(catalog.BOARDS)
    market = d["markets"]["all"]
    [(count, total)] = q(history_wh, "SELECT COUNT(*), SUM(main_net) FROM daily_flow "
                                     "WHERE kind = 'stock' AND trade_date = :d", d=D)
    assert market["rows"] == count == 45
    assert market["flows"]["main_net"] == pytest.approx(total)
    top = [c for (c,) in q(history_wh, "SELECT code FROM daily_flow WHERE kind = 'stock' AND "
                                       "trade_date = :d AND main_net IS NOT NULL "
                                       "ORDER BY main_net DESC, code LIMIT 10", d=D)]
    assert [e["code"] for e in market["top"]] == top
    industry = [c for (c,) in q(history_wh, "SELECT code FROM daily_flow WHERE board = 'industry' "
                                            "AND trade_date = :d ORDER BY main_net DESC, code", d=D)]
    assert [e["code"] for e in d["boards"]["industry"]["leaders"]] == industry
    assert d["boards"]["industry"]["leaders"][0]["top_stock_code"] is None
    # where it came from, and what such a day cannot have
    assert d["snapshot"]["source_table"] == "daily_flow"
    assert d["snapshot"]["source_fetched_at"] == "2026-11-27 16:00:00"
    assert d["sources"]["markets"] == {"all": "daily_flow"}
    assert d["sources"]["from_daily_flow"]["stock_flow_all_1d"] == {"rows": 45,
                                                                    "sources": {"kline": 45}}
    assert set(d["missing"]) == {"markets", "stock_persistence", "board_periods",
                                 "board_top_stocks", "intraday"}
    assert d["missing"]["stock_persistence"]["tables"] == ["stock_flow_all_5d", "stock_flow_all_10d"]
    assert d["stock_persistence"] is None and "stock_flow_all_1d" in d["missing_tables"]
    assert "stock_flow_all_1d" not in d["tables"]
    # its history, with the stocks' names from the day's rows
    assert d["history"]["coverage"]["today_from"] == "daily_flow"
    assert d["history"]["windows"]["20d"]["leaders"][0]["name"] == f"股{STEADY_IN}"
    assert digests.canonical_json(d)  # JSON-safe: no NaN
    # a day with neither a 1d snapshot nor daily rows is still no data, as before
    with pytest.raises(digests.NoDataError, match="no rows for 2026-11-30 in stock_flow_all_1d"):
        digests.load_inputs(history_wh, dt.date(2026, 11, 30))


def test_the_day_s_snapshot_stands_in_until_the_history_files_it(mysql_url, tmp_path):
    """The analysis runs after the close, before the daily history files the day: D's stock
    rows come from its 1d snapshot, the same figures once the day is filed; the day's older
    figures are those of a digest without any history."""
    wh = Warehouse(mysql_url)
    try:
        wh.store(ALL_1D, snapshot_rows(D))
        store_days(DailyFlowStore(wh), DAYS[:-1])
        before = digests.compute(digests.load_inputs(wh, D))
        h = before["history"]
        assert h["coverage"]["today_from"] == "stock_flow_all_1d" and h["coverage"]["days"] == 25
        assert h["windows"]["20d"]["leaders"][0]["main_net_sum"] == 1.55e10
        assert h["market"]["end"] == DAYS[-2].isoformat()  # no market row for D yet
        assert h["market"]["note"].startswith("daily_flow holds no market row for 2026-11-27")
        assert before["sources"]["markets"]["all"] == "stock_flow_all_1d"
        assert before["snapshot"]["source_table"] == "stock_flow_all_1d"
        DailyFlowStore(wh).upsert(rows_of(D))
        after = digests.compute(digests.load_inputs(wh, D))["history"]
        assert after["coverage"]["today_from"] == "daily_flow"
        assert after["windows"] == h["windows"] and after["streaks"] == h["streaks"]
        assert after["market"]["end"] == "2026-11-27"

        alone = Warehouse(f"sqlite:///{tmp_path / 'alone.db'}")
        alone.store(ALL_1D, snapshot_rows(D))
        without = digests.compute(digests.load_inputs(alone, D))
        alone.dispose()
        assert without["history"]["missing"].startswith("no daily history up to 2026-11-27")
        assert {k: before[k] for k in V1_KEYS} == {k: without[k] for k in V1_KEYS}
        assert digests.digest_hash(before) != digests.digest_hash(without)
    finally:
        wh.dispose()


def test_the_job_analyses_and_reports_a_backfilled_day(mysql_url, tmp_path, monkeypatch,
                                                       dagster_home):
    """A past day with daily rows only, through the Dagster assets (no LLM key: skipped)."""
    for name in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINDATA_DATABASE_URL", mysql_url)
    wh = Warehouse(mysql_url)
    store_days(DailyFlowStore(wh))
    days = trading_day_partitions(dt.date(2026, 1, 5))
    assets = [build_analysis_asset(days), build_report_asset(days)]
    resources = dict(build_analysis_definitions(dict(os.environ)).resources)
    try:
        with dg.DagsterInstance.get() as instance:
            result = dg.materialize(assets, partition_key=D.isoformat(), resources=resources,
                                    instance=instance)
            assert result.success
            meta = {}
            for key in ("fund_flow_analysis", "fund_flow_report"):
                [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(key), asset_partitions=[D.isoformat()]), limit=1).records
                meta[key] = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        row = AnalysisHistory(wh).get(D)
        stored = json.loads(row["digest_json"])
        assert stored["snapshot"]["source_table"] == "daily_flow" and row["narrative"] is None
        assert stored["history"]["windows"]["20d"]["leaders"][0]["code"] == STEADY_IN
        analysis = meta["fund_flow_analysis"]
        assert (analysis["day_source"], analysis["history_days"]) == ("daily_flow", 25)
        assert "intraday" in analysis["missing_sections"]
        report = meta["fund_flow_report"]["report"]
        assert "## 日线历史：多日资金流" in report and "平台当天没有盯盘" in report
        assert "charts/market_flow.png" in " ".join(meta["fund_flow_report"]["chart_keys"])
    finally:
        wh.dispose()
