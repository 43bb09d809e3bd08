"""The daemon's minute: on a real `dagster-daemon`, as production runs it, how long after its
scheduled tick the quick lane's table is committed and its intraday minute stored.

    python -m findata_assets_tests.bench_daemon_minute [--ticks 12] [--at 2026-11-30T10:00:40]
        [--latency-ms 100] [--launcher forking|default] [--json FILE]

What it runs (every process believes the same instant, a trading session, shifted by one offset):
- the fake Eastmoney API (`python -m findata_assets.fake_eastmoney`, not frozen: its data minute
  follows its clock), MariaDB (a fresh database) and SeaweedFS (a fresh bucket), as bench.py;
- `dagster api grpc -m findata_assets.definitions` (the code location, schedules on with
  FINDATA_SCHEDULES=running) and `dagster-daemon run` with a workspace that points at it, on a
  DAGSTER_HOME holding the project's dagster.yaml (its forking run launcher; `--launcher
  default` drops it for Dagster's own, a new interpreter per run, to compare the two).
The shift is `time-machine`, started by a `sitecustomize.py` on PYTHONPATH in every process except
the gRPC code server (grpc's poll deadlines read the same clock and stall); the run workers it
starts are shifted again. Nothing is patched in findata: the schedules fire on the daemon's clock.

Measured per quick run (tag `dagster/schedule_name` = the quick schedule), from its own event log:
tick = `.dagster/scheduled_execution_time`; table committed = the stock_flow materialization;
intraday minute stored = the stock_flow_intraday materialization. p50 and p95 over the ticks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from findata_assets import trading_calendar as tc
from findata_assets.defs.refresh.schedules import schedule_names
from findata_assets.settings.operations import WARM_REPORT_IMPORTS_ENV as REPORT_IMPORTS_ENV
from findata_assets.launcher.worker_identity import WORKER_TAG
from findata_assets_tests.bench_env import REPO, clean_environ, log
from findata_assets_tests.bench_session import session
from findata_assets_tests.ports import free_port, wait_for_port

SITECUSTOMIZE = '''
import os, sys, time
_offset = os.environ.get("FINDATA_BENCH_CLOCK_OFFSET_S")
if _offset and "grpc" not in sys.orig_argv:
    import time_machine
    time_machine.travel(time.time() + float(_offset), tick=True).start()
'''
WORKSPACE = """load_from:
  - grpc_server: {{host: 127.0.0.1, port: {port}, location_name: findata}}
"""


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


def _use_launcher(dagster_home: Path, launcher: str) -> None:
    if launcher == "default":
        import yaml

        path = dagster_home / "dagster.yaml"
        config = yaml.safe_load(path.read_text())
        config.pop("run_launcher", None)
        path.write_text(yaml.safe_dump(config))


def measure(workdir: Path, ticks: int, at: dt.datetime, latency_ms: float,
            launcher: str = "forking") -> dict:
    offset = at.timestamp() - time.time()
    shift_dir = workdir / "shift"
    shift_dir.mkdir()
    (shift_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with session(workdir, concurrency=4, timeout_s=120) as s, contextlib.ExitStack() as stack:
        _use_launcher(s.dagster_home, launcher)
        env = {**clean_environ(), **s.s3.env(s.bucket), "FINDATA_DATABASE_URL": s.database_url,
               "FINDATA_HOME": str(workdir / "findata_home"), "DAGSTER_HOME": str(s.dagster_home),
               "FINDATA_SCHEDULES": "running", "PYTHONWARNINGS": "ignore",
               "PYTHONPATH": os.pathsep.join([str(shift_dir), str(REPO)]),
               "FINDATA_BENCH_CLOCK_OFFSET_S": f"{offset:.3f}"}
        if os.environ.get(REPORT_IMPORTS_ENV):  # the run workers say what they imported
            env[REPORT_IMPORTS_ENV] = "1"
        fake_port, grpc_port = free_port(), free_port()
        bin_dir = Path(sys.executable).parent

        def start(name: str, argv: list[str]) -> subprocess.Popen:
            out = open(workdir / f"{name}.log", "ab")
            proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            stack.callback(_stop, proc)
            return proc

        start("fake", [sys.executable, "-m", "findata_assets.fake_eastmoney", "--port",
                       str(fake_port), "--latency-ms", f"{latency_ms:g}"])
        wait_for_port("127.0.0.1", fake_port, 120)
        env["FINDATA_EASTMONEY_URL"] = f"http://127.0.0.1:{fake_port}"
        start("grpc", [str(bin_dir / "dagster"), "api", "grpc", "-m", "findata_assets.definitions",
                       "-h", "127.0.0.1", "-p", str(grpc_port)])
        wait_for_port("127.0.0.1", grpc_port, 180)
        (workdir / "workspace.yaml").write_text(WORKSPACE.format(port=grpc_port))
        start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w",
                         str(workdir / "workspace.yaml")])
        log(f"daemon up; the clock reads {at.isoformat()} now; waiting for {ticks} quick ticks")
        names = set(schedule_names("quick"))
        deadline = time.monotonic() + 75 * (ticks + 2)
        samples: dict[str, dict] = {}
        os.environ["DAGSTER_HOME"] = str(s.dagster_home)  # the project's storage reads it
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(s.dagster_home))) as instance:
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
        for line in (workdir / "daemon.log").read_text(errors="replace").splitlines():
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


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)


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
    at = args.at or dt.datetime.combine(tc.next_trading_day(tc.today()), dt.time(10, 0, 40))
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
