"""Issue 11, item 4: a database or object store that misbehaves. A frozen database ends the run
within its timeout naming the setting, the table and the operation; a store that is down fails
the run in seconds before any API request; snapshots archived by a failing step are listed."""

from __future__ import annotations

import time

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._utils.error import SerializableErrorInfo

from findata_assets.cli.main import run_policy
from findata_assets.defs.refresh.sensors import cause_message
from findata_assets_tests.own_mariadb import OwnMariaDB
from findata_assets_tests.ports import pick_ports

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-Pa55"


@pytest.fixture
def env(monkeypatch, tmp_path, dagster_home, fake_eastmoney):
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINDATA_EASTMONEY_URL", fake_eastmoney.url)
    for name in ("FINDATA_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def own_mariadb():
    server = OwnMariaDB().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_a_frozen_database_ends_the_run_within_its_timeout_naming_what_to_fix(
        env, own_mariadb, fake_eastmoney):
    env.setenv("FINDATA_DATABASE_URL", own_mariadb.url(PASSWORD))
    env.setenv("FINDATA_DATABASE_TIMEOUT_S", "5")

    def freeze_on_insert(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO") and \
                conn.engine.dialect.name == "mysql":
            own_mariadb.freeze()  # SIGSTOP: the server stops answering mid-store

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", freeze_on_insert)
    started = time.monotonic()
    try:
        [outcome] = run_policy("quick")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", freeze_on_insert)
    took = time.monotonic() - started
    print(f"frozen database: the run ended {took:.1f} s after it started (timeout 5 s)")
    assert not outcome.success and took < 40, outcome
    error = outcome.error
    assert "storing " in error and "into table stock_flow_all_1d of mysql+pymysql://root:***@" \
        in error and "(FINDATA_DATABASE_URL) failed" in error, error
    assert "rolled back and the previous rows are intact" in error
    assert PASSWORD not in error
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(outcome.run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_database_that_is_down_fails_before_the_crawl_in_seconds(env, fake_eastmoney):
    [port] = pick_ports(1)
    env.setenv("FINDATA_DATABASE_URL",
               f"mysql+pymysql://findata:{PASSWORD}@127.0.0.1:{port}/findata")
    started = time.monotonic()
    [outcome] = run_policy("quick")
    took = time.monotonic() - started
    print(f"database down: failed in {took:.1f} s, {fake_eastmoney.request_count} API requests")
    assert not outcome.success and took < 15
    assert fake_eastmoney.request_count == 0  # found before the first API request
    assert outcome.error.startswith("stock_flow_raw: the warehouse mysql+pymysql://findata:***@")
    assert "check FINDATA_DATABASE_URL" in outcome.error and PASSWORD not in outcome.error


def test_an_object_store_that_is_down_fails_before_the_crawl_in_seconds(env, fake_eastmoney,
                                                                        mysql_url):
    [port] = pick_ports(1)
    env.setenv("FINDATA_DATABASE_URL", mysql_url)
    env.setenv("FINDATA_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    env.setenv("AWS_ACCESS_KEY_ID", "findata")
    env.setenv("AWS_SECRET_ACCESS_KEY", PASSWORD)
    started = time.monotonic()
    [outcome] = run_policy("quick")
    took = time.monotonic() - started
    print(f"object store down: failed in {took:.1f} s")
    assert not outcome.success and took < 30 and fake_eastmoney.request_count == 0
    assert outcome.error.startswith("stock_flow_raw: the object store ")
    assert "check FINDATA_S3_ENDPOINT" in outcome.error and PASSWORD not in outcome.error


def test_snapshots_archived_by_a_failing_archive_step_are_listed_in_its_logs(env, tmp_path):
    home = tmp_path / "home"
    (home / "archive" / "raw").mkdir(parents=True)
    (home / "archive" / "raw" / "stock_flow_all_1d").write_text("a file where a folder goes")
    outcomes = run_policy("incremental")
    stock = next(o for o in outcomes if o.job == "stock_flow_job")
    assert not stock.success
    written = sorted(p.relative_to(home / "archive").as_posix()
                     for p in (home / "archive" / "raw").glob("stock_flow_*/*/*.json.zst"))
    assert len(written) == 7  # the other 1-day stock tables
    with dg.DagsterInstance.get() as instance:
        logs = [r.event_log_entry.user_message for r in instance.get_records_for_run(
            stock.run_id).records]
    [line] = [m for m in logs if "snapshots before the archive failed" in m]
    assert line.startswith("archived 7 of 8 snapshots before the archive failed; written: ")
    assert all(key in line for key in written)


def test_the_store_errors_own_explanation_comes_first_with_the_drivers_cause_in_it():
    driver = SerializableErrorInfo(
        "pymysql.err.OperationalError: (2013, 'Lost connection')\n", [], "OperationalError")
    ours = SerializableErrorInfo(
        "findata_assets.storage.warehouse.StoreError: storing 5 rows into table t failed; "
        "the previous rows are intact: OperationalError: (2013, 'Lost connection')\n", [],
        "StoreError", cause=driver)
    dagster = SerializableErrorInfo(
        "dagster._core.errors.DagsterExecutionHandleOutputError: Error occurred while handling "
        "output\n", [], "DagsterExecutionHandleOutputError", cause=ours)
    assert cause_message(dagster) == ("storing 5 rows into table t failed; the previous rows "
                                      "are intact: OperationalError: (2013, 'Lost connection')")
    assert cause_message(driver) == "pymysql.err.OperationalError: (2013, 'Lost connection')"
