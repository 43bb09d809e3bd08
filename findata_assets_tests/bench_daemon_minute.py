"""The daemon's minute: on a real `dagster-daemon`, as production runs it, how long after its
scheduled tick the quick lane's table is committed and its intraday minute stored.

    python -m findata_assets_tests.bench_daemon_minute [--ticks 12] [--at 2026-11-30T10:00:40]
        [--latency-ms 100] [--launcher forking|default] [--json FILE]

What it runs: findata_assets_tests/shifted_daemon.py (the services, the code server and
`dagster-daemon run` at a shifted trading instant; `--launcher default` drops the project's forking
run launcher for Dagster's own, a new interpreter per run, to compare the two).

Measured per quick run (tag `dagster/schedule_name` = the quick schedule), from its own event log:
tick = `.dagster/scheduled_execution_time`; table committed = the stock_flow materialization;
intraday minute stored = the stock_flow_intraday materialization. p50 and p95 over the ticks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.defs.refresh.schedules import schedule_names
from findata_assets.settings.operations import WARM_REPORT_IMPORTS_ENV as REPORT_IMPORTS_ENV
from findata_assets.launcher.worker_identity import WORKER_TAG
from findata_assets_tests.bench_env import log
from findata_assets_tests.shifted_daemon import ShiftedDaemon, next_session_instant, shifted_daemon

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _tick_seconds(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict | None:
    tick = run.tags.get(".dagster/scheduled_execution_time")
    if not tick:
        return None
    tick_ts = dt.datetime.fromisoformat(tick).timestamp()
    marks: dict[str, float] = {}
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        key = record.event_log_entry.dagster_event.asset_key.path[-1]
        marks.setdefault(key, record.event_log_entry.timestamp)
    if "stock_flow" not in marks:
        return None
    return {"run_id": run.run_id, "tick": tick, "forked": WORKER_TAG in run.tags,
            "table_s": round(marks["stock_flow"] - tick_ts, 2),
            "intraday_s": (round(marks["stock_flow_intraday"] - tick_ts, 2)
                           if "stock_flow_intraday" in marks else None)}


def _coverage_lines(instance: dg.DagsterInstance, daemon: ShiftedDaemon,
                    first_tick: Optional[dt.datetime]) -> dict:
    """Each family's coverage of the shifted day, and of the stock minutes from the first quick
    tick on: how many are missing or late (the healthy daemon's goal is 0 and 0)."""
    out = {}
    for family in ("stock", "sector"):
        coverage = daemon.coverage(instance, family)
        log(f"coverage {family}: {coverage.summary()}")
        out[family] = coverage.to_dict()
    if first_tick is not None:
        stock = daemon.coverage(instance, "stock")
        out["stock_since_first_tick"] = {
            "from": f"{first_tick:%H:%M}",
            "missing": sum(1 for r in stock.missing for m in range(r.minutes)
                           if r.start + dt.timedelta(minutes=m) >= first_tick),
            "late": sum(1 for m in stock.late if m >= first_tick)}
    return out


def measure(workdir: Path, ticks: int, at: dt.datetime, latency_ms: float,
            launcher: str = "forking") -> dict:
    extra = {REPORT_IMPORTS_ENV: "1"} if os.environ.get(REPORT_IMPORTS_ENV) else {}
    with shifted_daemon(workdir, at, latency_ms, extra, keep_launcher=launcher == "forking") \
            as daemon:
        log(f"waiting for {ticks} quick ticks")
        names = set(schedule_names("quick"))
        deadline = time.monotonic() + 75 * (ticks + 2)
        samples: dict[str, dict] = {}
        with daemon.instance() as instance:
            while len(samples) < ticks and time.monotonic() < deadline:
                time.sleep(5)
                for run in instance.get_runs(dg.RunsFilter(
                        statuses=[dg.DagsterRunStatus.SUCCESS])):
                    if run.tags.get("dagster/schedule_name") in names and \
                            run.run_id not in samples:
                        sample = _tick_seconds(instance, run)
                        if sample:
                            samples[run.run_id] = sample
                            log(f"tick {sample['tick']}: table {sample['table_s']} s, "
                                f"intraday {sample['intraday_s']} s, forked {sample['forked']}")
            failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            ticks_seen = [dt.datetime.fromisoformat(x["tick"]).astimezone(tc.TZ)
                          .replace(tzinfo=None, second=0) for x in samples.values()]
            coverage = _coverage_lines(instance, daemon, min(ticks_seen, default=None))
        for line in daemon.log_lines("daemon"):
            if "imported after the fork" in line:
                log(line)
    ordered = sorted(samples.values(), key=lambda x: x["tick"])
    table = [x["table_s"] for x in ordered]
    intraday = [x["intraday_s"] for x in ordered if x["intraday_s"] is not None]
    # the first tick after the daemon starts also starts the warm worker (through the code
    # server meanwhile): the steady state is every tick after it
    steady = [x["table_s"] for x in ordered[1:]]
    steady_intraday = [x["intraday_s"] for x in ordered[1:] if x["intraday_s"] is not None]
    return {"ticks": len(samples), "failed_runs": len(failed), "at": at.isoformat(),
            "coverage": coverage,
            "launcher": launcher,
            "forked_runs": sum(1 for x in samples.values() if x["forked"]),
            "latency_ms": latency_ms, "samples": sorted(samples.values(), key=lambda x: x["tick"]),
            "table_p50_s": statistics.median(table) if table else None,
            "table_p95_s": percentile(table, 0.95) if table else None,
            "intraday_p50_s": statistics.median(intraday) if intraday else None,
            "intraday_p95_s": percentile(intraday, 0.95) if intraday else None,
            "after_first_tick": {
                "table_p50_s": statistics.median(steady) if steady else None,
                "table_p95_s": percentile(steady, 0.95) if steady else None,
                "intraday_p50_s": statistics.median(steady_intraday) if steady_intraday else None,
                "intraday_p95_s": percentile(steady_intraday, 0.95) if steady_intraday else None}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_daemon_minute",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=12)
    parser.add_argument("--at", type=dt.datetime.fromisoformat, default=None,
                        help="the instant every process believes at the start (Asia/Shanghai "
                             "when naive): a trading session in the future (a clock set back "
                             "puts grpc's deadlines in the past). Default: the next trading "
                             "day, 10:00:40")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--launcher", choices=("forking", "default"), default="forking",
                        help="the project's forking run launcher, or Dagster's default")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    at = args.at or next_session_instant()
    at = at if at.tzinfo else at.replace(tzinfo=tc.TZ)
    if at.timestamp() <= time.time():
        parser.error(f"--at {at.isoformat()} is not in the future")
    with tempfile.TemporaryDirectory(prefix="findata-daemon-bench-") as tmp:
        report = measure(Path(tmp), args.ticks, at, args.latency_ms, args.launcher)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if report["ticks"] >= args.ticks and not report["failed_runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
