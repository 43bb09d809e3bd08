"""The services one benchmark shares across its measurements: a fresh database, a SeaweedFS
bucket, the fake API process, a DAGSTER_HOME, and the environment a CLI run gets."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from findata_assets_tests.bench_env import REPO, clean_environ, log, precompile
from findata_assets_tests.bench_fake_api import FakeApi
from findata_assets_tests.mariadb_setup import ENV_TEST_MYSQL_URL, ensure_mariadb
from findata_assets_tests.scratch_databases import (create_test_database, drop_test_database,
                                                    mysql_server_url)
from findata_assets_tests.weed_s3 import WeedS3Server

BUCKET_PREFIX = "findata-bench-"


@dataclass
class Session:
    workdir: Path
    concurrency: int
    timeout_s: float
    server_url: str = ""
    database: str = ""
    database_url: str = ""
    s3: Optional[WeedS3Server] = None
    bucket: str = ""
    fake: Optional[FakeApi] = None
    dagster_home: Optional[Path] = None
    homes: int = 0
    counter: int = 0

    def new_dagster_home(self) -> Path:
        self.homes += 1
        home = self.workdir / f"dagster_home_{self.homes}"
        home.mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        self.dagster_home = home
        return home

    def env(self) -> dict[str, str]:
        assert self.fake is not None and self.s3 is not None and self.dagster_home is not None
        return {**clean_environ(), **self.s3.env(self.bucket),
                "FINDATA_EASTMONEY_URL": self.fake.url,
                "FINDATA_EASTMONEY_CONCURRENCY": str(self.concurrency),
                "FINDATA_DATABASE_URL": self.database_url,
                "FINDATA_HOME": str(self.workdir / "findata_home"),
                "DAGSTER_HOME": str(self.dagster_home),
                "PYTHONWARNINGS": "ignore"}

    def label(self, what: str) -> str:
        self.counter += 1
        return f"{self.counter:03d}-{what}"

    def start_fake(self, latency_ms: float, scale: float, seed: int) -> FakeApi:
        if self.fake is not None:
            self.fake.stop()
        started = time.perf_counter()
        self.fake = FakeApi(self.workdir, latency_ms, scale, seed).start()
        log(f"fake API latency {latency_ms:g} ms, scale {scale:g}: {self.fake.url} "
            f"(up in {time.perf_counter() - started:.1f} s)")
        return self.fake

    def close(self, keep_database: bool = False) -> None:
        if self.fake is not None:
            self.fake.stop()
        if self.s3 is not None:
            self.s3.stop()
        if self.database and not keep_database:
            with contextlib.suppress(Exception):
                drop_test_database(self.server_url, self.database)


@contextlib.contextmanager
def session(workdir: Path, concurrency: int, timeout_s: float,
            keep_database: bool = False) -> Iterator[Session]:
    s = Session(workdir, concurrency, timeout_s)
    precompile()  # as a user's install has it (bench_env.precompile)
    try:
        if not os.environ.get(ENV_TEST_MYSQL_URL):
            ensure_mariadb(install=False)
        s.server_url = mysql_server_url()
        s.database, s.database_url = create_test_database(s.server_url)
        s.s3 = WeedS3Server(workdir / "weed").start()
        s.bucket = f"{BUCKET_PREFIX}{uuid.uuid4().hex[:10]}"
        s.new_dagster_home()
        log(f"database {s.database}, S3 {s.s3.endpoint} bucket {s.bucket}, "
            f"DAGSTER_HOME {s.dagster_home}")
        yield s
    finally:
        s.close(keep_database)
