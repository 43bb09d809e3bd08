"""A real `dagster-daemon` at a shifted trading instant, as production runs it: what the daemon
benchmark and the coverage scenarios on the daemon share.

Every process believes the same instant (a trading session), shifted by one offset:
- the fake Eastmoney API (`python -m findata_assets.fake_eastmoney`, not frozen: its data minute
  follows its clock), MariaDB (a fresh database) and SeaweedFS (a fresh bucket), as bench.py;
- `dagster api grpc -m findata_assets.definitions` (the code location, schedules on with
  FINDATA_SCHEDULES=running) and `dagster-daemon run` with a workspace that points at it, on a
  DAGSTER_HOME holding the project's dagster.yaml (its forking run launcher, unless dropped).
The shift is `time-machine`, started by a `sitecustomize.py` on PYTHONPATH in every process; in
the gRPC code server (where the sensors and the schedules' functions run) grpc's own modules keep
the real clock, as its C core's polls do; the run workers are shifted again. Nothing is patched in findata: the schedules fire on the daemon's clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from findata_assets import trading_calendar as tc
from findata_assets.coverage.day_coverage import DayCoverage
from findata_assets.defs.intraday.coverage import day_coverage
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.bench_env import REPO, clean_environ, log
from findata_assets_tests.bench_session import Session, session
from findata_assets_tests.ports import free_port, wait_for_port

SITECUSTOMIZE = '''
import os, sys, time
_offset = os.environ.get("FINDATA_BENCH_CLOCK_OFFSET_S")
if _offset:
    import time_machine
    time_machine.travel(time.time() + float(_offset), tick=True).start()
    if "grpc" in sys.orig_argv:
        # the code server: its sensors and schedules read the shifted clock, grpc's own deadlines
        # the real one (its C core waits on the real clock: a shifted deadline stalls its polls)
        import types
        import grpc._channel, grpc._common, grpc._server, grpc._utilities
        from grpc._cython import cygrpc
        _real = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time)
                                         if not n.startswith("__")})
        _hatch = time_machine.escape_hatch
        _real.time = lambda: _hatch.time.time() if _hatch.is_travelling() else time.time()
        for _module in (grpc._channel, grpc._common, grpc._server, grpc._utilities, cygrpc):
            _module.time = _real
'''
WORKSPACE = """load_from:
  - grpc_server: {{host: 127.0.0.1, port: {port}, location_name: findata}}
"""
BIN = Path(sys.executable).parent


def next_session_instant(at: dt.time = dt.time(10, 0, 40)) -> dt.datetime:
    """`at` on the next trading day: in the future, as the gRPC deadlines need."""
    return dt.datetime.combine(tc.next_trading_day(tc.today()), at, tc.TZ)


@dataclass
class ShiftedDaemon:
    workdir: Path
    offset_s: float
    env: dict[str, str]
    services: Session
    fake_url: str = ""
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    daemon: Optional[subprocess.Popen] = None

    def now(self) -> dt.datetime:
        """The instant the processes believe, in Asia/Shanghai."""
        return dt.datetime.fromtimestamp(time.time() + self.offset_s, tc.TZ)

    def sleep_until(self, moment: dt.datetime) -> None:
        left = (moment - self.now()).total_seconds()
        if left > 0:
            time.sleep(left)

    def at(self, hour: int, minute: int, second: int = 0) -> dt.datetime:
        return self.now().replace(hour=hour, minute=minute, second=second, microsecond=0)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.workdir / f"{name}.log", "ab")
        self.stack.callback(out.close)
        proc = subprocess.Popen(argv, env=self.env, cwd=self.workdir, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.stack.callback(stop_process, proc)
        return proc

    def start_daemon(self) -> None:
        self.daemon = self.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w",
                                            str(self.workdir / "workspace.yaml")])

    def stop_daemon(self) -> None:
        """SIGTERM to the daemon's process group (its warm run worker with it)."""
        if self.daemon is not None:
            stop_process(self.daemon)
            self.daemon = None

    def control_fake(self, **control) -> dict:
        """The fake's control endpoint: fault_rate/fault_kinds, latency_ms."""
        request = urllib.request.Request(f"{self.fake_url}/_fake/control", method="POST",
                                         data=json.dumps(control).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_HOME"] = str(self.services.dagster_home)  # the storage reads it
        return dg.DagsterInstance.from_ref(
            InstanceRef.from_dir(str(self.services.dagster_home)))

    def coverage(self, instance: dg.DagsterInstance, family: str) -> DayCoverage:
        """The shifted day's coverage of `family` so far, as `show coverage` computes it."""
        now = self.now().replace(tzinfo=None)
        warehouse = Warehouse(self.services.database_url)
        try:
            return day_coverage(instance, warehouse, family, now.date(), now)
        finally:
            warehouse.dispose()

    def log_lines(self, name: str) -> list[str]:
        return (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()


@contextlib.contextmanager
def shifted_daemon(workdir: Path, at: dt.datetime, latency_ms: float,
                   extra_env: Optional[Mapping[str, str]] = None,
                   keep_launcher: bool = True) -> Iterator[ShiftedDaemon]:
    """The services, the code server and the daemon, every clock at `at` when this starts."""
    offset = at.timestamp() - time.time()
    shift_dir = workdir / "shift"
    shift_dir.mkdir()
    (shift_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with session(workdir, concurrency=4, timeout_s=120) as s:
        if not keep_launcher:
            _drop_run_launcher(s.dagster_home)
        env = {**clean_environ(), **s.s3.env(s.bucket), "FINDATA_DATABASE_URL": s.database_url,
               "FINDATA_HOME": str(workdir / "findata_home"), "DAGSTER_HOME": str(s.dagster_home),
               "FINDATA_SCHEDULES": "running", "PYTHONWARNINGS": "ignore",
               "PYTHONPATH": os.pathsep.join([str(shift_dir), str(REPO)]),
               "FINDATA_BENCH_CLOCK_OFFSET_S": f"{offset:.3f}", **(extra_env or {})}
        d = ShiftedDaemon(workdir, offset, env, s)
        with d.stack:
            fake_port, grpc_port = free_port(), free_port()
            d.start("fake", [sys.executable, "-m", "findata_assets.fake_eastmoney", "--port",
                             str(fake_port), "--latency-ms", f"{latency_ms:g}"])
            wait_for_port("127.0.0.1", fake_port, 120)
            d.fake_url = env["FINDATA_EASTMONEY_URL"] = f"http://127.0.0.1:{fake_port}"
            d.start("grpc", [str(BIN / "dagster"), "api", "grpc", "-m",
                             "findata_assets.definitions", "-h", "127.0.0.1",
                             "-p", str(grpc_port)])
            wait_for_port("127.0.0.1", grpc_port, 180)
            (workdir / "workspace.yaml").write_text(WORKSPACE.format(port=grpc_port))
            d.start_daemon()
            log(f"daemon up; the clock reads {d.now():%Y-%m-%d %H:%M:%S} now")
            yield d


def _drop_run_launcher(dagster_home: Path) -> None:
    """Dagster's default launcher (a new interpreter per run) instead of the forking one."""
    import yaml

    path = dagster_home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config.pop("run_launcher", None)
    path.write_text(yaml.safe_dump(config))


def stop_process(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(5)
