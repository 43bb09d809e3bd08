"""A throwaway MariaDB server of the test's own, for tests that must freeze or kill one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from findata_assets_tests.ports import pick_ports


class OwnMariaDB:
    """`mariadbd` on a free port over a fresh data dir; any password works (skip-grant-tables)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="findata-mariadb-"))
        [self.port] = pick_ports(1)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> "OwnMariaDB":
        data = self.dir / "data"
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                        "--user=root", "--skip-test-db"], check=True, capture_output=True,
                       timeout=120)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir / 'sock'}", "--user=root",
             "--skip-grant-tables", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "log").open("w"))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                                       connect_timeout=2)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"own MariaDB did not start: "
                                       f"{(self.dir / 'log').read_text()[-2000:]}") from None
                time.sleep(0.3)
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE findata CHARACTER SET utf8mb4")
        conn.close()
        return self

    def url(self, password: str = "s3cret-Pa55") -> str:
        return f"mysql+pymysql://root:{password}@127.0.0.1:{self.port}/findata?charset=utf8mb4"

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.kill()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
