"""Operator commands on a policy, against the instance at DAGSTER_HOME (subcommands of the CLI).

    python -m findata_assets.run status POLICY [--limit N] [--json]
    python -m findata_assets.run stop POLICY [--wait SECONDS]

status: the policy's schedule state and its latest cycles, each with its runs (status, start,
duration, tables stored). stop: turns the policy's schedule (and its on-demand sensor) off and
terminates its queued and running runs, waiting for them to finish terminating.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorStatus

from findata_assets import trading_calendar as tc
from findata_assets.cli import runs as cli_runs
from findata_assets.defs.eastmoney.families import TABLE_ASSETS
from findata_assets.defs.refresh.policies import CYCLE_TAG, LANE_TAG, POLICIES, POLICY_TAG
from findata_assets.defs.refresh.schedules import IN_FLIGHT, schedule_names
from findata_assets.defs.refresh.sensors import STOPPED_TAG

MAX_RETRIES_TAG = "dagster/max_retries"  # read by Dagster's run-retry daemon


@dataclass
class RunInfo:
    run_id: str
    job: str
    lane: str
    status: str
    start: str | None
    seconds: float | None
    tables: int


@dataclass
class CycleInfo:
    cycle: str
    status: str
    start: str | None
    seconds: float | None
    tables: int
    runs: list[RunInfo] = field(default_factory=list)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tc.TZ).isoformat(timespec="seconds") if ts else None


def tables_stored(instance: dg.DagsterInstance, run_id: str) -> int:
    """Table partitions materialized by the run (each is one warehouse table)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return sum(1 for r in records
               if r.event_log_entry.dagster_event.asset_key.path[-1] in TABLE_ASSETS)


def _cycle_status(statuses: set[str]) -> str:
    for status in ("STARTED", "STARTING", "QUEUED", "NOT_STARTED", "CANCELING", "FAILURE",
                   "CANCELED"):
        if status in statuses:
            return status
    return "SUCCESS" if statuses == {"SUCCESS"} else ",".join(sorted(statuses))


def policy_cycles(instance: dg.DagsterInstance, policy_name: str, limit: int = 10,
                  ) -> list[CycleInfo]:
    """The latest `limit` cycles of a policy, newest first."""
    records = instance.get_run_records(dg.RunsFilter(tags={POLICY_TAG: policy_name}),
                                       limit=limit * 4)
    cycles: dict[str, CycleInfo] = {}
    spans: dict[str, list[float]] = {}  # the cycle's runs' start and end times
    for record in records:  # newest first
        run = record.dagster_run
        cycle = run.tags.get(CYCLE_TAG, run.run_id)
        if cycle not in cycles:
            if len(cycles) == limit:
                continue
            cycles[cycle] = CycleInfo(cycle, "", None, None, 0)
        end = record.end_time or (time.time() if run.status in IN_FLIGHT else None)
        seconds = round(end - record.start_time, 1) if record.start_time and end else None
        spans.setdefault(cycle, []).extend(t for t in (record.start_time, end) if t)
        cycles[cycle].runs.append(RunInfo(
            run.run_id, run.job_name, run.tags.get(LANE_TAG, ""), run.status.value,
            _iso(record.start_time), seconds, tables_stored(instance, run.run_id)))
    for info in cycles.values():
        info.runs.sort(key=lambda r: r.lane)
        info.status = _cycle_status({r.status for r in info.runs})
        starts = [r.start for r in info.runs if r.start]
        info.start = min(starts) if starts else None
        # first start to last end: the runs of a CLI cycle run one after the other
        times = spans.get(info.cycle) or []
        info.seconds = round(max(times) - min(times), 1) if len(times) > 1 else None
        info.tables = sum(r.tables for r in info.runs)
    return list(cycles.values())


def instigator_states(instance: dg.DagsterInstance, policy_name: str) -> list:
    """Stored states of the policy's schedule and on-demand sensor (what the daemon obeys)."""
    names = {*schedule_names(policy_name), f"{policy_name}_refresh_now"}
    states = []
    for kind in (InstigatorType.SCHEDULE, InstigatorType.SENSOR):
        states += [s for s in instance.all_instigator_state(instigator_type=kind)
                   if s.name in names]
    return states


@dataclass
class StopReport:
    instigators_stopped: list[str]
    runs: dict[str, str]  # run id -> final status
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(status not in {s.value for s in IN_FLIGHT} for status in self.runs.values())


