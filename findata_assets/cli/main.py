"""Run a refresh policy from the command line, as Dagster runs in the instance at DAGSTER_HOME.

    python -m findata_assets.run full|incremental|quick [--offline] [--no-analysis] [--json FILE]
    python -m findata_assets.run status|stop POLICY
    python -m findata_assets.run retry RUN_ID   (re-execute from failure, from the archive)
    python -m findata_assets.run history [--start D] [--end E]   (the daily history, resumable)

The runs are recorded in the instance with the code location's origin, so they show in the UI
(`dagster dev` with the same DAGSTER_HOME) like any launched run, and `run stop`, the UI's
Terminate or one SIGINT/SIGTERM stop them (CANCELED; no further run starts). One run per policy and
family at a time: a busy lane is refused. `full` ends with the analysis and the report of the
trade date it collected (`--no-analysis` skips them). Exit status 0 only when every run
succeeded; 3 when a lane was busy; 130/143 after SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import dagster as dg

from findata_assets import environment
from findata_assets.cli import data_commands, history, housekeeping, lanes, operations
from findata_assets.cli import runs as cli_runs
from findata_assets.cli.control import StopControl
from findata_assets.cli.execution import (
    RunOutcome, execute_cli_run, execute_planned_runs, reexecute_from_failure)
from findata_assets.cli.instance import open_instance
from findata_assets.defs.location import location, location_covering
from findata_assets.defs.refresh.planning import launches_pods, plan_runs
from findata_assets.defs.refresh.policies import (
    CYCLE_TAG, LANE_TAG, POLICIES, POLICY_TAG, get_policy)
from findata_assets.defs.refresh.schedules import TRADE_DATE_TAG
from findata_assets.settings import SettingsError
from findata_assets.settings.eastmoney import ENV_URL
from findata_assets.settings.operations import InstanceSettings


def resolve_dagster_home() -> Path:
    """DAGSTER_HOME if set; else the checkout (it ships dagster.yaml), else FINDATA_HOME/dagster."""
    configured = InstanceSettings.from_env(environment.current())
    if configured.dagster_home is not None:
        home = configured.dagster_home.resolve()
        if not home.is_dir():
            raise SystemExit(f"DAGSTER_HOME={home} is not a directory; create it first")
        return home
    home = Path.cwd() if Path("dagster.yaml").exists() else \
        configured.findata_home.resolve() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    print(f"note: DAGSTER_HOME is not set; using {home} (set it to see these runs in the UI)",
          file=sys.stderr)
    environment.export("DAGSTER_HOME", str(home))
    return home


@contextlib.contextmanager
def offline_api() -> Iterator[str]:
    """Serve the bundled fake Eastmoney API on loopback; only ever on the user's explicit ask."""
    from findata_assets.fake_eastmoney import FakeEastmoneyServer

    server = FakeEastmoneyServer(host="127.0.0.1", port=0)
    server.start()
    banner = "=" * 78
    print(f"{banner}\nOFFLINE MODE: using the bundled FAKE Eastmoney API at {server.url}\n"
          f"The data below is SYNTHETIC, not market data.\n{banner}", file=sys.stderr)
    try:
        yield server.url
    finally:
        print(f"offline: the fake Eastmoney API served {server.request_count} requests",
              file=sys.stderr)
        server.stop()


