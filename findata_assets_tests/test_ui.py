"""The Dagster UI as an operator sees it, in a real headless browser (Debian chromium through
chromium-driver and Selenium), after one full refresh of the README's demo.

One module-scoped webserver over a fresh instance: `python -m findata_assets.run full --offline`
fills it, `dagster-webserver -m findata_assets.definitions` serves it. Each page must load
without an error page and show what it is for; an empty view fails. Screenshots go to
FINDATA_TEST_SCREENSHOTS when set (the closing note's figures), else to the test's temp folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney import catalog
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.ui_support import (LOAD_S, dagster_webserver, headless_chromium,
                                             require_browser, screenshot_folder, show)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(base URL, environment, home) of a webserver over an instance after one full refresh."""
    require_browser()
    home = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINDATA_", "AWS_"))}
    env.update(FINDATA_HOME=str(home / ".findata"), DAGSTER_HOME=str(home / "dagster"))
    (home / "dagster").mkdir()
    shutil.copy(Path(__file__).parent.parent / "dagster.yaml", home / "dagster" / "dagster.yaml")
    full = subprocess.run([sys.executable, "-m", "findata_assets.run", "full", "--offline"],
                          env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stdout + full.stderr
    with dagster_webserver(env, home) as base:
        yield base, env, home


@pytest.fixture(scope="module")
def browser(ui):
    with headless_chromium(ui[2] / "chromium") as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return screenshot_folder(tmp_path_factory.mktemp("screenshots"))


def visit(driver, ui, shots: Path, name: str, path: str, *expected: str) -> str:
    """Open `path` of the UI, as ui_support.show."""
    return show(driver, ui[0] + path, shots, name, *expected)


def _warehouse(ui) -> Warehouse:
    """The demo's embedded warehouse (FINDATA_HOME/findata.db)."""
    return Warehouse(f"sqlite:///{ui[2] / '.findata' / 'findata.db'}")


def test_asset_graph_shows_both_groups(browser, ui, shots):
    text = visit(browser, ui, shots, "1-asset-graph", "/asset-groups", "eastmoney", "analysis")
    assert re.search(r"eastmoney\n4\b", text) and re.search(r"analysis\n2\b", text), text[:1500]


def test_stock_flow_partitions_are_all_materialized(browser, ui, shots):
    text = visit(browser, ui, shots, "2-stock-flow-partitions", "/assets/stock_flow?view=partitions",
                 "Materialized (32)", "Missing (0)", "Failed (0)")
    for label in [*catalog.groups("stock"), *catalog.STOCK_PERIODS]:
        assert f"\n{label}\n" in text, label


def test_a_partition_shows_its_own_numbers_only(browser, ui, shots):
    warehouse = _warehouse(ui)
    spec = catalog.table("stock", "sh_b", "3d")
    rows = warehouse.count(spec)
    warehouse.dispose()
    text = visit(browser, ui, shots, "3-partition-metadata",
                 "/assets/stock_flow?view=partitions&partition=sh_b%7C3d",
                 "sh_b|3d", spec.name, "store_seconds")
    assert f"dagster/row_count\n{rows}\n" in text and f"\nrows\n{rows}\n" in text
    assert "store_seconds_by_table" not in text and "rows_stored" not in text


def test_checks_list_every_check_with_the_calendar_warning(browser, ui, shots):
    text = visit(browser, ui, shots, "4-checks", "/assets/stock_flow?view=checks", "Checks (6)",
                 "codes_unique", "complete", "main_is_super_plus_large", "shares_within_bounds",
                 "values_parse", "trading_calendar_ahead")
    assert "Succeeded" in text


def test_report_preview_shows_its_charts(browser, ui, shots):
    from selenium.webdriver.common.by import By

    visit(browser, ui, shots, "5-report-event", "/assets/fund_flow_report?view=events",
          "report_url", "[Show Markdown]")
    [link] = browser.find_elements(By.XPATH, "//a[normalize-space()='[Show Markdown]']")
    browser.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", link)
    deadline, images = time.monotonic() + LOAD_S, []
    while time.monotonic() < deadline:
        images = browser.execute_script(
            "return Array.from(document.querySelectorAll('[role=dialog] img')).map("
            "i => [i.src.slice(0, 22), i.complete, i.naturalWidth, i.naturalHeight])")
        if len(images) == 3 and all(done and w for _, done, w, _h in images):
            break
        time.sleep(0.5)
    browser.save_screenshot(str(shots / "5-report-preview.png"))
    assert len(images) == 3, images
    assert all(src.startswith("data:image/png") and w > 100 and h > 100
               for src, _done, w, h in images), images


def test_the_analysis_group_has_no_missing_partition_after_one_full_refresh(browser, ui, shots):
    """The partitions start at the day collected; only today's may be missing (it exists from
    midnight so the analysis can run after the close) when the data is from an earlier day."""
    warehouse = _warehouse(ui)
    [collected] = warehouse.trade_dates(catalog.table("stock", "all", "1d"))
    warehouse.dispose()
    today = tc.today()
    expected_missing = 1 if today != collected and tc.is_trading_day(today) else 0
    for asset in ("fund_flow_analysis", "fund_flow_report"):
        text = visit(browser, ui, shots, f"6-{asset}-partitions", f"/assets/{asset}?view=partitions",
                     "Materialized (", "Missing (")
        materialized = int(re.search(r"Materialized \((\d+)\)", text).group(1))
        missing = int(re.search(r"Missing \((\d+)\)", text).group(1))
        print(f"{asset}: {materialized} materialized, {missing} missing")
        assert (materialized, missing) == (1, expected_missing), text[:2000]


def test_automation_lists_the_schedules_and_sensors(browser, ui, shots):
    from findata_assets.defs.refresh.schedules import SCHEDULES

    names = [s.name for s in SCHEDULES] + ["analysis_after_full_refresh", "findata_run_failure_alert",
                                          "trading_calendar_horizon"]
    visit(browser, ui, shots, "7-automation", "/automation", *names)


def test_runs_list_carries_few_tags_per_run(browser, ui, shots):
    visit(browser, ui, shots, "8-runs", "/runs", "stock_flow_job", "sector_flow_job",
          "analysis_report_job")
    # one tag wrapper per run row; each chip is a BaseTag ("key: value")
    chips = browser.execute_script(
        "return Array.from(document.querySelectorAll('[class*=runTagsWrapper]')).map(row =>"
        "  Array.from(row.querySelectorAll('.BaseTag')).map(t => t.textContent.trim()))")
    chips = [c for c in chips if c]
    print("chips per run:", [len(c) for c in chips], chips)
    assert len(chips) == 3, chips  # the crawl runs (with their intraday minute), the analysis
    for run in chips:
        run = [c for c in run if c.startswith("findata/")]
        keys = {c.split(":")[0] for c in run}
        assert {"findata/policy", "findata/cycle", "findata/trade_date"} <= keys, run
        assert len(run) <= 6 and not any("k8s" in c for c in run), run


def test_the_stock_flow_page_lists_its_columns_with_units_and_descriptions(browser, ui, shots):
    text = visit(browser, ui, shots, "8-stock-flow-columns", "/assets/stock_flow",
                 "Columns", "super_large_pct", "unit: percent", "超大单净流入-净占比")
    for column in catalog.COLUMNS:  # all 20, each with its description
        assert f"\n{column.name}\n" in text or f"\n{column.name} " in text, column.name
        assert column.description.split(" (")[0][:40] in text, column.name
    assert "API field f62 (1d)" in text  # where main_net comes from
    assert text.count("unit: yuan") >= 6 and text.count("unit: percent") >= 6
