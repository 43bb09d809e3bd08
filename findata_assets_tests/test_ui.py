"""The Dagster UI as an operator sees it, in a real headless browser (Debian chromium through
chromium-driver and Selenium), after one full refresh of the README's demo.

One module-scoped webserver over a fresh instance: `python -m findata_assets.run full --offline`
fills it (then, when the collected day is closed, its `stock_flow_intraday_history` as the
after-close schedule's run would), `dagster-webserver -m findata_assets.definitions` serves it.
Each page must load without an error page and show what it is for; an empty view fails.
Screenshots go to FINDATA_TEST_SCREENSHOTS when set (the closing note's figures), else to the
test's temp folder.
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

pytestmark = [pytest.mark.xdist_group("test_ui.py"),  # one module fixture: conftest.py
              pytest.mark.slow, pytest.mark.integration]

@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(base URL, environment, home, history day) of a webserver over an instance after one
    full refresh and, when its day is closed, that day's stock intraday history (else None)."""
    require_browser()
    home = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINDATA_", "AWS_"))}
    env.update(FINDATA_HOME=str(home / ".findata"), DAGSTER_HOME=str(home / "dagster"))
    (home / "dagster").mkdir()
    shutil.copy(Path(__file__).parent.parent / "dagster.yaml", home / "dagster" / "dagster.yaml")
    full = subprocess.run([sys.executable, "-m", "findata_assets.run", "full", "--offline"],
                          env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stdout + full.stderr
    history_day = _history_of_the_collected_day(env, home)
    with dagster_webserver(env, home) as base:
        yield base, env, home, history_day


def _history_of_the_collected_day(env: dict[str, str], home: Path):
    """The collected day's `stock_flow_intraday_history` (its coverage metadata and check), as
    the after-close schedule's run materializes it; None when the refresh ran in the session
    (the day is still open: its history is written after the close)."""
    from findata_assets.storage.intraday_reads import is_closed

    warehouse = Warehouse(f"sqlite:///{home / '.findata' / 'findata.db'}")
    [day] = warehouse.trade_dates(catalog.table("stock", "all", "1d"))
    warehouse.dispose()
    if not is_closed(day):
        return None
    script = ("import sys, dagster as dg\n"
              "from findata_assets.defs.location import location\n"
              "job = location().resolve_job_def('intraday_history_job')\n"
              "with dg.DagsterInstance.get() as instance:\n"
              "    sys.exit(0 if job.execute_in_process(partition_key=sys.argv[1], "
              "instance=instance, asset_selection=[dg.AssetKey('stock_flow_intraday_history')],"
              " raise_on_error=False).success else 1)\n")
    run = subprocess.run([sys.executable, "-c", script, day.isoformat()], env=env, cwd=home,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return day


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
    history = ["intraday_history_job"] if ui[3] else []  # the fixture's after-close run
    visit(browser, ui, shots, "8-runs", "/runs", "stock_flow_job", "sector_flow_job",
          "analysis_report_job", *history)
    # one tag wrapper per run row (the widest element holding only that one: the row, whose
    # text names the job); each chip is a BaseTag ("key: value")
    rows = browser.execute_script(
        "const wrappers = '[class*=runTagsWrapper]';"
        "return Array.from(document.querySelectorAll(wrappers)).map(tags => {"
        "  let row = tags;"
        "  while (row.parentElement && row.parentElement.querySelectorAll(wrappers).length == 1)"
        "    row = row.parentElement;"
        "  return [row.textContent.includes('intraday_history_job'),"
        "          Array.from(tags.querySelectorAll('.BaseTag')).map(t => t.textContent.trim())];"
        "})")
    assert sum(1 for is_history, c in rows if is_history and c) == len(history), rows
    chips = [c for is_history, c in rows if c and not is_history]
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


def test_the_intraday_history_shows_its_coverage_and_the_minutes_captured_check(browser, ui,
                                                                                shots):
    """The collected day's stock intraday history (materialized by the fixture, as after the
    close): the partition's metadata holds the day's coverage (coverage.metadata(): minutes
    due, captured, missing, late, the percentage, the summary, the missing ranges with their
    causes), and the Checks tab lists `minutes_captured` with its status, its description and
    the evaluation's summary. One refresh stored one minute of the session: the check fails."""
    from selenium.webdriver.common.by import By

    from findata_assets.coverage.session_minutes import CADENCE_MINUTES, session_minutes
    from findata_assets.storage.intraday import IntradayStore

    day = ui[3]
    if day is None:
        pytest.skip("the refresh ran in the session: the day's history is written after 15:00")
    warehouse = _warehouse(ui)
    captured = len(IntradayStore(warehouse).minutes("stock", day))
    warehouse.dispose()
    due = len(session_minutes(day, CADENCE_MINUTES["stock"]))
    assert 0 < captured < 0.9 * due, (captured, due)  # below the fail share: "Failed"
    path = "/assets/stock_flow_intraday_history"
    text = visit(browser, ui, shots, "9-intraday-history-coverage",
                 f"{path}?view=partitions&partition={day.isoformat()}", "Materialized (1)",
                 "minutes_due", "minutes_captured", "coverage_pct", "missing_ranges")
    [label] = browser.find_elements(By.XPATH, "//td[normalize-space()='minutes_due']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", label)
    browser.save_screenshot(str(shots / "9-intraday-history-coverage-metadata.png"))
    for key, value in (("minutes_due", due), ("minutes_captured", captured),
                       ("minutes_missing", due - captured),
                       ("coverage_pct", f"{round(100 * captured / due, 2):g}")):
        assert f"\n{key}\n{value}\n" in text, (key, value, text[-2500:])
    late = int(re.search(r"\nminutes_late\n(\d+)\n", text).group(1))
    assert 0 <= late <= captured
    summary = f"minutes captured {captured}/{due}" + (f", {late} late (> 20 s)" if late else "")
    assert f"\ncoverage\n{summary}; missing " in text, text[-2500:]
    # the missing ranges as a table: every missing minute in a range, each with its cause
    table = text.split("\nmissing_ranges\nminutes count cause detail\n")[1].split("\nTags")[0]
    ranges = [re.match(r"(\d\d:\d\d-\d\d:\d\d) (\d+) (no tick|\S.*?) ", line)
              for line in table.splitlines()]
    assert ranges and all(ranges), table
    assert sum(int(r.group(2)) for r in ranges) == due - captured, table
    shown = text.split("\ncoverage\n")[1].splitlines()[0]  # the summary names the first six
    assert all(f"{r.group(1)}: {r.group(3)}" in shown for r in ranges[:6]), (shown, table)

    text = visit(browser, ui, shots, "9-intraday-history-checks", f"{path}?view=checks",
                 "Checks (1)", "minutes_captured", "Evaluation result")
    assert "\nminutes_captured\nFailed\n" in text, text[:2500]  # the list's row and status
    assert "the day's session minutes stored: warns below 99%, fails below 90%" in text
    assert f"Latest execution\n{summary}; missing " in text, text[:2500]
    assert "\nEvaluation result\nFailed\n" in text, text[:2500]
    assert f"minutes_captured {captured}\nminutes_due {due}\n" in text, text[:2500]