def run_policy(policy_name: str, cycle_id: str | None = None, with_analysis: bool = True,
               instance: dg.DagsterInstance | None = None,
               control: StopControl | None = None, verbose: bool = False,
               ) -> list[RunOutcome]:
    """The policy's runs (each stores its intraday minute with its 1d tables), then the
    analysis; raises lanes.LaneBusy before any run when another
    run holds one of its lanes. A stop request (see cli/control.py) ends the current run CANCELED
    and starts no further one."""
    policy = get_policy(policy_name)
    defs = location()
    cycle_id = cycle_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    instance = instance or dg.DagsterInstance.get()
    planned = plan_runs(policy, cycle_id, kubernetes=launches_pods(instance))
    _housekeeping(instance)
    with contextlib.ExitStack() as stack:
        if control is None:
            control = stack.enter_context(StopControl(instance))
        stack.enter_context(lanes.hold(instance, [p.tags[LANE_TAG] for p in planned],
                                       policy.name))
        # The family runs side by side, a thread each. Two things of Dagster's in-process
        # execution are not thread-safe, and the CLI's instance avoids both: compute-log capture
        # (it redirects the process-wide file descriptors 1 and 2; the CLI's instance captures
        # none, cli/instance.py) and yaml `python_logs` handlers (logging.config.dictConfig per
        # run; dagster.yaml configures none).
        outcomes = [] if control.stop_reason else \
            execute_planned_runs(defs, planned, instance, control, verbose)
        # the analysis's trading-day partitions must hold the cycle's day
        defs = location_covering(defs, {t.trade_date for o in outcomes for t in o.tables
                                        if t.trade_date})
        if (policy.with_analysis and with_analysis and not control.stop_reason
                and all(o.success for o in outcomes)):
            outcomes.append(run_analysis(defs, instance, policy.name, cycle_id, outcomes,
                                         control, verbose))
    return outcomes


def _housekeeping(instance: dg.DagsterInstance) -> None:
    """Before a command's runs: free what dead CLIs and failed `dagster job execute`s left."""
    for run_id in cli_runs.release_orphaned_slots(instance):
        print(f"note: freed the Eastmoney pool slot of run {run_id} (its process is gone)",
              file=sys.stderr)
    for run_id in cli_runs.cancel_unstarted(instance):
        print(f"note: canceled run {run_id}, left NOT_STARTED (a wrong partition key?)",
              file=sys.stderr)


def run_analysis(defs: dg.Definitions, instance: dg.DagsterInstance, policy_name: str,
                 cycle_id: str, outcomes: list[RunOutcome],
                 control: StopControl | None = None, verbose: bool = False) -> RunOutcome:
    """The analysis and report of the trade date the cycle stored (the data's date, not the
    clock's). Tagged with the cycle, so the daemon's analysis sensor does not run it again."""
    from findata_assets.cli.analysis_run import (
        ANALYSIS_JOB_NAME,
        run_analysis_report,
    )

    dates = sorted({t.trade_date for o in outcomes for t in o.tables})
    if len(dates) > 1:
        print(f"warning: the cycle stored several trade dates {dates}; analysing the latest",
              file=sys.stderr)
    trade_date = dt.date.fromisoformat(dates[-1])
    started = time.perf_counter()
    result = run_analysis_report(
        defs, trade_date, instance,
        tags={POLICY_TAG: policy_name, CYCLE_TAG: cycle_id, TRADE_DATE_TAG: trade_date.isoformat()},
        execute=lambda job, tags: execute_cli_run(job, tags, instance, control, verbose))
    where = result.report_location or result.report_key
    report = f"{result.status}: {where}" if result.status == "ok" and where else result.status
    if result.narrative_status:
        report += f" (narrative: {result.narrative_status})"
    return RunOutcome(ANALYSIS_JOB_NAME, result.run_id, result.success,
                      round(time.perf_counter() - started, 3),
                      error=None if result.success else result.status, report=report)


