"""Run the analysis and report job for one trade date and say what came of it (the CLI's
`full` cycle and the report sample use it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import dagster as dg

from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.analysis.assets import ANALYSIS_ASSET
from findata_assets.defs.report.assets import REPORT_ASSET
from findata_assets.defs.report.definitions import ANALYSIS_JOB_NAME


@dataclass
class AnalysisReportOutcome:
    trade_date: str
    run_id: str
    success: bool
    status: str  # "ok", "skipped: <why>" or "failed: <why>"
    narrative_status: Optional[str] = None
    report_key: Optional[str] = None
    report_location: Optional[str] = None
    report_url: Optional[str] = None


def _meta(event) -> dict:
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()} if event else {}


def summarize(result: dg.ExecuteInProcessResult, trade_date: str) -> AnalysisReportOutcome:
    """What a CLI prints after the job: where the report is, or why there is none."""
    def last(node: str):
        events = result.asset_materializations_for_node(node)
        return events[-1] if events else None

    analysis, report = _meta(last(ANALYSIS_ASSET)), _meta(last(REPORT_ASSET))
    observations = [e.event_specific_data.asset_observation for e in result.all_events
                    if e.event_type_value == "ASSET_OBSERVATION"]
    reasons = [str(_meta(o).get(keys.STATUS)) for o in observations if _meta(o).get(keys.STATUS)]
    if not result.success:
        failure = next((e.message for e in result.all_events if e.is_step_failure), "run failed")
        status = f"failed: {failure}"
    elif report:
        status = "ok"
    else:
        status = reasons[0] if reasons else "skipped: nothing materialized"
    return AnalysisReportOutcome(
        trade_date=trade_date, run_id=result.run_id, success=result.success, status=status,
        narrative_status=analysis.get(keys.NARRATIVE_STATUS),
        report_key=report.get(keys.REPORT_KEY),
        report_location=report.get(keys.REPORT_LOCATION), report_url=report.get(keys.REPORT_URL))


def run_analysis_report(defs: dg.Definitions, trade_date: dt.date, instance: dg.DagsterInstance,
                        tags: Optional[Mapping[str, str]] = None,
                        execute: Optional[Callable[[dg.JobDefinition, dict], object]] = None,
                        ) -> AnalysisReportOutcome:
    """Run analysis_report_job for one trade date in process (recorded in `instance`);
    `execute(job, tags)` runs it the CLI's way (origin, stop requests), default in process."""
    job = defs.resolve_job_def(ANALYSIS_JOB_NAME)
    keys_known = job.partitions_def.get_partition_keys()
    if trade_date.isoformat() not in keys_known:
        first = keys_known[0] if keys_known else "none"
        raise ValueError(f"{trade_date} is not a trading-day partition of {ANALYSIS_JOB_NAME} "
                         f"(they start at {first}, the first day collected; set "
                         f"FINDATA_PARTITIONS_START to an earlier date to analyse older days)")
    if execute is not None:
        result = execute(job, {**(tags or {}), keys.PARTITION_TAG: trade_date.isoformat()})
    else:
        result = job.execute_in_process(partition_key=trade_date.isoformat(), instance=instance,
                                        tags=dict(tags or {}), raise_on_error=False)
    return summarize(result, trade_date.isoformat())
