"""The CLI's runs never strand an Eastmoney pool slot: SIGTERM ends the run, and slots of
runs whose CLI process died are freed (and those runs failed) by the next CLI start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from findata_assets.cli import runs as cli_runs
from findata_assets.defs.eastmoney.assets import EASTMONEY_POOL

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_instance(project_dagster_home):
    """An instance with the repo's dagster.yaml (pools on, default limit 2)."""
    with dg.DagsterInstance.get() as instance:
        yield instance


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _started_run(instance, tags) -> dg.DagsterRun:
    run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(), tags=tags)
    instance.handle_run_event(run.run_id, dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name))
    return instance.get_run_by_id(run.run_id)


def test_slots_of_runs_whose_cli_died_are_freed_and_the_runs_failed(repo_instance):
    storage = repo_instance.event_log_storage
    storage.set_concurrency_slots(EASTMONEY_POOL, 2)
    dead = _started_run(repo_instance, cli_runs.cli_tags(pid=_dead_pid()))
    alive = _started_run(repo_instance, cli_runs.cli_tags())  # this very process
    for run in (dead, alive):
        status = storage.claim_concurrency_slot(EASTMONEY_POOL, run.run_id, "stock_flow_raw")
        assert status.is_claimed
    assert storage.get_concurrency_info(EASTMONEY_POOL).active_slot_count == 2

    released = cli_runs.release_orphaned_slots(repo_instance)

    assert released == [dead.run_id]
    info = storage.get_concurrency_info(EASTMONEY_POOL)
    assert info.active_run_ids == {alive.run_id}
    assert repo_instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert repo_instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.fake_eastmoney(latency_ms=2000)
def test_sigterm_ends_the_cli_run_and_frees_its_slot(repo_instance, fake_eastmoney, tmp_path):
    env = {**os.environ, "FINDATA_HOME": str(tmp_path / "home"),
           "FINDATA_EASTMONEY_URL": fake_eastmoney.url}
    proc = subprocess.Popen([sys.executable, "-m", "findata_assets.run", "quick"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and fake_eastmoney.request_count == 0:
        time.sleep(0.2)  # wait until the crawl is under way (each page takes 2 s)
    assert fake_eastmoney.request_count > 0, "the CLI never reached the API"
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0].decode(errors="replace")

    assert proc.returncode != 0, output
    runs = repo_instance.get_runs()
    assert len(runs) == 1, output
    assert runs[0].status == dg.DagsterRunStatus.CANCELED, output
    assert "stopped: SIGTERM received" in output and proc.returncode == 143
    info = repo_instance.event_log_storage.get_concurrency_info(EASTMONEY_POOL)
    assert info.active_slot_count == 0 and not info.pending_steps
