"""Issue 20: the reader over both homes of a day, on MariaDB and SeaweedFS. A closed day read
from its Parquet file gives the very DataFrame the warehouse gives for it; a range across closed
days (Parquet) and the live day (warehouse) reads as one."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from findata_assets import reader
from findata_assets import trading_calendar as tc
from findata_assets.defs.location import build_definitions
from findata_assets.storage.intraday_reads import IntradayReads
from findata_assets_tests.intraday_rows import store_day

pytestmark = pytest.mark.integration
CLOSED = [dt.date(2026, 11, 26), dt.date(2026, 11, 27)]  # a Thursday and a Friday
CODES = [f"{600000 + i}" for i in range(700)]
MINUTES = 6


def _live_day() -> dt.date:
    """Today on the exchange's calendar (the live day: no Parquet file, the warehouse)."""
    today = dt.datetime.now(tc.TZ).date()
    return today if tc.is_trading_day(today) else tc.next_trading_day(today)


@pytest.fixture
def stored(platform_stores):
    intraday, _ = platform_stores
    for day in [*CLOSED, _live_day()]:
        store_day(intraday, day, CODES, MINUTES)
    job = build_definitions().resolve_job_def("intraday_history_job")
    with dg.DagsterInstance.get() as instance:
        for day in CLOSED:
            assert job.execute_in_process(
                partition_key=day.isoformat(), instance=instance,
                asset_selection=[dg.AssetKey("stock_flow_intraday_history")]).success
    return platform_stores


def test_a_closed_day_reads_the_same_from_parquet_and_from_the_warehouse(stored):
    intraday, archive = stored
    files = IntradayReads(intraday, archive)
    for day in CLOSED:
        # the same reads, told the day is still live: they go to the warehouse
        live = IntradayReads(intraday, archive, now=dt.datetime.combine(
            day, dt.time(10, 0), tzinfo=tc.TZ))
        assert files.home_of("stock", day) == "parquet" and live.home_of("stock", day) == \
            "warehouse"
        for query, rows in (({}, 700 * MINUTES), ({"code": "600123"}, MINUTES),
                            ({"at": dt.time(9, 32)}, 700)):
            from_file = files.frame("stock", [day], **query)
            from_sql = live.frame("stock", [day], **query)
            assert len(from_file) == rows
            pd.testing.assert_frame_equal(from_file, from_sql)
        assert files.frame("stock", [day])["main_net"].isna().sum() > 0  # NULL stays NULL


def test_a_range_across_closed_days_and_the_live_day(stored):
    live_day = _live_day()
    one = reader.intraday("600123", CLOSED[0], end=live_day)
    assert sorted(set(one["trade_date"])) == [*CLOSED, live_day]
    assert len(one) == 3 * MINUTES and one["minute"].is_monotonic_increasing
    market = reader.intraday_market(CLOSED[0], minute="09:32", end=live_day)
    assert len(market) == 3 * 700 and list(market.columns)[:3] == ["trade_date", "code", "minute"]
    first = market[market["trade_date"] == CLOSED[0]]["main_net"]
    assert first.dropna().is_monotonic_decreasing  # by main net inflow within each minute
    whole = reader.intraday_market(CLOSED[1])
    assert len(whole) == 700 * MINUTES and set(whole["trade_date"]) == {CLOSED[1]}
    zh = reader.intraday("600123", CLOSED[1], lang="zh")
    assert "分钟" in zh.columns and len(zh) == MINUTES
    with pytest.raises(ValueError, match="day 2026-11-27 is after end 2026-11-26"):
        reader.intraday("600123", CLOSED[1], end=CLOSED[0])


def test_show_prints_intraday_minutes_across_days(stored, capsys):
    from findata_assets.cli.main import main as cli_main

    live_day = _live_day()
    assert cli_main(["show", "intraday", "600123", "--date", CLOSED[0].isoformat(),
                     "--end", live_day.isoformat(), "--top", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"intraday 600123 {CLOSED[0]}...{live_day} ({3 * MINUTES} rows)")
    assert all(str(day) in out for day in [*CLOSED, live_day])
    assert cli_main(["show", "intraday", "market", "--date", CLOSED[1].isoformat(),
                     "--minute", "09:31", "--top", "5", "--zh"]) == 0
    out = capsys.readouterr().out
    assert "(5 rows)" in out and "主力净流入(亿)" in out and "09:31" in out
    assert cli_main(["show", "intraday", "600123"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: show intraday needs --date YYYY-MM-DD (the first day)")


def test_the_reports_intraday_series_is_the_same_from_either_home(stored):
    intraday, archive = stored
    day = CLOSED[0]
    from_file = IntradayReads(intraday, archive).day_series(day)
    from_sql = IntradayReads(intraday, archive, now=dt.datetime.combine(
        day, dt.time(10, 0), tzinfo=tc.TZ)).day_series(day)
    assert from_file == from_sql
    assert len(from_file["minutes"]) == MINUTES and len(from_file["top"]) == 5


def test_show_prints_each_days_last_minute_by_default(stored, capsys):
    from findata_assets.cli.main import main as cli_main

    assert cli_main(["show", "intraday", "market", "--date", CLOSED[0].isoformat(),
                     "--end", CLOSED[1].isoformat(), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "(6 rows)" in out and out.count("09:35") == 6  # 3 rows of each day, its last minute
