"""How the CLI executes one run: in this process, on a run that carries the code location's
origin (cli/runs.py create_run), under the command's StopControl, and what it reports of it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, ROOT_RUN_ID_TAG

from findata_assets.cli import runs as cli_runs
from findata_assets.cli.control import StopControl
from findata_assets.cli.instance import for_runs_side_by_side
from findata_assets.cli.progress import RunProgress, run_config
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.families import TABLE_ASSETS
from findata_assets.defs.refresh.planning import PlannedRun
from findata_assets.defs.refresh.sensors import cause_message, is_own_error, root_cause


@dataclass
class StoredTable:
    table: str
    partition: str
    rows: int
    trade_date: str
    store_seconds: float


@dataclass
class RunOutcome:
    job: str
    run_id: str
    success: bool
    seconds: float
    tables: list[StoredTable] = field(default_factory=list)
    status: str = ""  # the run's final status: SUCCESS, FAILURE, CANCELED
    error: str | None = None
    report: str | None = None  # analysis runs: where the report is, or why there is none


def execute_cli_run(job: dg.JobDefinition, tags: dict[str, str], instance: dg.DagsterInstance,
                    control: StopControl | None = None, verbose: bool = False,
                    base_config: dict | None = None, console_level: str = "WARNING",
                    **run_args) -> dg.JobExecutionResult:
    """One run of `job` in this process, as execute_in_process does, but on a run that carries
    the code location's origin and obeys stop requests (cli/control.py), printing its progress
    (Dagster's event lines only when verbose). `run_args` go to create_run_for_job (a
    re-execution's plan and parent)."""
    run, work = _cli_run(job, tags, instance, verbose, base_config, console_level, **run_args)
    try:
        return control.execute(run.run_id, work) if control else work()
    finally:  # also when the wait itself is aborted (a third signal): freeing twice is harmless
        cli_runs.free_slots(instance, run.run_id)


def _cli_run(job: dg.JobDefinition, tags: dict[str, str], instance: dg.DagsterInstance,
             verbose: bool, base_config: dict | None = None, console_level: str = "WARNING",
             **run_args) -> tuple[dg.DagsterRun, Callable[[], dg.JobExecutionResult]]:
    """The run, created, and the work that executes it with its progress lines."""
    run = cli_runs.create_run(instance, job, str(uuid.uuid4()), {**tags, **cli_runs.cli_tags()},
                              run_config=run_config(verbose, base_config, console_level),
                              **run_args)

    def work() -> dg.JobExecutionResult:
        try:
            with RunProgress(instance, run):
                return execute_run(InMemoryJob(job), run, instance)
        finally:  # an interrupted run must not keep its Eastmoney pool slot
            cli_runs.free_slots(instance, run.run_id)

    return run, work


def execute_planned_runs(defs: dg.Definitions, planned: list[PlannedRun],
                         instance: dg.DagsterInstance, control: StopControl,
                         verbose: bool = False) -> list[RunOutcome]:
    """The planned runs side by side, a thread each (the stock and sector runs of a cycle write
    different tables and share the process-wide request gate, so Eastmoney sees the same load).
    Each run is created first, then all execute; a run that raised is a failed outcome."""
    threads_ok = for_runs_side_by_side(instance) if len(planned) > 1 else instance
    if threads_ok is None:  # an instance whose runs cannot share the process: one by one
        outcomes: list[RunOutcome] = []
        for p in planned:
            if not control.stop_reason:
                outcomes += execute_planned_runs(defs, [p], instance, control, verbose)
        return outcomes
    try:
        return _side_by_side(defs, planned, threads_ok, control, verbose)
    finally:
        if threads_ok is not instance:
            threads_ok.dispose()


def _side_by_side(defs: dg.Definitions, planned: list[PlannedRun], instance: dg.DagsterInstance,
                  control: StopControl, verbose: bool) -> list[RunOutcome]:
    started = time.perf_counter()
    runs = [_cli_run(defs.resolve_job_def(p.job_name), p.tags, instance, verbose)
            for p in planned]

    def timed(work: Callable[[], dg.JobExecutionResult]):
        return lambda: (work(), time.perf_counter() - started)

    results = control.execute_all([(run.run_id, timed(work)) for run, work in runs])
    outcomes = []
    for (run, _), result in zip(runs, results):
        if isinstance(result, BaseException):
            if isinstance(result, (KeyboardInterrupt, SystemExit)):
                raise result
            outcomes.append(RunOutcome(run.job_name, run.run_id, False,
                                       round(time.perf_counter() - started, 3), status="FAILURE",
                                       error=f"{type(result).__name__}: {result}"))
        else:
            outcomes.append(outcome_of(result[0], run.job_name, result[1], instance))
    return outcomes


def reexecute_from_failure(defs: dg.Definitions, parent_run_id: str,
                           instance: dg.DagsterInstance, control: StopControl | None = None,
                           verbose: bool = False) -> RunOutcome:
    """Run again the steps of `parent_run_id` that failed or did not run, as the UI's
    "Re-execute from failure" does: a stock/sector run stores from the archived snapshots, the
    API is not called again. Raises ValueError for a run that cannot be re-executed."""
    parent = instance.get_run_by_id(parent_run_id)
    if parent is None:
        raise ValueError(f"no run {parent_run_id} in the instance at DAGSTER_HOME")
    if parent.status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        raise ValueError(f"run {parent_run_id} is {parent.status.value}: only a failed or "
                         "canceled run is re-executed from failure")
    job = defs.resolve_job_def(parent.job_name)
    steps, known_state = KnownExecutionState.build_resume_retry_reexecution(instance, parent)
    config = run_config(verbose, parent.run_config)
    plan = create_execution_plan(InMemoryJob(job), config, step_keys_to_execute=steps,
                                 known_state=known_state, tags=parent.tags)
    root = parent.root_run_id or parent.run_id
    keep = {k: v for k, v in parent.tags.items()
            if not k.startswith(("dagster/", ".dagster/")) or k.startswith("dagster/asset_")
            or k in (keys.PARTITION_TAG, "dagster/priority")}
    started = time.perf_counter()
    result = execute_cli_run(job, {**keep, PARENT_RUN_ID_TAG: parent.run_id,
                                   ROOT_RUN_ID_TAG: root}, instance, control, verbose,
                             config, execution_plan=plan,
                             parent_run_id=parent.run_id, root_run_id=root)
    return outcome_of(result, parent.job_name, time.perf_counter() - started, instance)


def outcome_of(result: dg.JobExecutionResult, job_name: str, seconds: float,
               instance: dg.DagsterInstance) -> RunOutcome:
    """What the run stored (every table partition materialized, partial stores included)."""
    final = instance.get_run_by_id(result.run_id)
    outcome = RunOutcome(job_name, result.run_id, result.success, round(seconds, 3),
                         status=final.status.value if final else "")
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[-1] not in TABLE_ASSETS:
            continue  # raw snapshots: reported through the table they feed
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        outcome.tables.append(StoredTable(
            table=metadata.get(keys.TABLE, ""), partition=materialization.partition or "",
            rows=int(metadata.get(keys.ROW_COUNT, 0)),
            trade_date=metadata.get(keys.TRADE_DATE, ""),
            store_seconds=float(metadata.get(keys.STORE_SECONDS, 0.0))))
    if not result.success:
        outcome.error = failure_summary(result)
    return outcome


def failure_summary(result: dg.ExecuteInProcessResult) -> str:
    """The failed step and its root cause, in one line."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            cause = root_cause(error)
            context = cause is not error and not is_own_error(cause)
            return f"{event.step_key}: {cause_message(error)}" + (
                f" (in: {error.message.strip()})" if context else "")
    return "run failed (see the run's logs in the UI)"


