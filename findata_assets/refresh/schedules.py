"""The three refresh schedules, driven by POLICIES and gated by the trading calendar.

Each tick asks for one ranged run per table family (refresh.planning.plan_runs), not a run per
partition. A schedule launches runs of exactly one job, and no asset job may mix the stock and
sector partition definitions, so the schedules target Dagster's implicit asset job and each run
request selects one family's two assets: the two runs of a tick are the same runs as
`stock_flow_job` / `sector_flow_job` would make (same assets, range and tags).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney.assets import raw_asset_name, table_asset_name
from findata_assets.refresh.planning import plan_runs
from findata_assets.refresh.policies import LANE_TAG, POLICIES, RefreshPolicy

ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job over all assets (mixed partition defs allowed)
TRADE_DATE_TAG = "findata/trade_date"
SCHEDULES_STATUS_ENV = "FINDATA_SCHEDULES"  # "running": schedules start on when deployed
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.CANCELING]

log = logging.getLogger(__name__)


def schedule_name(policy_name: str) -> str:
    return f"{policy_name}_refresh_schedule"


def cycle_id(policy_name: str, when: datetime) -> str:
    """Deterministic per tick, so a re-evaluated tick never doubles its runs."""
    return f"{policy_name}-{when.astimezone(tc.TZ):%Y%m%dT%H%M}"


def policy_lanes(policy: RefreshPolicy) -> list[str]:
    return [run.tags[LANE_TAG] for run in plan_runs(policy, "lanes")]


def in_flight_runs(instance: dg.DagsterInstance, policy: RefreshPolicy) -> list[dg.DagsterRun]:
    runs: list[dg.DagsterRun] = []
    for lane in policy_lanes(policy):
        runs += instance.get_runs(dg.RunsFilter(tags={LANE_TAG: lane}, statuses=IN_FLIGHT),
                                  limit=5)
    return runs


def session_skip(policy: RefreshPolicy, state: tc.SessionState) -> str | None:
    """Why this policy must not run at this instant, or None."""
    if policy.window == "session":
        return None if state.refresh else state.reason
    if state.kind == "after_close":
        return None
    if state.kind in ("weekend", "holiday"):
        return state.reason
    return f"{policy.name} refresh waits for the close: {state.reason}"


def run_requests(policy: RefreshPolicy, cycle: str, trade_date: str) -> list[dg.RunRequest]:
    requests = []
    for planned in plan_runs(policy, cycle):
        keys = [dg.AssetKey(raw_asset_name(planned.kind)), dg.AssetKey(table_asset_name(planned.kind))]
        requests.append(dg.RunRequest(
            run_key=f"{cycle}:{planned.kind}",  # cycle id per family: requested once
            asset_selection=keys,
            tags={**planned.tags, TRADE_DATE_TAG: trade_date}))
    return requests


def evaluate_policy_tick(instance: dg.DagsterInstance, policy: RefreshPolicy, now: datetime,
                         logger: logging.Logger | None = None, gate_session: bool = True,
                         cycle: str | None = None) -> list[dg.RunRequest] | dg.SkipReason:
    """One tick of a policy: a skip with its reason, or the cycle's run requests."""
    logger = logger or log
    state = tc.session_state(now)
    if state.beyond_horizon:
        logger.warning("!!! %s is past the trading calendar's horizon %s: using the weekday "
                       "fallback plus operator holidays (%s). !!!", state.day,
                       tc.calendar_horizon(), tc.HOLIDAYS_FILE_ENV)
    if gate_session and (reason := session_skip(policy, state)):
        return dg.SkipReason(f"{policy.name}: {reason}")
    busy = in_flight_runs(instance, policy)
    if busy:  # never stack a cycle on a running one: the next tick catches up
        ids = ", ".join(f"{r.run_id[:8]} ({r.status.value})" for r in busy)
        return dg.SkipReason(f"{policy.name}: previous run(s) still in progress: {ids}")
    trade_date = state.day if state.kind in ("open", "auction", "after_close") \
        else tc.latest_trading_day(now)
    return run_requests(policy, cycle or cycle_id(policy.name, now), trade_date.isoformat())


def _default_status() -> dg.DefaultScheduleStatus:
    running = os.environ.get(SCHEDULES_STATUS_ENV, "").lower() == "running"
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def build_policy_schedule(policy: RefreshPolicy, gate_session: bool = True,
                          default_status: dg.DefaultScheduleStatus | None = None,
                          ) -> dg.ScheduleDefinition:
    """gate_session=False is for tests only: every cron tick runs, whatever the calendar says."""

    @dg.schedule(
        name=schedule_name(policy.name),
        cron_schedule=policy.cron,
        job_name=ASSET_JOB,
        execution_timezone=tc.TZ_NAME,
        default_status=default_status or _default_status(),
        tags={"findata/policy": policy.name},
        description=f"{policy.name} refresh: {policy.description}; {policy.cron} on trading "
                    "days (Asia/Shanghai), one ranged run per table family.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or datetime.now(tc.TZ)
        return evaluate_policy_tick(context.instance, policy, now, context.log, gate_session)

    return _schedule


full_refresh_schedule = build_policy_schedule(POLICIES["full"])
incremental_refresh_schedule = build_policy_schedule(POLICIES["incremental"])
quick_refresh_schedule = build_policy_schedule(POLICIES["quick"])
SCHEDULES = [full_refresh_schedule, incremental_refresh_schedule, quick_refresh_schedule]