def stop_policy(instance: dg.DagsterInstance, policy_name: str, wait_s: float = 15.0,
                ) -> StopReport:
    report = StopReport([], {})
    for state in instigator_states(instance, policy_name):
        if state.status in (InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE):
            instance.update_instigator_state(state.with_status(InstigatorStatus.STOPPED))
            report.instigators_stopped.append(state.name)
    if not report.instigators_stopped:
        report.notes.append(f"no running schedule state for {', '.join(schedule_names(policy_name))} "
                            "on this instance (already off, or never started)")
    # schedules first, so no new cycle starts while we terminate the current one
    deadline = time.monotonic() + wait_s
    handled: set[str] = set()
    while True:
        # re-query: a run retry or a tick already under way may add runs while we stop
        for run in instance.get_runs(dg.RunsFilter(tags={POLICY_TAG: policy_name},
                                                   statuses=IN_FLIGHT)):
            if run.run_id not in handled:
                handled.add(run.run_id)
                _terminate(instance, run, report)
        for run_id in handled:
            run = instance.get_run_by_id(run_id)
            report.runs[run_id] = run.status.value if run else "MISSING"
        if report.ok or time.monotonic() >= deadline:
            return report
        time.sleep(0.25)


def _terminate(instance: dg.DagsterInstance, run: dg.DagsterRun, report: StopReport) -> None:
    # A run interrupted while starting ends FAILURE, not CANCELED, and run retries would bring
    # it back: opt it out of retries first.
    instance.add_run_tags(run.run_id, {MAX_RETRIES_TAG: "0", STOPPED_TAG: "operator"})
    try:
        if run.status == dg.DagsterRunStatus.NOT_STARTED:
            instance.report_run_canceled(run, message="stopped by the operator")
        elif not instance.run_coordinator.cancel_run(run.run_id):
            if cli_runs.cli_process(run) is None:
                report.notes.append(f"{run.run_id}: could not reach its run worker")
                return
            # a CLI run has no run worker: its CLI watches for CANCELING and cancels it itself
            current = instance.get_run_by_id(run.run_id)
            if current and current.status == dg.DagsterRunStatus.STARTED:
                instance.report_run_canceling(current, message="stopped by the operator")
    except Exception as exc:  # noqa: BLE001 - keep stopping the others
        report.notes.append(f"{run.run_id}: {type(exc).__name__}: {exc}")


def _print_status(instance: dg.DagsterInstance, policy_name: str, limit: int) -> None:
    policy = POLICIES[policy_name]
    states = {s.name: s.status.value for s in instigator_states(instance, policy_name)}
    schedules = ", ".join(f"{name}: {states.get(name, 'no state (off by default)')}"
                          for name in schedule_names(policy_name))
    print(f"policy {policy.name}: {policy.description}; cron {policy.cron} (Asia/Shanghai); "
          f"schedules {schedules}")
    cycles = policy_cycles(instance, policy_name, limit)
    if not cycles:
        print("no cycles recorded on this instance")
    for c in cycles:
        secs = f"{c.seconds:.1f}s" if c.seconds is not None else "-"
        print(f"{c.cycle:32} {c.status:10} start {c.start or '-':25} {secs:>8} tables {c.tables}")
        for r in c.runs:
            rsecs = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
            print(f"    {r.run_id[:8]} {r.lane:18} {r.status:10} {rsecs:>8} tables {r.tables}")


COMMANDS = ("status", "stop")


def add_commands(sub) -> None:
    """The operator commands, as subcommands of `python -m findata_assets.run`."""
    status = sub.add_parser("status", help="list the latest cycles of a policy")
    status.add_argument("policy", choices=sorted(POLICIES))
    status.add_argument("--limit", type=int, default=10)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stop = sub.add_parser("stop", help="turn a policy's schedules off and terminate its runs")
    stop.add_argument("policy", choices=sorted(POLICIES))
    stop.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the runs")


def run_command(args) -> int:
    from findata_assets.cli.instance import open_instance

    with open_instance() as instance:
        if args.command == "status":
            if args.json:
                print(json.dumps([asdict(c) for c in policy_cycles(instance, args.policy,
                                                                    args.limit)], indent=2))
            else:
                _print_status(instance, args.policy, args.limit)
            return 0
        report = stop_policy(instance, args.policy, args.wait)
        for name in report.instigators_stopped:
            print(f"turned off {name}")
        for run_id, status in report.runs.items():
            print(f"run {run_id}: {status}")
        for note in report.notes:
            print(f"note: {note}")
        print(f"{args.policy}: {'stopped' if report.ok else 'NOT fully stopped'} "
              f"({len(report.runs)} run(s) terminated)")
        return 0 if report.ok else 1
