"""The stall alert: in session, when no new intraday minute has been stored for
FINDATA_STALL_ALERT_MINUTES (3 by default), one alert through FINDATA_ALERT_WEBHOOK naming the
lane, the last minute stored and the likely cause; one line when minutes flow again. Nothing
outside the session, at lunch or on a closed day (coverage/stall.py decides)."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from findata_assets import environment
from findata_assets import trading_calendar as tc
from findata_assets.coverage.session_minutes import CADENCE_MINUTES
from findata_assets.coverage.stall import StallState, decide
from findata_assets.defs.intraday.attempts import FEEDING, IN_FLIGHT, failure_of
from findata_assets.defs.refresh import alerts
from findata_assets.defs.refresh.policies import LANE_TAG, POLICIES
from findata_assets.settings.operations import stall_minutes
from findata_assets.storage.intraday import TABLES

SENSOR_NAME = "intraday_minutes_stalled"


def _local(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tc.TZ).replace(tzinfo=None)


def stall_state(instance: dg.DagsterInstance, family: str) -> StallState:
    event = instance.get_latest_materialization_event(dg.AssetKey(TABLES[family]))
    if event is None or event.asset_materialization is None:
        return StallState(None, None)
    minute = event.asset_materialization.metadata.get("minute")
    return StallState(_local(event.timestamp), getattr(minute, "value", None))


def _failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    outcome, detail = failure_of(instance, run.run_id)
    return ("API unavailable: " if outcome == "api_unavailable" else "run failed: ") + detail


def likely_cause(instance: dg.DagsterInstance, lane: str, now: dt.datetime) -> str:
    """What the lane's newest runs say: an error, a run holding the lane past its tick, or no
    run. A run started within the lane's cadence is the current try, not a cause: the run
    before it names the cause (an outage shows as failing runs, each holding the lane a while)."""
    records = instance.get_run_records(dg.RunsFilter(tags={LANE_TAG: lane}), limit=5)
    if not records:
        return "no run of the lane at all: is the daemon running with its schedules on?"
    newest = records[0]
    run, created = newest.dagster_run, _local(newest.create_timestamp.timestamp())
    age = (now - created).total_seconds()
    cadence = POLICIES[lane.split(":")[0]].cadence.total_seconds()
    if run.status in IN_FLIGHT:
        holding = f"run {run.run_id[:8]} is {run.status.value} since {created:%H:%M:%S} " \
                  f"({age:.0f} s)"
        if age >= cadence:
            return f"lane busy: {holding}"
        before = next((r.dagster_run for r in records[1:]
                       if r.dagster_run.status not in IN_FLIGHT), None)
        if before is not None and before.status == dg.DagsterRunStatus.FAILURE:
            return f"{_failure(instance, before)}; {holding}"
        return f"in progress: {holding}, its minute not stored yet"
    if run.status == dg.DagsterRunStatus.FAILURE:
        return _failure(instance, run)
    if age > cadence + 30:
        return (f"no tick: the lane's newest run started at {created:%H:%M} "
                "(is the daemon's scheduler running, the schedule on?)")
    return f"the lane's newest run {run.run_id[:8]} ended {run.status.value}"


@dg.sensor(name=SENSOR_NAME, minimum_interval_seconds=20,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="In session: alert (FINDATA_ALERT_WEBHOOK) once when no intraday minute "
                       "was stored for FINDATA_STALL_ALERT_MINUTES (3), and once when minutes "
                       "flow again.")
def stall_alert_sensor(context: dg.SensorEvaluationContext):
    now = dt.datetime.now(tc.TZ).replace(tzinfo=None)
    stall = dt.timedelta(minutes=stall_minutes(environment.current()))
    open_outages = json.loads(context.cursor) if context.cursor else {}
    said = []
    for family in TABLES:
        lane = f"{FEEDING[family][0]}:{family}"
        state = stall_state(context.instance, family)
        action = decide(now, state, family in open_outages, stall, CADENCE_MINUTES[family])
        if action == "alert":
            cause = likely_cause(context.instance, lane, now)
            last = state.last_minute or "none today"
            alerts.post_alert(alerts.Alert(
                f"findata: no new {TABLES[family]} minute for {stall.seconds // 60} min",
                [f"lane: {lane}", f"last minute stored: {last}", f"likely cause: {cause}",
                 f"at: {now:%Y-%m-%d %H:%M:%S} (Asia/Shanghai)"],
                alerts.ui_link("runs")), logger=context.log)
            open_outages[family] = {"last_minute": last, "at": now.isoformat()}
            said.append(f"alerted: {family} stalled since {last}")
        elif action == "recovered":
            since = open_outages.pop(family)
            alerts.post_alert(alerts.Alert(
                f"findata: {TABLES[family]} minutes flow again",
                [f"lane: {lane}", f"minute {state.last_minute} stored at "
                 f"{state.last_stored_at:%H:%M:%S}; the last before the outage: "
                 f"{since['last_minute']}"]), logger=context.log)
            said.append(f"recovered: {family} at {state.last_minute}")
    context.update_cursor(json.dumps(open_outages))
    return dg.SkipReason("; ".join(said) or (
        "minutes flowing" if tc.session_state(now).refresh else "outside the session"))
