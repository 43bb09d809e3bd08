"""A backfill of the daily history launched from the Dagster UI, in a real headless browser (as
test_ui.py, whose browser helpers this reuses), against the real webserver and daemon.

Over MariaDB, SeaweedFS, a fresh DAGSTER_HOME with the project's dagster.yaml, and the fake
Eastmoney API (scale 0.05) pinned to the last closed session: on `daily_stock_flow`'s page,
Materialize... takes the range of the 20 trading days ending at that session, typed into the
partition selection, and launches a backfill. The daemon turns it into ONE run (the lane's
BackfillPolicy.single_run), which succeeds; the run's log shows its "history: N/M securities"
progress lines; the partitions view shows the 20 days materialized; one day's materialization
shows its expected / stored / without_line / failed. Every step is checked in the page and
through the instance (DagsterInstance.get() over the same DAGSTER_HOME), and screenshotted to
FINDATA_TEST_SCREENSHOTS or the test's temp folder, and copied to /tmp/ui_daily_history/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.defs.history.assets import ASSETS
from findata_assets.history.sessions import last_closed_session
from findata_assets_tests.ui_support import (CHROMEDRIVER, CHROMIUM, LOAD_S, dagster_webserver,
                                             headless_chromium, screenshot_folder, show)

_MISSING = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900),
              # as ui_support.require_browser, but before MariaDB and S3 (session fixtures)
              pytest.mark.skipif(bool(_MISSING), reason=f"no {', '.join(_MISSING)}: apt-get "
                                                        "install chromium chromium-driver")]

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.05  # ~300 securities: every kind of profile, a run of seconds
DAYS = 20
ASSET = ASSETS["stock"]  # daily_stock_flow: the page the backfill is launched from
COPY_TO = Path("/tmp/ui_daily_history")
RUN_S = 300  # from the launch to the run's success (the daemon's first run loads its worker)
PROGRESS = re.compile(r"history: ([\d,]+)/([\d,]+) securities \(")


def _trading_days() -> list[str]:
    """The DAYS trading days ending at the last closed session, oldest first."""
    days = [last_closed_session()]
    while len(days) < DAYS:
        days.insert(0, tc.previous_trading_day(days[0]))
    return [d.isoformat() for d in days]


@contextlib.contextmanager
def dagster_daemon(env: dict[str, str], workdir: Path):
    """`dagster-daemon run -m findata_assets.definitions` (the backfill daemon, the run queue)
    in a process group of its own: stopped with its code server and run workers. Yields its
    log's path."""
    log_path = workdir / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run",
                                 "-m", "findata_assets.definitions"], env=env, cwd=workdir,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield log_path
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _tail(log_path: Path, lines: int = 40) -> str:
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- {log_path.name} (tail) ---\n" + "\n".join(text)


def _wait(predicate, timeout_s: float, what: str, log_path: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} in {timeout_s:.0f} s" + (_tail(log_path) if log_path else ""))


def _until(driver, shots: Path, name: str, condition, what: str, timeout_s: float = LOAD_S):
    """Wait in the browser until `condition(driver)` is truthy; screenshots a timeout."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        driver.save_screenshot(str(shots / f"{name}-timeout.png"))
        body = driver.execute_script("return document.body.innerText")
        raise AssertionError(f"the page never showed {what} in {timeout_s:.0f} s:\n"
                             f"{body[:3000]}") from None


def _click(driver, shots: Path, name: str, element) -> None:
    """A user's click; while something covers the element (Dagster's first-visit newsletter
    dialog, a toast sliding in), that is dismissed or waited out, for LOAD_S at most."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + LOAD_S
    while True:
        for skip in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            skip.click()
        try:
            element.click()
            return
        except ElementClickInterceptedException:
            if time.monotonic() > deadline:
                driver.save_screenshot(str(shots / f"{name}-covered.png"))
                raise
            time.sleep(0.3)


