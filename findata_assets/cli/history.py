"""`python -m findata_assets.run history [--start D] [--end E] [--offline]`: the daily history of
a range of trading days, as one run of daily_history_job in the instance (it shows in the UI
and stops like any run), each security fetched once for the range. Without --start: as far
back as the source keeps (~120 sessions); without --end: the last closed session. A command
a user types runs at once, in session too (it says so); background runs wait for the close
(FINDATA_HISTORY_WINDOW). Progress: a bar on a terminal, a line every 10 s otherwise.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

COMMANDS = ("history",)
LINE_EVERY_S = 10.0


def add_commands(sub) -> None:
    cmd = sub.add_parser("history", help="fetch the daily history of a range of trading days "
                                         "(each security once; resumable)")
    cmd.add_argument("--start", help="first day YYYY-MM-DD (default: the oldest the source "
                                     "keeps, ~120 sessions back)")
    cmd.add_argument("--end", help="last day YYYY-MM-DD (default: the last closed session)")
    cmd.add_argument("--offline", action="store_true",
                     help="use the bundled fake Eastmoney API (synthetic data)")
    cmd.add_argument("--verbose", action="store_true",
                     help="also print Dagster's event stream (always in the run's logs)")


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--{name} must be a date YYYY-MM-DD, got {value!r}") from None


class _Printer:
    """The backfill's progress: a bar redrawn in place on a terminal, else a line now and then."""

    def __init__(self, stream=None) -> None:
        from findata_assets.history.progress import Throttle

        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.line_due = Throttle(LINE_EVERY_S)

    def on_event(self, kind: str, text: str) -> None:
        """A ban, a wait, the open session: one line, said once by the run."""
        if self.tty:
            self.stream.write("\r\033[K")
        print(f"history: {text}", file=self.stream, flush=True)

    def __call__(self, progress, final: bool) -> None:
        if self.tty:
            width = 30
            filled = int(width * progress.done / progress.total) if progress.total else width
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {progress.line()}\033[K" + ("\n" if final else ""))
            self.stream.flush()
        elif self.line_due(final):
            print(f"history: {progress.line()}", file=self.stream, flush=True)


def run_command(args, instance, control) -> int:
    from findata_assets.cli.execution import execute_cli_run, outcome_of
    from findata_assets.defs import metadata_keys as keys
    from findata_assets.defs.history.assets import HISTORY_JOB_NAME, RUN_NOW_TAG
    from findata_assets.defs.location import location
    from findata_assets.history import progress
    from findata_assets.history.sessions import last_closed_session, source_first_day

    end = _date(args.end, "end") or last_closed_session()
    start = _date(args.start, "start") or source_first_day()
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    job = location().resolve_job_def(HISTORY_JOB_NAME)
    keys_known = job.partitions_def.get_partition_keys()
    from findata_assets import trading_calendar as tc

    days = [d.isoformat() for d in tc.trading_days(start, end)]
    if not days:
        raise ValueError(f"{start}..{end} holds no trading day")
    outside = [d for d in days if d not in keys_known]
    if outside:
        raise ValueError(f"{outside[0]} is not a day the history can hold: the partitions run "
                         f"{keys_known[0]}..{keys_known[-1]} (the source keeps ~120 sessions; "
                         f"the last closed session is {last_closed_session()})")
    printer = _Printer()
    progress.listen(printer)
    started = time.perf_counter()
    try:
        # Dagster's console shows nothing but a crash: the run's warnings come as the
        # printer's lines, its failure as the one line below (the trace stays in the run's log)
        result = execute_cli_run(job, {keys.RANGE_START_TAG: days[0], keys.RANGE_END_TAG: days[-1],
                                       RUN_NOW_TAG: "1"}, instance, control, args.verbose,
                                 console_level="CRITICAL")
    finally:
        progress.unlisten(printer)
    outcome = outcome_of(result, job.name, time.perf_counter() - started, instance)
    _print_days(instance, outcome.run_id)
    error = (outcome.error or "").replace("dagster._core.definitions.events.Failure: ", "")
    status = "ok" if outcome.success else f"FAILED: {error}"
    print(f"run {outcome.run_id} {job.name} {days[0]}..{days[-1]}: {status} "
          f"({outcome.seconds:.1f} s)")
    if control.stop_reason:
        print(f"stopped: {control.stop_reason}; what was fetched is archived: run the same "
              "command again to resume", file=sys.stderr)
        return control.exit_code
    return 0 if outcome.success else 1


def _print_days(instance, run_id: str) -> None:
    """One line per day: stored rows of stocks, boards and the market, and what is missing."""
    import dagster as dg

    from findata_assets.defs.history.assets import ASSETS

    by_day: dict[str, dict[str, dict]] = {}
    for kind, name in ASSETS.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(name)), limit=1000).records
        for record in records:
            if record.run_id != run_id:
                continue
            m = record.asset_materialization
            if m.partition and "stored" in m.metadata:
                by_day.setdefault(m.partition, {})[kind] = {k: v.value for k, v in
                                                            m.metadata.items()}
    for day in sorted(by_day):
        parts = []
        for kind in ("stock", "board", "market"):
            meta = by_day[day].get(kind)
            if meta:
                text = f"{kind} {meta['stored']:,}/{meta['expected']:,}"
                if meta.get("failed"):
                    text += f" ({meta['failed']} failed)"
                parts.append(text)
        print(f"{day}: " + ", ".join(parts))
