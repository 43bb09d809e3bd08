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
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from findata_assets import reader
from findata_assets import trading_calendar as tc
from findata_assets.defs.location import build_definitions
from findata_assets.defs.metadata_keys import POLICY_TAG
from findata_assets.housekeeping.plan import carry_out, make_plan
from findata_assets.settings import Settings
from findata_assets.settings.retention import RetentionSettings
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.object_store import object_store_from_settings
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests import services
from findata_assets_tests.intraday_rows import store_day
from findata_assets_tests.test_ui import (CHROMEDRIVER, CHROMIUM, ERROR_TEXTS, LOAD_S,
                                          _require_browser)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAY = dt.date(2026, 11, 20)  # a Friday, closed
CODES = [f"{600000 + i}" for i in range(300)]
MINUTES = 4
HISTORY = dg.AssetKey("stock_flow_intraday_history")
RETENTION = RetentionSettings(run_days=14, snapshot_days=30, warehouse_days=2)


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    """Skips (as test_ui.py) before MariaDB, S3 and the runs are set up, not after."""
    _require_browser()


@pytest.fixture
def platform(monkeypatch, mysql_url, s3_env, dagster_home, tmp_path):
    """(environment for the webserver, intraday store, archive), with DAY's minutes stored."""
    env = {"FINDATA_HOME": str(tmp_path / "home"), "FINDATA_DATABASE_URL": mysql_url,
           "FINDATA_PARTITIONS_START": "2026-11-02", **s3_env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reader.reset()
    settings = Settings.from_env(os.environ)
    warehouse = Warehouse(settings.database_url)
    intraday, archive = IntradayStore(warehouse), object_store_from_settings(settings)
    store_day(intraday, DAY, CODES, MINUTES)
    yield dict(os.environ), intraday, archive
    reader.reset()
    warehouse.dispose()


def _history_run(instance, day: dt.date) -> dg.ExecuteInProcessResult:
    job = build_definitions().resolve_job_def("intraday_history_job")
    return job.execute_in_process(partition_key=day.isoformat(), instance=instance,
                                  asset_selection=[HISTORY], raise_on_error=False,
                                  tags={POLICY_TAG: "quick"})


@pytest.fixture
def webserver(platform, dagster_home, tmp_path):
    """Starts `dagster-webserver -m findata_assets.definitions` over DAGSTER_HOME (as test_ui.py's
    `ui`) when called; its base URL. Stopped after the test."""
    started = []

    def start() -> str:
        env = platform[0]
        [port] = services.pick_ports(1)
        log_path = tmp_path / "webserver.log"
        log = open(log_path, "w")
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-m",
             "findata_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.5)  # not up yet: poll again
        pytest.fail("dagster-webserver did not answer in 120 s")

    yield start
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    """Headless chromium with test_ui.py's flags."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = os.environ.get("FINDATA_TEST_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _show(driver, url: str, shots: Path, name: str, *expected: str) -> str:
    """Open `url` and wait (WebDriverWait) until every `expected` text shows; the page's text.
    Fails at once on an error page; screenshots the page either way."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = {"text": ""}

    def shown(d):
        for button in d.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            button.click()  # Dagster's first-visit newsletter dialog
        text = seen["text"] = d.find_element(By.TAG_NAME, "body").text
        errors = [e for e in ERROR_TEXTS if e in text]
        assert not errors, f"{url}: error page ({errors}):\n{text[:2000]}"
        return text if all(e in text for e in expected) else False

    driver.get(url)
    try:
        text = WebDriverWait(driver, LOAD_S, poll_frequency=0.5,
                             ignored_exceptions=(StaleElementReferenceException,)).until(shown)
    except TimeoutException:
        text = seen["text"]
    finally:
        driver.save_screenshot(str(shots / f"{name}.png"))
    missing = [e for e in expected if e not in text]
    assert not missing, f"{url}: never showed {missing} in {LOAD_S} s:\n{text[:3000]}"
    return text


def test_the_ui_shows_a_partitions_latest_metadata_after_housekeeping(platform, webserver,
                                                                      browser, shots):
    _env, intraday, archive = platform
    with dg.DagsterInstance.get() as instance:
        first, second, latest = (_history_run(instance, DAY) for _ in range(3))
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
    kept, gone = latest.run_id[:8], [first.run_id[:8], second.run_id[:8]]
    base = webserver()

    text = _show(browser, f"{base}/assets/{HISTORY.to_user_string()}?view=partitions"
                          f"&partition={DAY.isoformat()}", shots, "partition-after-housekeeping",
                 "Materialized (1)", "parquet_key", key, kept,
                 # the superseded runs' materializations went with them: the kept run's is left
                 "View all historical events (1)")
    assert f"\nparquet_key\n{key}\n" in text and f"\nrows\n{rows}\n" in text, text[:3000]
    assert not [g for g in gone if g in text], text[:3000]

    text = _show(browser, f"{base}/runs", shots, "runs-after-housekeeping",
                 "intraday_history_job", kept)
    source = browser.page_source
    assert not [g for g in gone if g in text], text[:3000]
    assert first.run_id not in source and second.run_id not in source
