"""Sensors: the analysis after a full cycle, failure alerts, the calendar horizon, on-demand ticks."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.refresh import alerts
from findata_assets.defs.refresh.failure_causes import (  # noqa: F401 (re-exported)
    STOPPED_TAG, cause_message, is_own_error, root_cause)
from findata_assets.defs.refresh.policies import CYCLE_TAG, LANE_TAG, POLICIES, POLICY_TAG, RefreshPolicy
from findata_assets.defs.refresh.schedules import (
    TRADE_DATE_TAG, evaluate_policy_tick, policy_kinds, policy_lanes)
from findata_assets.run_names import ANALYSIS_JOB_NAME as ANALYSIS_JOB

RANGE_TAGS = (keys.RANGE_START_TAG, keys.RANGE_END_TAG)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED]
# a lane's failure repeating its previous run's within this is the same outage: no new alert
REPEAT_WINDOW = timedelta(minutes=30)
_NUMBERS = re.compile(r"(?<!HTTP )\b\d+(?:\.\d+)?")  # an HTTP status stays: 503 is not 403
RECENT_CYCLES_KEPT = 50


# --- analysis and report, once per full cycle ----------------------------------------------------

def _trade_date(runs: list[dg.DagsterRun], records: dict[str, dg.RunRecord]) -> date:
    for run in runs:
        if run.tags.get(TRADE_DATE_TAG):
            return date.fromisoformat(run.tags[TRADE_DATE_TAG])
    # CLI cycles carry no trade date tag: the trade date at the time the cycle started
    started = min(records[r.run_id].start_time or records[r.run_id].create_timestamp.timestamp()
                  for r in runs)
    return tc.latest_trading_day(datetime.fromtimestamp(started, tc.TZ))


def completed_full_cycles(instance: dg.DagsterInstance, updated_after: float | None,
                          policy: RefreshPolicy = POLICIES["full"],
                          ) -> tuple[list[tuple[str, date]], float | None]:
    """(cycle, trade date) for each cycle of `policy` whose every lane has a successful run,
    among runs that finished after `updated_after`; plus the new high-water mark."""
    # UTC: the SQL storages compare naive UTC timestamps
    since = datetime.fromtimestamp(updated_after - 1, timezone.utc) if updated_after else None
    finished = instance.get_run_records(
        dg.RunsFilter(tags={POLICY_TAG: policy.name}, statuses=[dg.DagsterRunStatus.SUCCESS],
                      updated_after=since),
        order_by="update_timestamp", ascending=True, limit=200)
    high_water = max([r.update_timestamp.timestamp() for r in finished] + [updated_after or 0.0])
    expected = set(policy_lanes(policy))
    ready = []
    for cycle in dict.fromkeys(r.dagster_run.tags.get(CYCLE_TAG) for r in finished):
        if not cycle:
            continue
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(
            dg.RunsFilter(tags={CYCLE_TAG: cycle, POLICY_TAG: policy.name}))}
        ok = [r.dagster_run for r in records.values()
              if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
        # a lane succeeds if any of its runs did (a run retry carries the same tags)
        if expected <= {run.tags.get(LANE_TAG) for run in ok}:
            ready.append((cycle, _trade_date(ok, records)))
    return ready, high_water or None


def _analysed(instance: dg.DagsterInstance, job_name: str, cycle: str) -> bool:
    """The CLI runs the analysis of its own full cycles, tagged with the cycle."""
    return bool(instance.get_run_records(
        dg.RunsFilter(job_name=job_name, tags={CYCLE_TAG: cycle}), limit=1))


def build_analysis_sensor(job_name: str = ANALYSIS_JOB,
                          minimum_interval_seconds: int = 30) -> dg.SensorDefinition:
    @dg.sensor(name="analysis_after_full_refresh", job_name=job_name,
               minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="When both runs (stock, sector) of a full refresh cycle succeeded, "
                           f"request {job_name} once for that trade date.")
    def _sensor(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor) if context.cursor else {}
        done = list(cursor.get("cycles", []))
        ready, high_water = completed_full_cycles(context.instance, cursor.get("ts"))
        requests, skipped = [], []
        for cycle, trade_date in ready:
            if cycle in done:
                continue
            done.append(cycle)
            if _analysed(context.instance, job_name, cycle):
                skipped.append(f"{cycle}: its analysis already ran (python -m findata_assets.run)")
                continue
            if not tc.is_trading_day(trade_date):
                skipped.append(f"{cycle}: {trade_date} is not a trading day")
                continue
            requests.append(dg.RunRequest(
                run_key=cycle, partition_key=trade_date.isoformat(),
                tags={CYCLE_TAG: cycle, POLICY_TAG: "full", TRADE_DATE_TAG: trade_date.isoformat()}))
        context.update_cursor(json.dumps(
            {"ts": high_water, "cycles": done[-RECENT_CYCLES_KEPT:]}))
        if requests:
            return requests
        return dg.SkipReason("; ".join(skipped) or "no newly completed full refresh cycle")

    return _sensor


# --- failure alerts -----------------------------------------------------------------------------

def failure_alert(run: dg.DagsterRun, error: str) -> alerts.Alert:
    lines = [f"job: {run.job_name}", f"run: {run.run_id}"]
    for key in (POLICY_TAG, CYCLE_TAG, LANE_TAG):
        if run.tags.get(key):
            lines.append(f"{key}: {run.tags[key]}")
    if all(run.tags.get(t) for t in RANGE_TAGS):
        lines.append(f"partitions: {run.tags[RANGE_TAGS[0]]} .. {run.tags[RANGE_TAGS[1]]}")
    elif run.tags.get(keys.PARTITION_TAG):
        lines.append(f"partition: {run.tags[keys.PARTITION_TAG]}")
    lines.append(f"error: {error[:600]}")
    policy, lane = run.tags.get(POLICY_TAG), run.tags.get(LANE_TAG)
    title = (f"findata run failed: {policy} refresh ({lane or run.job_name})" if policy
             else f"findata run failed: {run.job_name}")
    return alerts.Alert(title, lines, alerts.ui_link(f"runs/{run.run_id}"))


def _step_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    """"step: cause" of each failed step of a run, joined; empty when no step failed."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    return "; ".join(f"{r.event_log_entry.step_key}: "
                     f"{cause_message(r.event_log_entry.dagster_event.step_failure_data.error)}"
                     for r in records)


