"""The CLI's intraday step: after a cycle's crawl runs, the day's new snapshots into the
intraday tables (the daemon does the same through the intraday_after_refresh sensor)."""

from __future__ import annotations

import time

import dagster as dg

from findata_assets.cli.control import StopControl
from findata_assets.cli.execution import RunOutcome, execute_cli_run, outcome_of
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.intraday.definitions import INTRADAY_JOB_NAME
from findata_assets.defs.refresh.policies import CYCLE_TAG, POLICY_TAG
from findata_assets.defs.refresh.schedules import TRADE_DATE_TAG


def intraday_days(outcomes: list[RunOutcome]) -> list[str]:
    """The trade dates of the cycle's 1d snapshots (the intraday tables' only input)."""
    return sorted({t.trade_date for o in outcomes for t in o.tables
                   if t.partition.endswith("|1d") and t.trade_date})


def run_intraday(defs: dg.Definitions, instance: dg.DagsterInstance, policy_name: str,
                 cycle_id: str, days: list[str], control: StopControl | None = None,
                 verbose: bool = False) -> list[RunOutcome]:
    outcomes = []
    for day in days:
        if control and control.stop_reason:
            break
        job = defs.resolve_job_def(INTRADAY_JOB_NAME)  # its partitions cover `days` (run_policy)
        started = time.perf_counter()
        tags = {POLICY_TAG: policy_name, CYCLE_TAG: cycle_id, TRADE_DATE_TAG: day,
                keys.PARTITION_TAG: day}
        result = execute_cli_run(job, tags, instance, control, verbose)
        outcomes.append(outcome_of(result, INTRADAY_JOB_NAME, time.perf_counter() - started,
                                   instance))
    return outcomes
