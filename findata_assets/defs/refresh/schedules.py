"""The refresh schedules, driven by POLICIES and gated by the trading calendar.

Each tick asks for one ranged run per table family (planning.plan_runs), not a run per
partition: the very runs the CLI makes (same job, range and tags). A schedule launches runs of
exactly one job, so there is one schedule per policy and family (`full_stock_refresh_schedule`,
`full_sector_refresh_schedule`, ...), each targeting its family job; the ticks of a policy's
schedules share one cycle id.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dagster as dg

from findata_assets import environment
from findata_assets import trading_calendar as tc
from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.metadata_keys import RETRY_BEFORE_TAG
from findata_assets.defs.refresh.planning import launches_pods, plan_runs
from findata_assets.defs.refresh.policies import LANE_TAG, POLICIES, RefreshPolicy
from findata_assets.eastmoney.catalog import TableKind
from findata_assets.settings.operations import schedules_running

KINDS: tuple[TableKind, ...] = ("stock", "sector")
TRADE_DATE_TAG = "findata/trade_date"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.CANCELING]

# the words a skipped tick's reason carries, read back by coverage (defs/intraday/attempts.py)
BUSY_SKIP = "previous run(s) still in progress"
STALE_SKIP = "evaluated late"
# A tick evaluated this long after its time is skipped: the daemon was down or stalled, and a
# run now would store the current minute under a catch-up tick, holding the lane from the ticks
# that are on time (Dagster catches up missed ticks of partitioned jobs after a restart).
STALE_TICK = timedelta(seconds=45)
# What a crawl step's retry needs before the lane's next tick (its attempt and the run's end): a
# retry that would start later is not taken, so a failing API costs its own minutes, not the
# next tick's (which would be skipped as "lane busy" behind it).
RETRY_ROOM = timedelta(seconds=20)

log = logging.getLogger(__name__)


def schedule_name(policy_name: str, kind: TableKind) -> str:
    return f"{policy_name}_{kind}_refresh_schedule"


def policy_kinds(policy: RefreshPolicy) -> tuple[TableKind, ...]:
    """The families a policy refreshes (quick: stocks only)."""
    return tuple(kind for kind in KINDS if policy.partitions(kind))


def schedule_names(policy_name: str) -> list[str]:
    """A policy's schedules (an unknown policy, a test's own: one per family it might have)."""
    policy = POLICIES.get(policy_name)
    return [schedule_name(policy_name, kind) for kind in (policy_kinds(policy) if policy else KINDS)]


def cycle_id(policy_name: str, when: datetime) -> str:
    """Deterministic per tick, so a re-evaluated tick never doubles its runs."""
    return f"{policy_name}-{when.astimezone(tc.TZ):%Y%m%dT%H%M}"


def policy_lanes(policy: RefreshPolicy, kinds: tuple[TableKind, ...] = KINDS) -> list[str]:
    return list(dict.fromkeys(run.tags[LANE_TAG]
                              for run in plan_runs(policy, "lanes", kinds=kinds)))


def in_flight_runs(instance: dg.DagsterInstance, policy: RefreshPolicy,
                   kinds: tuple[TableKind, ...] = KINDS) -> list[dg.DagsterRun]:
    runs: list[dg.DagsterRun] = []
    for lane in policy_lanes(policy, kinds):
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


def run_requests(policy: RefreshPolicy, cycle: str, trade_date: str,
                 kinds: tuple[TableKind, ...] = KINDS, kubernetes: bool = False,
                 extra_tags: dict[str, str] | None = None) -> list[dg.RunRequest]:
    """The cycle's runs of `kinds`, for the family jobs (the CLI executes the same plan)."""
    return [dg.RunRequest(
        # per cycle and range: requested once, also when FINDATA_RUN_SPLIT=group splits a family
        run_key=f"{cycle}:{planned.kind}:{planned.partition_keys[0]}",
        job_name=planned.job_name,
        tags={**planned.tags, TRADE_DATE_TAG: trade_date, **(extra_tags or {})})
        for planned in plan_runs(policy, cycle, kinds=kinds, kubernetes=kubernetes)]


