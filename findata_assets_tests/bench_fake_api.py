"""The fake Eastmoney API as a separate process for the benchmarks: start, stop, its request
counter, its fault switches, and the rows it serves per table."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from findata_assets_tests.bench_env import REPO, clean_environ
from findata_assets_tests.ports import free_port, wait_for_port

API_PATH = "/api/qt/clist/get"


@dataclass
class FakeApi:
    workdir: Path
    latency_ms: float = 100.0
    scale: float = 1.0
    seed: int = 0
    port: int = 0
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    extra_args: tuple[str, ...] = ()  # e.g. ("--trade-date", "2026-11-30")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + API_PATH

    def start(self, timeout_s: float = 300.0) -> "FakeApi":
        self.port = free_port()
        log_path = self.workdir / f"fake-{self.port}.log"
        argv = [sys.executable, "-m", "findata_assets.fake_eastmoney", "--port", str(self.port),
                "--latency-ms", f"{self.latency_ms:g}", "--scale", f"{self.scale:g}",
                "--seed", str(self.seed), "--frozen", *self.extra_args]
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=REPO,
                                            env=clean_environ(), start_new_session=True)
        alive = lambda: self.process is not None and self.process.poll() is None  # noqa: E731
        if not wait_for_port("127.0.0.1", self.port, timeout_s, alive):
            tail = log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"the fake API did not start on port {self.port}:\n{tail}")
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base + "/_fake/stats", timeout=10) as response:
            return json.loads(response.read())

    def control(self, **settings) -> dict:
        """POST /_fake/control (faults, latency, ...): the fake's own switches."""
        request = urllib.request.Request(self.base + "/_fake/control", method="POST",
                                         data=json.dumps(settings).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def requests(self) -> int:
        return int(self.stats()["requests"])

    def total(self, fs: str) -> int:
        query = urllib.parse.urlencode({"pn": 1, "pz": 1, "po": 0, "np": 1, "fltt": 2,
                                        "fid": "f12", "fs": fs, "fields": "f12"})
        with urllib.request.urlopen(f"{self.url}?{query}", timeout=30) as response:
            data = json.loads(response.read()).get("data")
        return int(data["total"]) if data else 0

    def totals(self, specs) -> dict[str, int]:
        """Rows the fake serves per table (one pz=1 request per distinct `fs`, in parallel)."""
        filters = sorted({spec.group.fs for spec in specs})
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(filters))) as pool:
            by_fs = dict(zip(filters, pool.map(self.total, filters)))
        return {spec.name: by_fs[spec.group.fs] for spec in specs}
