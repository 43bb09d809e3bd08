"""Runs the CLI executes in its own process (`python -m findata_assets.run`).

They are created with the code location's origin (`create_run`), as if launched from the UI: the
UI lists them under the location's jobs and in Overview, and "Re-execute" works on them. The
location and repository names are what workspace.yaml and helm's user deployment call them.

Such a run has no run worker the daemon could watch: if the CLI is killed, the run stays STARTED
and keeps its `eastmoney` pool slot, and every later run waits for that slot forever. So the CLI
tags its runs with its host and pid, frees its runs' slots when a run ends however it ends
(Dagster turns SIGTERM and Ctrl-C into an interrupt that fails the run), and before it starts,
fails and frees runs whose CLI is gone.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import dagster as dg
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.assets import EASTMONEY_POOL

# "<pid>@<host>" of the CLI process that executes the run in-process: one chip in the runs list,
# enough to tell a live CLI's run from one whose process died
CLI_TAG = keys.CLI_TAG
LOCATION_NAME = "findata"  # workspace.yaml's location_name, helm's dagster-user-deployments name
REPOSITORY_NAME = "__repository__"  # Dagster's name for the repository of a Definitions object
DEFINITIONS_MODULE = "findata_assets.definitions"
DEFINITIONS_ATTRIBUTE = "defs"


def create_run(instance: dg.DagsterInstance, job: dg.JobDefinition, run_id: str,
               tags: dict[str, str], **run_args) -> dg.DagsterRun:
    """A NOT_STARTED run of `job` with the origins a run launched from the UI would carry."""
    cwd = os.getcwd()
    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE,
                                  attribute=DEFINITIONS_ATTRIBUTE, working_directory=cwd)
    repository = RemoteRepositoryOrigin(
        ManagedGrpcPythonEnvCodeLocationOrigin(target, LOCATION_NAME), REPOSITORY_NAME)
    code = RepositoryPythonOrigin(
        sys.executable, ModuleCodePointer(DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, cwd))
    return instance.create_run_for_job(
        job_def=job, run_id=run_id, tags={**job.run_tags, **tags},
        remote_job_origin=RemoteJobOrigin(repository, job.name),
        job_code_origin=JobPythonOrigin(job.name, code), **run_args)


def cli_tags(pid: int | None = None) -> dict[str, str]:
    return {CLI_TAG: f"{os.getpid() if pid is None else pid}@{socket.gethostname()}"}


def cli_process(run: dg.DagsterRun) -> tuple[int, str] | None:
    """(pid, host) of the CLI that runs `run`, None for a run of the daemon or the UI."""
    pid, _, host = run.tags.get(CLI_TAG, "").partition("@")
    return (int(pid), host) if pid.isdigit() and host else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def orphaned(run: dg.DagsterRun | None) -> bool:
    """A run whose slot nobody will give back: finished, gone, or its CLI process is dead."""
    if run is None or run.is_finished:
        return True
    process = cli_process(run)
    return (process is not None and process[1] == socket.gethostname()
            and not _process_alive(process[0]))


def release_orphaned_slots(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs of dead CLI processes and free the pool slots of finished runs."""
    storage = instance.event_log_storage
    info = storage.get_concurrency_info(EASTMONEY_POOL)
    run_ids = {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}
    released = []
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        if not orphaned(run):
            continue
        fail_orphan(instance, run, run_id)
        released.append(run_id)
    return released


def cancel_unstarted(instance: dg.DagsterInstance, min_age_s: float = 120.0) -> list[str]:
    """Cancel runs left NOT_STARTED for `min_age_s`: `dagster job execute` and `dagster asset
    materialize` create the run before they check its partition key, and a bad key leaves it
    behind for good (the daemon only looks at QUEUED runs)."""
    cutoff = time.time() - min_age_s
    canceled = []
    for record in instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED]), limit=100):
        run = record.dagster_run
        if record.create_timestamp.timestamp() > cutoff or not orphaned_or_foreign(run):
            continue
        instance.report_run_canceled(run, message="never started (a wrong partition key or "
                                                  "range given to Dagster's CLI?); canceled")
        canceled.append(run.run_id)
    return canceled


def orphaned_or_foreign(run: dg.DagsterRun) -> bool:
    """Not a run of a CLI that is still alive (that one starts it in a moment)."""
    return cli_process(run) is None or orphaned(run)


def fail_orphan(instance: dg.DagsterInstance, run: dg.DagsterRun | None, run_id: str) -> None:
    """A run whose CLI died: marked failed (it would never end by itself), its slots freed."""
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, message="its CLI process is gone (killed?); the run "
                                                "was marked failed and its pool slot freed")
    free_slots(instance, run_id)


def free_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