def error_summary(context: dg.RunFailureSensorContext) -> str:
    return _step_errors(context.instance, context.dagster_run.run_id) or (
        context.failure_event.message or "run failed")


def _shape(error: str) -> str:
    return _NUMBERS.sub("#", error)  # "after 10.2 s", "page 3": the same failure


def repeated_failure(instance: dg.DagsterInstance, run: dg.DagsterRun,
                     error: str) -> dg.DagsterRun | None:
    """The lane's previous finished run, when it failed the same way shortly before: an outage
    already alerted (the stall alert follows the lost minutes), so a failure per minute does
    not post again. A success in between, another error or a long gap alerts anew."""
    lane = run.tags.get(LANE_TAG)
    record = instance.get_run_record_by_id(run.run_id)
    if not lane or record is None:
        return None
    [previous] = instance.get_run_records(dg.RunsFilter(
        tags={LANE_TAG: lane}, statuses=FINISHED, created_before=record.create_timestamp),
        limit=1) or [None]
    if previous is None or previous.dagster_run.status != dg.DagsterRunStatus.FAILURE or \
            record.create_timestamp - previous.create_timestamp > REPEAT_WINDOW:
        return None
    before = _step_errors(instance, previous.dagster_run.run_id)
    return previous.dagster_run if before and _shape(before) == _shape(error) else None


@dg.run_failure_sensor(name="findata_run_failure_alert", minimum_interval_seconds=10,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Post failed runs to FINDATA_ALERT_WEBHOOK (when set); a "
                                   "lane's run failing as its previous run did is not posted "
                                   "again.")
def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    if run.tags.get(STOPPED_TAG):  # the operator stopped it (`run stop POLICY`): not an outage
        context.log.info(f"run {run.run_id} was stopped by the operator; no alert")
        return
    error = error_summary(context)
    before = repeated_failure(context.instance, run, error)
    if before is not None:
        context.log.info(f"run {run.run_id} failed as the lane's previous run "
                         f"{before.run_id[:8]} did, alerted then; no alert: "
                         f"{alerts.redact(error)[:300]}")
        return
    alerts.post_alert(failure_alert(run, error), logger=context.log)


# --- the calendar's horizon ---------------------------------------------------------------------

HORIZON_WARNING_DAYS = tc.HORIZON_WARNING_DAYS


def horizon_alert(today: date) -> alerts.Alert | None:
    """The calendar's horizon problem (trading_calendar.horizon_problem) as an alert."""
    problem = tc.horizon_problem(today)
    if problem is None:
        return None
    title, lines = problem
    return alerts.Alert(title, lines, alerts.ui_link("automation"))


@dg.sensor(name="trading_calendar_horizon", minimum_interval_seconds=3600,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Alert (once a day) when the trading calendar is near or past its horizon.")
def calendar_horizon_sensor(context: dg.SensorEvaluationContext):
    today = tc.today()
    alert = horizon_alert(today)
    if alert is None:
        return dg.SkipReason(f"trading calendar known until {tc.calendar_horizon()}")
    if context.cursor == today.isoformat():
        return dg.SkipReason(f"already alerted today: {alert.title}")
    alerts.post_alert(alert, logger=context.log)
    context.update_cursor(today.isoformat())
    return dg.SkipReason(f"alerted: {alert.title}")


# --- policies on demand (tests, "refresh now") --------------------------------------------------

def build_policy_sensor(policy: RefreshPolicy, name: str | None = None,
                        minimum_interval_seconds: int = 30, gate_session: bool = False,
                        default_status=dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    """A sensor running the same tick as the policy's schedule, every interval; without the
    session gate it refreshes whenever it is on (useful off-hours and in the daemon tests)."""

    @dg.sensor(name=name or f"{policy.name}_refresh_now",
               jobs=[FAMILY_JOB_DEFS[kind] for kind in policy_kinds(policy)],
               minimum_interval_seconds=minimum_interval_seconds, default_status=default_status,
               description=f"{policy.name} refresh on every evaluation while on "
                           f"({'trading sessions only' if gate_session else 'any time'}).")
    def _sensor(context: dg.SensorEvaluationContext):
        now = datetime.now(tc.TZ)
        cycle = f"{policy.name}-{now:%Y%m%dT%H%M%S}"  # evaluations may come faster than minutes
        return evaluate_policy_tick(context.instance, policy, now, context.log, gate_session,
                                    cycle=cycle)

    return _sensor


def build_sensors(job_names: set[str] | frozenset[str] = frozenset()) -> list[dg.SensorDefinition]:
    """The sensors to register; the analysis sensor only once its job exists in the location."""
    sensors = [run_failure_alert_sensor, calendar_horizon_sensor]
    if ANALYSIS_JOB in job_names:
        sensors.append(build_analysis_sensor())
    return sensors