def evaluate_policy_tick(instance: dg.DagsterInstance, policy: RefreshPolicy, now: datetime,
                         logger: logging.Logger | None = None, gate_session: bool = True,
                         cycle: str | None = None, kinds: tuple[TableKind, ...] | None = None,
                         evaluated_at: datetime | None = None,
                         ) -> list[dg.RunRequest] | dg.SkipReason:
    """One tick of a policy (of some of its families): a skip with its reason, or the cycle's
    run requests. `evaluated_at`: the real time of a scheduled tick's evaluation (a session
    tick evaluated more than STALE_TICK after `now` is skipped)."""
    kinds = kinds or policy_kinds(policy)
    logger = logger or log
    state = tc.session_state(now)
    if state.beyond_horizon:
        logger.warning("!!! %s is past the trading calendar's horizon %s: using the weekday "
                       "fallback plus operator holidays (%s). !!!", state.day,
                       tc.calendar_horizon(), tc.HOLIDAYS_FILE_ENV)
    if gate_session and (reason := session_skip(policy, state)):
        return dg.SkipReason(f"{policy.name}: {reason}")
    if evaluated_at is not None and policy.window == "session" and \
            evaluated_at - now > STALE_TICK:
        return dg.SkipReason(
            f"{policy.name}: tick {now.astimezone(tc.TZ):%H:%M} {STALE_SKIP}: "
            f"{(evaluated_at - now).total_seconds():.0f} s after its time (the daemon was not "
            f"running then); its minute is not fetched under a later one")
    busy = in_flight_runs(instance, policy, kinds)
    if busy:  # never stack a cycle on a running one: the next tick catches up
        ids = ", ".join(f"{r.run_id[:8]} ({r.status.value})" for r in busy)
        return dg.SkipReason(f"{policy.name}: {BUSY_SKIP}: {ids}")
    trade_date = state.day if state.kind in ("open", "auction", "after_close") \
        else tc.latest_trading_day(now)
    extra_tags = {}
    # a lane ticking in session whose next tick is in session too (11:30 and 15:00 retry on)
    if evaluated_at is not None and policy.window == "session" and \
            session_skip(policy, tc.session_state(now + policy.cadence)) is None:
        extra_tags[RETRY_BEFORE_TAG] = (now + policy.cadence - RETRY_ROOM).isoformat(
            timespec="seconds")
    return run_requests(policy, cycle or cycle_id(policy.name, now), trade_date.isoformat(), kinds,
                        kubernetes=launches_pods(instance), extra_tags=extra_tags)


def _default_status() -> dg.DefaultScheduleStatus:
    running = schedules_running(environment.current())
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def build_policy_schedule(policy: RefreshPolicy, kind: TableKind, gate_session: bool = True,
                          default_status: dg.DefaultScheduleStatus | None = None,
                          ) -> dg.ScheduleDefinition:
    """gate_session=False is for tests only: every cron tick runs, whatever the calendar says."""

    @dg.schedule(
        name=schedule_name(policy.name, kind),
        cron_schedule=policy.cron,
        job=FAMILY_JOB_DEFS[kind],
        execution_timezone=tc.TZ_NAME,
        default_status=default_status or _default_status(),
        tags={"findata/policy": policy.name},
        description=f"{policy.name} refresh of the {kind} tables: {policy.description}; "
                    f"{policy.cron} on trading days (Asia/Shanghai), one ranged run.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or datetime.now(tc.TZ)
        return evaluate_policy_tick(context.instance, policy, now, context.log, gate_session,
                                    kinds=(kind,), evaluated_at=datetime.now(tc.TZ))

    return _schedule


def build_policy_schedules(policy: RefreshPolicy, gate_session: bool = True,
                           default_status: dg.DefaultScheduleStatus | None = None,
                           ) -> list[dg.ScheduleDefinition]:
    return [build_policy_schedule(policy, kind, gate_session, default_status)
            for kind in policy_kinds(policy)]


SCHEDULES = [schedule for policy in POLICIES.values()
             for schedule in build_policy_schedules(policy)]