def print_report(policy_name: str, outcomes: list[RunOutcome], seconds: float) -> None:
    tables = sorted((t for o in outcomes for t in o.tables), key=lambda t: t.table)
    width = max([len(t.table) for t in tables] + [5])
    print(f"{'table'.ljust(width)}  {'rows':>7}  trade_date  store_s")
    for t in tables:
        print(f"{t.table.ljust(width)}  {t.rows:>7}  {t.trade_date:10}  {t.store_seconds:7.3f}")
    for o in outcomes:
        status = ("ok" if o.success else "CANCELED" if o.status == "CANCELED"
                  else f"FAILED: {o.error}")
        print(f"run {o.run_id} {o.job}: {status} ({o.seconds:.2f} s)")
        if o.report:
            print(f"report: {o.report}")
    total_rows = sum(t.rows for t in tables)
    print(f"{policy_name}: {len(tables)} tables, {total_rows} rows in {seconds:.2f} s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m findata_assets.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, policy in POLICIES.items():
        cmd = sub.add_parser(name, help=f"refresh: {policy.description}")
        cmd.add_argument("--offline", action="store_true",
                         help="use the bundled fake Eastmoney API (synthetic data)")
        cmd.add_argument("--json", metavar="FILE", help="also write the outcome as JSON")
        _add_verbose(cmd)
        cmd.add_argument("--no-analysis", action="store_true",
                         help="store the tables only, no analysis and report" if
                         policy.with_analysis else "(no analysis follows this policy anyway)")
    retry = sub.add_parser("retry", help="re-execute a failed or canceled run from failure "
                                         "(stores from the archive, no API calls)")
    retry.add_argument("run_id")
    _add_verbose(retry)
    operations.add_commands(sub)
    data_commands.add_commands(sub)
    housekeeping.add_commands(sub)
    history.add_commands(sub)
    return parser


def _add_verbose(command: argparse.ArgumentParser) -> None:
    command.add_argument("--verbose", action="store_true",
                         help="also print Dagster's event stream (always in the run's logs)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    resolve_dagster_home()
    if args.command in operations.COMMANDS:
        return operations.run_command(args)
    if args.command in data_commands.COMMANDS:
        return data_commands.run_command(args)
    if args.command in housekeeping.COMMANDS:
        return housekeeping.run_command(args)
    started = time.perf_counter()
    instance = open_instance()
    # StopControl first: it owns SIGINT/SIGTERM before any other thread starts (the fake)
    with StopControl(instance) as control, contextlib.ExitStack() as stack:
        if getattr(args, "offline", False):
            environment.export(ENV_URL, stack.enter_context(offline_api()))
        try:
            if args.command in history.COMMANDS:
                return history.run_command(args, instance, control)
            outcomes = _run_command(args, instance, control)
        except SettingsError as exc:  # a malformed setting: one line naming the variable
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except lanes.LaneBusy as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except ValueError as exc:  # retry of a run that cannot be re-executed
            print(f"error: {exc}", file=sys.stderr)
            return 2
    seconds = time.perf_counter() - started
    for outcome in outcomes:  # the data's trade date, known once stored: operators filter by it
        dates = sorted({t.trade_date for t in outcome.tables if t.trade_date})
        if outcome.run_id and dates:  # a crawl run (the analysis run is tagged when launched)
            instance.add_run_tags(outcome.run_id, {TRADE_DATE_TAG: ",".join(dates)})
    print_report(args.command, outcomes, seconds)
    if control.stop_reason:
        stored = sum(len(o.tables) for o in outcomes)
        print(f"stopped: {control.stop_reason}; {stored} table(s) stored before the stop, "
              "no further run started", file=sys.stderr)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(
            {"policy": args.command, "seconds": seconds, "runs": [asdict(o) for o in outcomes]},
            indent=2, ensure_ascii=False))
    if control.stop_reason:
        return control.exit_code
    return 0 if outcomes and all(o.success for o in outcomes) else 1


def _run_command(args: argparse.Namespace, instance: dg.DagsterInstance,
                 control: StopControl) -> list[RunOutcome]:
    if args.command == "retry":
        parent = instance.get_run_by_id(args.run_id)
        lane = parent.tags.get(LANE_TAG) if parent else None
        _housekeeping(instance)
        with lanes.hold(instance, [lane] if lane else [], parent.tags.get(POLICY_TAG, "")
                        if parent else ""):  # a retry writes the same tables as its lane's runs
            return [reexecute_from_failure(location(), args.run_id, instance, control,
                                           args.verbose)]
    return run_policy(args.command, with_analysis=not getattr(args, "no_analysis", False),
                      instance=instance, control=control, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
