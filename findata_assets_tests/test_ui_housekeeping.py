"""After housekeeping deletes old runs, the Dagster UI still shows an asset partition's latest
metadata, in a real headless browser (as test_ui.py, whose browser helpers this reuses).

Over MariaDB, SeaweedFS and a fresh DAGSTER_HOME (as test_housekeeping.py): a closed day's
stock intraday minutes, its `stock_flow_intraday_history` partition materialized three times in
the quick lane, housekeeping seen from three weeks on (the two superseded runs go, the run of
the latest materialization stays); then a `dagster-webserver` over the same instance shows the
partition's metadata from the kept run, and its Runs page lists only that run.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.housekeeping.plan import carry_out, make_plan
from findata_assets.settings.retention import RetentionSettings
from findata_assets.storage import intraday_history as history
from findata_assets_tests.intraday_rows import store_day
from findata_assets_tests.test_housekeeping import history_run
from findata_assets_tests.ui_support import (dagster_webserver, headless_chromium, require_browser,
                                             screenshot_folder, show)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAY = dt.date(2026, 11, 20)  # a Friday, closed
CODES = [f"{600000 + i}" for i in range(300)]
MINUTES = 4
RETENTION = RetentionSettings(run_days=14, snapshot_days=30, warehouse_days=2)


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    """Skips (as test_ui.py) before MariaDB, S3 and the runs are set up, not after."""
    require_browser()


def test_the_ui_shows_a_partitions_latest_metadata_after_housekeeping(platform_stores,
                                                                      tmp_path):
    intraday, archive = platform_stores
    store_day(intraday, DAY, CODES, MINUTES)
    with dg.DagsterInstance.get() as instance:
        first, second, latest = (history_run(instance, DAY, "quick") for _ in range(3))
        assert first.success and second.success and latest.success
        # runs ended just now: seen from three weeks on, they are past the 14-day window
        now = dt.datetime.now(tc.TZ) + dt.timedelta(days=21)
        plan = make_plan(instance, intraday, archive, RETENTION, now)
        assert set(plan.runs.run_ids) == {first.run_id, second.run_id}
        result = carry_out(plan, instance, intraday, archive, lambda _message: None)
        assert set(result.runs.deleted) == {first.run_id, second.run_id}
        assert instance.get_run_by_id(first.run_id) is None
        assert instance.get_run_by_id(second.run_id) is None
        assert instance.get_run_by_id(latest.run_id) is not None

    key, rows = history.history_key("stock", DAY), len(CODES) * MINUTES
    assert key == "history/stock_flow_intraday/trade_date=2026-11-20/part-0.parquet"
    shots = screenshot_folder(tmp_path / "screenshots")
    with dagster_webserver(dict(os.environ), tmp_path) as base, \
            headless_chromium(tmp_path / "chromium") as browser:
        _check_pages(browser, base, shots, key, rows, latest, [first, second])


def _check_pages(browser, base: str, shots, key: str, rows: int, latest, deleted) -> None:
    kept, gone = latest.run_id[:8], [run.run_id[:8] for run in deleted]
    text = show(browser, f"{base}/assets/stock_flow_intraday_history?view=partitions"
                         f"&partition={DAY.isoformat()}", shots, "partition-after-housekeeping",
                "Materialized (1)", "parquet_key", key, kept,
                # the superseded runs' materializations went with them: the kept run's is left
                "View all historical events (1)")
    assert f"\nparquet_key\n{key}\n" in text and f"\nrows\n{rows}\n" in text, text[:3000]
    assert not [g for g in gone if g in text], text[:3000]

    text = show(browser, f"{base}/runs", shots, "runs-after-housekeeping",
                "intraday_history_job", kept)
    source = browser.page_source
    assert not [g for g in gone if g in text], text[:3000]
    assert not [run.run_id for run in deleted if run.run_id in source]
