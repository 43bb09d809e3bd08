"""What each tick of the lanes feeding an intraday family did on a day, read from the Dagster
instance: its runs (succeeded, failed with which error, stopped, still running) and its schedule
ticks (skipped because the lane was busy, or evaluated too late). The causes coverage gives the
missing minutes (coverage/day_coverage.py) come from here."""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterable

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from findata_assets import trading_calendar as tc
from findata_assets.coverage.day_coverage import Attempt
from findata_assets.defs.refresh.policies import CYCLE_TAG, LANE_TAG, POLICIES, POLICY_TAG
from findata_assets.defs.refresh.schedules import (
    BUSY_SKIP, STALE_SKIP, TRADE_DATE_TAG, schedule_name)
from findata_assets.defs.refresh.failure_causes import STOPPED_TAG, cause_message

# the lanes that store a family's minutes, and so its cadence (the cron's minute field)
FEEDING = {"stock": ("quick", "incremental"), "sector": ("incremental",)}
# a step failing with one of these (ours or the HTTP client's) means Eastmoney did not answer
API_ERRORS = {"RetriesExhaustedError", "BadResponseError", "DeadlineExceededError",
              "NotTheApiError", "ConnectError", "ConnectTimeout", "ReadTimeout",
              "RemoteProtocolError", "ReadError"}
IN_FLIGHT = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.CANCELING}
_CYCLE_TIME = re.compile(r"-(\d{8}T\d{4})(\d{2})?$")
_RUN_IDS = re.compile(r"\b([0-9a-f]{8})\b")


def cadence(family: str) -> int:
    """Minutes between the family's ticks: the finest cadence among its lanes."""
    return min(POLICIES[name].cadence for name in FEEDING[family]) // dt.timedelta(minutes=1)


def _local_minute(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(tc.TZ).replace(tzinfo=None, second=0, microsecond=0)


def tick_minute(run: dg.DagsterRun, created: dt.datetime) -> dt.datetime:
    """The tick a run was for: the schedule's time, else its cycle's, else its creation."""
    scheduled = run.tags.get(".dagster/scheduled_execution_time")
    if scheduled:
        return _local_minute(dt.datetime.fromisoformat(scheduled))
    match = _CYCLE_TIME.search(run.tags.get(CYCLE_TAG, ""))
    if match:
        return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M")
    return _local_minute(created)


def failure_of(instance: dg.DagsterInstance, run_id: str) -> tuple[str, str]:
    """(outcome, first line of the error) of a failed run, from its step failures."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    for record in records:
        error = record.event_log_entry.dagster_event.step_failure_data.error
        chain, cause = set(), error
        while cause is not None:
            chain.add(cause.cls_name)
            cause = cause.cause
        outcome = "api_unavailable" if chain & API_ERRORS else "failed"
        return outcome, cause_message(error)
    failure = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    message = failure[0].event_log_entry.message if failure else "the run failed"
    return "failed", (message or "the run failed").splitlines()[0]


def _run_attempts(instance: dg.DagsterInstance, family: str, day: dt.date,
                  window: tuple[dt.datetime, dt.datetime]) -> list[Attempt]:
    out = []
    for policy in FEEDING[family]:
        lane_tags = {POLICY_TAG: policy, LANE_TAG: f"{policy}:{family}"}
        # the schedules' runs carry the trade date; the CLI's are found by when they started
        records = {r.dagster_run.run_id: r for r in [
            *instance.get_run_records(dg.RunsFilter(
                tags={**lane_tags, TRADE_DATE_TAG: day.isoformat()})),
            *instance.get_run_records(dg.RunsFilter(
                tags=lane_tags, created_after=window[0].astimezone(dt.timezone.utc),
                created_before=window[1].astimezone(dt.timezone.utc)))]}.values()
        for record in records:
            run = record.dagster_run
            minute = tick_minute(run, record.create_timestamp)
            if minute.date() != day:
                continue
            lane = run.tags.get(LANE_TAG, policy)
            if run.status == dg.DagsterRunStatus.SUCCESS:
                outcome, detail = "ran", ""
            elif run.status == dg.DagsterRunStatus.FAILURE:
                outcome, detail = failure_of(instance, run.run_id)
            elif run.status == dg.DagsterRunStatus.CANCELED:
                outcome = "stopped"
                detail = (f"stopped by {run.tags[STOPPED_TAG]}" if run.tags.get(STOPPED_TAG)
                          else f"run {run.run_id[:8]} was cancelled")
            else:
                outcome, detail = "running", f"run {run.run_id[:8]} is {run.status.value}"
            if outcome in ("failed", "api_unavailable"):
                detail = f"run {run.run_id[:8]}: {detail}"
            out.append(Attempt(minute, outcome, detail, run.run_id, lane))
    return out


def _schedule_states(instance: dg.DagsterInstance, names: set[str]):
    if instance.schedule_storage is None:  # an ephemeral instance (execute_in_process): no ticks
        return
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
        if state.origin.instigator_name in names:
            yield state


def _tick_attempts(instance: dg.DagsterInstance, family: str,
                   window: tuple[dt.datetime, dt.datetime]) -> list[Attempt]:
    names = {schedule_name(policy, family): policy for policy in FEEDING[family]}
    out = []
    for state in _schedule_states(instance, set(names)):
        lane = f"{names[state.origin.instigator_name]}:{family}"
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id,
                                   after=window[0].timestamp(), before=window[1].timestamp())
        for tick in ticks:
            minute = _local_minute(dt.datetime.fromtimestamp(tick.timestamp, dt.timezone.utc))
            if tick.status == TickStatus.SKIPPED:
                reason = tick.skip_reason or ""
                if BUSY_SKIP in reason:
                    out.append(Attempt(minute, "busy", reason.split(": ", 1)[-1], None, lane))
                elif STALE_SKIP in reason:
                    out.append(Attempt(minute, "late_tick", reason.split(": ", 1)[-1], None,
                                       lane))
            elif tick.status == TickStatus.FAILURE and tick.error:
                out.append(Attempt(minute, "failed", "the schedule's evaluation failed: "
                                   + tick.error.message.strip().splitlines()[0], None, lane))
    return out


def _blame_holders(attempts: list[Attempt]) -> Iterable[Attempt]:
    """A tick skipped while the lane's run retried a failing API: the API is the cause."""
    failed = {a.run_id[:8]: a for a in attempts
              if a.run_id and a.outcome == "api_unavailable"}
    for attempt in attempts:
        holder = next((failed[i] for i in _RUN_IDS.findall(attempt.detail) if i in failed), None)
        if attempt.outcome == "busy" and holder is not None:
            yield Attempt(attempt.minute, "api_unavailable",
                          f"tick skipped while {holder.detail}", None, attempt.lane)
        else:
            yield attempt


def day_attempts(instance: dg.DagsterInstance, family: str, day: dt.date) -> list[Attempt]:
    """Every attempt at `day`'s ticks of the lanes feeding `family`."""
    start = dt.datetime.combine(day, dt.time(9, 0), tc.TZ)
    window = (start, start + dt.timedelta(hours=7))  # 09:00-16:00: the session and its runs
    return list(_blame_holders(_run_attempts(instance, family, day, window)
                               + _tick_attempts(instance, family, window)))