def _dialog_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(d.text for d in driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"))


def test_a_backfill_of_20_days_from_the_ui_is_one_run_that_fills_every_day(
        start_fake_eastmoney, mysql_url, s3_env, tmp_path, monkeypatch):
    days = _trading_days()
    fake = start_fake_eastmoney(scale=SCALE, frozen=True,
                                trade_date=dt.date.fromisoformat(days[-1]))
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # queue, forking launcher, pools
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FINDATA_", "AWS_", "DAGSTER_"))}
    env.update(s3_env, DAGSTER_HOME=str(home), FINDATA_HOME=str(tmp_path / "findata"),
               FINDATA_DATABASE_URL=mysql_url, FINDATA_EASTMONEY_URL=fake.url,
               FINDATA_HISTORY_CONCURRENCY="4", FINDATA_HISTORY_MIN_INTERVAL_MS="0",
               # a UI-launched run is a background run: fetch now, in session or not
               FINDATA_HISTORY_WINDOW="always")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    shots = screenshot_folder(tmp_path / "screenshots")
    started = time.monotonic()
    try:
        with dagster_daemon(env, tmp_path) as daemon_log, \
                dagster_webserver(env, tmp_path) as base, \
                headless_chromium(tmp_path / "chromium") as browser, \
                dg.DagsterInstance.get() as instance:
            backfill_id = _launch_backfill_from_the_partition_picker(browser, base, shots, days)
            run = _one_run_succeeds(browser, base, shots, instance, backfill_id, days, daemon_log)
            _progress_shows_in_the_run_log(browser, base, shots, instance, run, fake)
            _the_days_show_materialized(browser, base, shots, instance, days)
            _one_days_metadata(browser, base, shots, instance, run, days[-1], fake)
    finally:
        print(f"\nUI daily history test: {time.monotonic() - started:.0f} s")
        _copy_screenshots(shots)


def _launch_backfill_from_the_partition_picker(browser, base: str, shots: Path,
                                               days: list[str]) -> str:
    """Materialize... on the asset's page, the range typed into the partition selection,
    Launch backfill; the backfill's id from the toast."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    show(browser, f"{base}/assets/{ASSET}", shots, "1-asset-page", ASSET, "Materialize",
         "daily_history_job")
    [button] = [b for b in browser.find_elements(By.TAG_NAME, "button")
                if b.text.startswith("Materialize")]
    _click(browser, shots, "1-materialize", button)
    # the three assets are one step that cannot be subset: the UI says so and asks first
    text = _until(browser, shots, "1-materialize", lambda d: (t := _dialog_text(d)) and any(
        x in t for x in ("Additional assets", "Launch runs to materialize")) and t,
        "the materialize dialog")
    if "Additional assets will be materialized" in text:
        assert ASSETS["board"] in text and ASSETS["market"] in text, text
        browser.save_screenshot(str(shots / "1a-additional-assets.png"))
        [confirm] = browser.find_elements(
            By.XPATH, "//div[@role='dialog']//button[normalize-space()='Confirm']")
        _click(browser, shots, "1a-additional-assets", confirm)
    [field] = _until(browser, shots, "1-materialize", lambda d: d.find_elements(
        By.CSS_SELECTOR, "[role=dialog] input[type=text]"), "the partition selection input")
    assert "Launch runs to materialize 3 assets" in _dialog_text(browser)
    span = f"[{days[0]}...{days[-1]}]"  # the UI's range syntax (its own span representation)
    _click(browser, shots, "1b-materialize", field)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(span, Keys.ENTER)
    text = _until(browser, shots, "1-materialize",
                  lambda d: (t := _dialog_text(d)) and f"\n{DAYS} partitions\n" in t and t,
                  f"'{DAYS} partitions' selected after typing {span}")
    assert "Syntax error" not in text and "Launch backfill" in text, text
    browser.save_screenshot(str(shots / "1b-materialize-20-days.png"))
    [launch] = browser.find_elements(
        By.XPATH, "//div[@role='dialog']//button[normalize-space()='Launch backfill']")
    assert launch.is_enabled()
    _click(browser, shots, "1b-materialize", launch)
    toast = _until(browser, shots, "2-backfill-created", lambda d: re.search(
        r"Created backfill (\w+)", d.execute_script("return document.body.innerText")),
        "the 'Created backfill' toast")
    browser.save_screenshot(str(shots / "2-backfill-created.png"))
    return toast.group(1)


def _one_run_succeeds(browser, base: str, shots: Path, instance, backfill_id: str,
                      days: list[str], daemon_log: Path):
    """The daemon makes the backfill ONE run of the three assets over the whole range; it
    succeeds, the backfill completes, and its page lists that one run."""
    from dagster._core.execution.backfill import BulkActionStatus
    from selenium.webdriver.common.by import By

    [backfill] = instance.get_backfills()
    assert backfill.backfill_id == backfill_id
    assert set(backfill.asset_selection) == {dg.AssetKey(a) for a in ASSETS.values()}

    def records():
        return instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))

    def finished():
        runs = records()
        return runs if runs and all(r.dagster_run.is_finished for r in runs) else None

    [record] = _wait(finished, RUN_S, "finished run of the backfill", daemon_log)
    run = record.dagster_run
    assert run.status == dg.DagsterRunStatus.SUCCESS, _tail(daemon_log)
    done = (BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED,
            BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED)
    status = _wait(lambda: (s := instance.get_backfill(backfill_id).status) in done and s, 120,
                   "completed backfill", daemon_log)
    assert status == BulkActionStatus.COMPLETED_SUCCESS, status
    # still one run once the backfill is done: a run per day would be 20
    assert [r.dagster_run.run_id for r in records()] == [run.run_id]
    assert [r.dagster_run.run_id for r in instance.get_run_records()] == [run.run_id]
    assert run.tags["dagster/asset_partition_range_start"] == days[0]
    assert run.tags["dagster/asset_partition_range_end"] == days[-1]
    assert run.asset_selection == {dg.AssetKey(a) for a in ASSETS.values()}
    print(f"backfill {backfill_id}: one run {run.run_id} ({run.job_name}), "
          f"{record.end_time - record.start_time:.1f} s")

    text = show(browser, f"{base}/runs/b/{backfill_id}?tab=runs", shots, "2b-backfill-one-run",
                run.run_id[:8], "Success", "Partition selection")
    assert re.search(rf"\nPartition selection\n{days[0]}(\.\.\.|…){days[-1]}\n", text), text[:1500]
    listed = {href.rstrip("/").rsplit("/", 1)[1] for href in
              (a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a"))
              if href and re.search(r"/runs/[0-9a-f-]{36}$", href)}
    assert listed == {run.run_id}, (listed, text[:2000])
    return run


def _progress_shows_in_the_run_log(browser, base: str, shots: Path, instance, run, fake) -> None:
    """The run's log holds "history: N/M securities" lines, from one in the middle of the fetch
    to the last (every security the fake serves), and the run page shows them."""
    from selenium.webdriver.common.by import By

    lines = [e.user_message for e in instance.all_logs(run.run_id)
             if e.user_message and PROGRESS.match(e.user_message)]
    assert len(lines) >= 2, lines  # the first answer's line and the final one
    counts = [tuple(int(n.replace(",", "")) for n in PROGRESS.match(x).groups()) for x in lines]
    securities = len(fake.klines.secids())
    assert counts[0][0] < counts[0][1] == securities, lines  # logged while fetching
    assert counts[-1] == (securities, securities), lines
    assert "(100.0%)" in lines[-1], lines
    print("progress lines:", *lines, sep="\n  ")

    show(browser, f"{base}/runs/{run.run_id}", shots, "3-run-page", run.run_id[:8], "Success",
         "daily_history", "RUN_SUCCESS")  # the log's tail: loaded
    [field] = browser.find_elements(By.CSS_SELECTOR, "input[placeholder^='Filter']")
    _click(browser, shots, "3-run-log", field)
    field.send_keys("securities")  # the log filter: the rows whose message holds the word
    text = _until(browser, shots, "3-run-log-progress",
                  lambda d: (t := d.find_element(By.TAG_NAME, "body").text)
                  and all(x in t for x in lines) and t, "every progress line in the run's log")
    browser.save_screenshot(str(shots / "3-run-log-progress.png"))
    assert "ASSET_MATERIALIZATION" not in text  # filtered: the progress, not the 60 events
    assert len(PROGRESS.findall(text)) == len(lines), text[-3000:]


def _the_days_show_materialized(browser, base: str, shots: Path, instance,
                                days: list[str]) -> None:
    """The instance holds the 20 days of each of the three assets; the partitions view counts
    them, and lists exactly them once missing partitions are hidden."""
    from selenium.webdriver.common.by import By

    for asset in ASSETS.values():
        assert sorted(instance.get_materialized_partitions(dg.AssetKey(asset))) == days, asset
    text = show(browser, f"{base}/assets/{ASSET}?view=partitions", shots, "4-partitions",
                f"Materialized ({DAYS})", "Failed (0)", "Missing (", days[-1])
    selected = int(re.search(r"(\d+) Partitions Selected", text).group(1))
    missing = int(re.search(r"Missing \((\d+)\)", text).group(1))
    assert missing == selected - DAYS, text[:1500]  # the rest: earlier days, and today's
    [label] = browser.find_elements(By.XPATH, "//label[starts-with(normalize-space(),'Missing (')]")
    # hide the missing ones: the list keeps the materialized days only
    _click(browser, shots, "4-partitions", label)

    def listed(d):
        body = d.find_element(By.TAG_NAME, "body").text
        block = body.split("Missing (", 1)[1].split("\n", 1)[1].split("No partition selected")[0]
        keys = re.findall(r"^\d{4}-\d\d-\d\d$", block, re.M)
        return keys if len(keys) == DAYS else False

    keys = _until(browser, shots, "4-partitions-materialized", listed,
                  f"{DAYS} partitions listed once the missing ones are hidden")
    browser.save_screenshot(str(shots / "4b-partitions-materialized-only.png"))
    assert keys == days[::-1], keys  # newest first


def _one_days_metadata(browser, base: str, shots: Path, instance, run, day: str,
                       fake) -> None:
    """One day's partition shows its own accounting: expected (the fake's stocks), stored (the
    stocks with a line that day), without_line, failed: as its materialization holds them."""
    from selenium.webdriver.common.by import By

    keys = ("expected", "stored", "without_line", "failed")
    text = show(browser, f"{base}/assets/{ASSET}?view=partitions&partition={day}", shots,
                "5-day-metadata", f"{day}\nMaterialized", run.run_id[:8], *keys, "parquet_key")
    shown = {}
    for key in keys:
        found = re.search(rf"\n{key}\n(\d+)\n", text)
        assert found, (key, text[-2500:])
        shown[key] = int(found.group(1))
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(ASSET), asset_partitions=[day]),
        limit=1).records
    stored_meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert shown == {k: stored_meta[k] for k in keys}, (shown, stored_meta)
    assert f"\ndagster/row_count\n{shown['stored']}\n" in text
    stocks = [k for k in fake.klines.secids() if not k.startswith(("90.", "1.000001&"))]
    with_line = sum(1 for k in stocks if any(x.startswith(day) for x in fake.daily_lines(k) or []))
    assert shown["expected"] == len(stocks), (shown, len(stocks))
    assert shown["stored"] == with_line > 0 and shown["failed"] == 0, (shown, with_line)
    assert shown["without_line"] == shown["expected"] - shown["stored"] - shown["failed"]
    assert f"\nparquet_key\nhistory/daily_flow/trade_date={day}/part-0.parquet\n" in text
    print(f"{day}: {shown}")
    [label] = browser.find_elements(By.XPATH, "//td[normalize-space()='expected']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", label)
    browser.save_screenshot(str(shots / "5b-day-metadata-values.png"))


def _copy_screenshots(shots: Path) -> None:
    """The screenshots, also in COPY_TO for a look; their paths printed."""
    shutil.rmtree(COPY_TO, ignore_errors=True)
    COPY_TO.mkdir(parents=True, exist_ok=True)
    for png in sorted(shots.glob("*.png")):
        shutil.copy(png, COPY_TO / png.name)
        print(f"screenshot: {png}  (copy: {COPY_TO / png.name})")
