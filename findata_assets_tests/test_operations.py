"""The project's dagster.yaml loads on SQLite and on PostgreSQL; status/stop work on an instance."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from findata_assets.cli import instance as instance_mod
from findata_assets.cli import operations
from findata_assets.cli.main import main as run_main

PROJECT_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("DAGSTER_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    return home


def _add_run(instance, status=dg.DagsterRunStatus.SUCCESS, **tags) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="stock_flow_job", status=status, tags=tags)
    instance.add_run(run)
    return run


def test_project_instance_uses_sqlite_under_dagster_home_by_default(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance_mod.describe_storage(instance) == "sqlite"
        run = _add_run(instance)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config  # what the daemon obeys
        limits = {lim["key"]: lim for lim in queue.tag_concurrency_limits}
        assert queue.max_concurrent_runs == 8 and limits["findata/lane"]["limit"] == 1
        assert limits["findata/lane"]["value"] == {"applyLimitPerUniqueValue": True}
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.global_op_concurrency_default_limit == 2
    assert (home / "history" / "runs.db").exists()  # Dagster's default SQLite layout
    with dg.DagsterInstance.from_config(str(home)) as again:
        assert again.get_run_by_id(run.run_id) is not None


@pytest.fixture
def pg_url():
    import psycopg2

    name = f"findata_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_ADMIN)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_project_instance_uses_postgres_when_dagster_pg_url_is_set(home, pg_url, monkeypatch):
    import psycopg2

    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance_mod.describe_storage(instance) == "postgres"
        run = _add_run(instance, **{"findata/policy": "quick"})
        # a run worker rebuilds the instance from its ref: it must land on the same database
        with dg.DagsterInstance.from_ref(instance.get_ref()) as worker:
            assert instance_mod.describe_storage(worker) == "postgres"
            assert worker.get_run_by_id(run.run_id) is not None
    with psycopg2.connect(pg_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (run.run_id,))
        assert cur.fetchone()[0] == 1
    assert not (home / "history" / "runs.db").exists()


def test_postgres_url_from_the_chart_variables():
    env = {"DAGSTER_PG_HOST": "db", "DAGSTER_PG_PASSWORD": "p@ss:w/rd", "DAGSTER_PG_DB": "dagster"}
    assert instance_mod.postgres_url(env) == \
        "postgresql+psycopg2://postgres:p%40ss%3Aw%2Frd@db:5432/dagster"
    assert instance_mod.postgres_url({"DAGSTER_PG_URL": "postgres://u@h/d"}) == \
        "postgresql+psycopg2://u@h/d"
    assert instance_mod.postgres_url({}) is None


# --- status / stop -----------------------------------------------------------------------------

STOCK_PARTS = dg.StaticPartitionsDefinition(["all|1d", "sh_a|1d"])


@dg.asset(name="stock_flow", partitions_def=STOCK_PARTS)
def stand_in_stock_flow(context) -> None:
    for key in context.partition_keys:
        context.log.info(key)


@dg.asset(name="stock_flow_raw", partitions_def=STOCK_PARTS)
def stand_in_raw() -> None:
    return None


def _execute_cycle(instance, cycle: str, lane: str = "quick:stock"):
    job = dg.Definitions(assets=[stand_in_stock_flow, stand_in_raw]).get_implicit_global_asset_job_def()
    tags = {"findata/policy": "quick", "findata/cycle": cycle, "findata/lane": lane,
            "dagster/asset_partition_range_start": "all|1d",
            "dagster/asset_partition_range_end": "sh_a|1d"}
    return job.execute_in_process(instance=instance, tags=tags)


def test_status_lists_cycles_with_runs_and_tables(home, capsys):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _execute_cycle(instance, "quick-20260302T1000")
        _execute_cycle(instance, "quick-20260302T1001")
        _add_run(instance, dg.DagsterRunStatus.FAILURE,
                 **{"findata/policy": "quick", "findata/cycle": "quick-20260302T1002",
                    "findata/lane": "quick:stock"})
        _add_run(instance, **{"findata/policy": "full", "findata/cycle": "full-x"})
        cycles = operations.policy_cycles(instance, "quick")
    assert [c.cycle for c in cycles] == ["quick-20260302T1002", "quick-20260302T1001",
                                         "quick-20260302T1000"]
    assert [c.status for c in cycles] == ["FAILURE", "SUCCESS", "SUCCESS"]
    assert cycles[1].tables == 2 and cycles[0].tables == 0  # stock_flow partitions, not raw
    assert cycles[1].runs[0].seconds is not None and cycles[1].start
    assert run_main(["status", "quick"]) == 0
    out = capsys.readouterr().out
    assert "quick-20260302T1001" in out and "SUCCESS" in out and "full-x" not in out
    assert run_main(["status", "quick", "--json", "--limit", "1"]) == 0
    [only] = json.loads(capsys.readouterr().out)
    assert only["cycle"] == "quick-20260302T1002"


def test_stop_cancels_runs_that_have_not_started_and_reports_unreachable_ones(home, capsys):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        pending = _add_run(instance, dg.DagsterRunStatus.NOT_STARTED,
                           **{"findata/policy": "quick", "findata/lane": "quick:stock"})
        other = _add_run(instance, dg.DagsterRunStatus.NOT_STARTED,
                         **{"findata/policy": "full", "findata/lane": "full:stock"})
        report = operations.stop_policy(instance, "quick", wait_s=1)
        assert report.runs == {pending.run_id: "CANCELED"} and report.ok
        # opted out of run retries, so a stopped run never comes back
        assert instance.get_run_by_id(pending.run_id).tags["dagster/max_retries"] == "0"
        assert instance.get_run_by_id(other.run_id).status == dg.DagsterRunStatus.NOT_STARTED
        # a run "started" by a worker nobody can reach: reported, exit status 1
        orphan = _add_run(instance, dg.DagsterRunStatus.STARTED,
                          **{"findata/policy": "quick", "findata/lane": "quick:stock"})
    assert run_main(["stop", "quick", "--wait", "0.5"]) == 1
    out = capsys.readouterr().out
    assert orphan.run_id in out and "NOT fully stopped" in out
