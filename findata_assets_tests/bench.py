"""End-to-end benchmark of the refresh policies through the CLI, against the serial baseline.

    python -m findata_assets_tests.bench [--policy full|incremental|quick|all] [--latency-ms 100]
        [--concurrency 8] [--repeat 5] [--baseline-repeat 1] [--baseline-tables 41]
        [--scale 1] [--scaling] [--json FILE]

What one invocation does (see BENCHMARKS.md for results and run times):

1. Services: makes sure MariaDB answers (findata_assets_tests/services.py), creates a fresh
   database `findata_test_<hex>` (dropped at the end), starts a SeaweedFS S3 server on free
   ports with a fresh bucket, and starts the fake Eastmoney API as a separate process
   (`python -m findata_assets.fake_eastmoney --latency-ms N --scale X --seed S --frozen`). A
   frozen fake serves the same universe every time, so every run must store exactly the fake's
   totals (asked from the fake itself over HTTP, pz=1, before measuring).
2. Ours: each variant runs as a user runs it, `python -m findata_assets.run POLICY --json F`
   (`full`: the tables, the analysis and the report; `full_tables`, `incremental`, `quick`:
   with `--no-analysis`) in a child process (interpreter start included) with FINDATA_EASTMONEY_URL /
   FINDATA_EASTMONEY_CONCURRENCY / FINDATA_DATABASE_URL / FINDATA_S3_* / AWS_* pointing at the
   services above and DAGSTER_HOME a temp dir holding a copy of the repo's dagster.yaml. Each
   child runs under `/usr/bin/time` (or a small Python wrapper using RUSAGE_CHILDREN) on its own,
   so its peak RSS is its own. One untimed warm-up run per policy creates the instance storage and
   the tables (`--warmup 0` skips it). HTTP requests are deltas of the fake's /_fake/stats.
3. The baseline (what the seed replaced, made to fetch every row): one table at a time, one page
   at a time (fid = the period's fid, po=1, pz=100, every page), httpx sync, then `TRUNCATE` and
   one `INSERT` per row with pymysql (autocommit off, commit per table) into the legacy tables
   (`Stock_Flow_<Market>_<Period>`, legacy columns, "-" stored as 0.0) of the same database. It
   runs as a child process too (`python -m findata_assets_tests.bench _baseline ...`), right after
   the paired run of ours (full_tables, else the first variant), so ratios are taken pair by
   pair. Per run it also reads, from the run's own event log, the work inside the stock run
   (crawl step start to the last table committed) and, from the CLI's JSON, the analysis run.
   The report ends with the issue's goals, each with its measured value (`goals` in the JSON).
4. `--scaling`: full_tables at latency 25/100/400 ms (scale 1) and at scale 1/4/16 (100 ms), each cell
   beside its lower bound: start-up + requests / concurrency x latency. Start-up is the measured
   cost of `import findata_assets.run` + `build_definitions()` in a fresh interpreter.

A CLI run that exceeds --timeout is stack-dumped (py-spy, when installed) into the work folder,
killed, counted as a failure, and the following runs get a fresh DAGSTER_HOME (a killed run
leaves its `eastmoney` pool slots claimed in the instance, which would block every later run).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

from findata_assets_tests import services

REPO = Path(__file__).resolve().parents[1]
# What one benchmark run measures: name -> (policy, with the analysis and report). `full` is
# what a user runs (tables, analysis, report); `full_tables` is the tables alone, the seed's job.
VARIANTS: dict[str, tuple[str, bool]] = {
    "full": ("full", True), "full_tables": ("full", False),
    "incremental": ("incremental", False), "quick": ("quick", False),
    "full_stalled": ("full", False)}
# Variants measured against a fake that stalls a share of its pages: after the headers it
# trickles the body one byte every 2 s for STALL_S (the fake's "trickle" fault).
STALLED = {"full_stalled": 0.1}
STALL_S = 90.0
# The issue's goals, checked in the report: (variant, field, "<=" or ">=", goal, what).
GOALS = (
    ("full", "median_s", "<=", 6.0, "full with analysis and report, CLI end to end (s)"),
    ("full_tables", "median_s", "<=", 4.0, "full, tables only (s)"),
    ("incremental", "median_s", "<=", 3.0, "incremental (s)"),
    ("quick", "median_s", "<=", 2.5, "quick (s)"),
    ("full_tables", "stock_work_s", "<=", 1.5,
     "work inside the stock run, crawl step start to last table committed (s)"),
    ("full_tables", "store_rows_per_s", ">=", 150_000, "store into MariaDB (rows/s)"),
    ("full", "analysis_s", "<=", 1.0, "analysis + report run (s)"),
    ("baseline", "speedup", ">=", 20.0, "serial baseline / full tables, paired (x)"),
    ("full", "peak_rss_mb", "<=", 300.0, "peak RSS of full (MB)"),
    ("full_stalled", "x_full_tables", "<=", 1.5,
     "full tables with 1 page in 10 stalled / without (x)"),
)
API_PATH = "/api/qt/clist/get"
TIME_BIN = "/usr/bin/time"
DEFAULT_SCALING_LATENCIES = (25.0, 100.0, 400.0)
DEFAULT_SCALING_SCALES = (1.0, 4.0, 16.0)
BUCKET_PREFIX = "findata-bench-"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ() -> dict[str, str]:
    """os.environ without the developer's FINDATA_*, AWS_* and DAGSTER_HOME."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("FINDATA_", "AWS_")) and k != "DAGSTER_HOME"}


# ------------------------------------------------------------------------------------------------
# the fake API, as a separate process
# ------------------------------------------------------------------------------------------------
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
        if not services.wait_for_port("127.0.0.1", self.port, timeout_s, alive):
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


# ------------------------------------------------------------------------------------------------
# one measured child process
# ------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    returncode: Optional[int]
    wall_s: float
    peak_rss_mb: Optional[float]
    timed_out: bool
    stdout_path: Path
    stderr_path: Path
    dump_path: Optional[Path] = None

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        interesting = [t for t in text if "Warning" not in t and "return fn(" not in t]
        return "\n".join(interesting[-lines:])


_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _stack_dump(pid: int, path: Path) -> Optional[Path]:
    """py-spy dump of the measured Python child (the wrapper's child), if py-spy is around."""
    spy = Path(sys.executable).parent / "py-spy"
    spy = str(spy) if spy.exists() else shutil.which("py-spy")
    if not spy:
        return None
    targets = _children(pid) or [pid]
    with open(path, "w") as out:
        for target in targets:
            subprocess.run([spy, "dump", "--pid", str(target)], stdout=out,
                           stderr=subprocess.STDOUT, timeout=60, check=False)
    return path


def run_measured(argv: Sequence[str], env: dict[str, str], workdir: Path, label: str,
                 timeout_s: float) -> Measured:
    """Run argv in its own wrapper process: wall seconds (perf_counter around the wrapper,
    interpreter start included) and the child's own peak RSS."""
    workdir.mkdir(parents=True, exist_ok=True)
    rss_path = workdir / f"{label}.rss"
    stdout_path, stderr_path = workdir / f"{label}.out", workdir / f"{label}.err"
    rss_path.unlink(missing_ok=True)
    if os.access(TIME_BIN, os.X_OK):
        wrapped = [TIME_BIN, "-f", "%M", "-o", str(rss_path), *argv]
    else:
        wrapped = [sys.executable, "-c", _RUSAGE_WRAPPER, str(rss_path), *argv]
    dump = None
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env=env, cwd=REPO, start_new_session=True)
        try:
            returncode = process.wait(timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out, returncode = True, None
        wall = time.perf_counter() - started
        if timed_out:
            with contextlib.suppress(Exception):
                dump = _stack_dump(process.pid, workdir / f"{label}.hang.txt")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    peak = None
    with contextlib.suppress(OSError, ValueError, IndexError):  # no file after a kill
        text = rss_path.read_text().strip().splitlines()
        peak = int(text[-1]) / 1024  # kilobytes (GNU time %M, Linux ru_maxrss) -> MiB
    return Measured(returncode, wall, peak, timed_out, stdout_path, stderr_path, dump)


# ------------------------------------------------------------------------------------------------
# the session: services shared by every measurement
# ------------------------------------------------------------------------------------------------
@dataclass
class Session:
    workdir: Path
    concurrency: int
    timeout_s: float
    server_url: str = ""
    database: str = ""
    database_url: str = ""
    s3: Optional[services.WeedS3Server] = None
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
                services.drop_test_database(self.server_url, self.database)


@contextlib.contextmanager
def session(workdir: Path, concurrency: int, timeout_s: float,
            keep_database: bool = False) -> Iterator[Session]:
    s = Session(workdir, concurrency, timeout_s)
    try:
        if not os.environ.get(services.ENV_TEST_MYSQL_URL):
            services.ensure_mariadb(install=False)
        s.server_url = services.mysql_server_url()
        s.database, s.database_url = services.create_test_database(s.server_url)
        s.s3 = services.WeedS3Server(workdir / "weed").start()
        s.bucket = f"{BUCKET_PREFIX}{uuid.uuid4().hex[:10]}"
        s.new_dagster_home()
        log(f"database {s.database}, S3 {s.s3.endpoint} bucket {s.bucket}, "
            f"DAGSTER_HOME {s.dagster_home}")
        yield s
    finally:
        s.close(keep_database)


# ------------------------------------------------------------------------------------------------
# ours: the CLI
# ------------------------------------------------------------------------------------------------
@dataclass
class RunSample:
    policy: str
    ok: bool
    wall_s: float
    cli_s: Optional[float]
    requests: int
    rows: int
    tables: int
    store_s: float
    peak_rss_mb: Optional[float]
    load_1m: float
    rows_match: Optional[bool] = None
    error: Optional[str] = None
    run_seconds: dict = field(default_factory=dict)
    stock_work_s: Optional[float] = None  # crawl step start -> last stock table committed
    analysis_s: Optional[float] = None  # the analysis_report_job run, as the CLI timed it


def stock_work_seconds(dagster_home: Path, run_id: str) -> Optional[float]:
    """From the run's own event log: the crawl step's start to the last table materialization
    (they are logged together once the IO manager has committed every table)."""
    import dagster as dg

    # the instance's storage reads DAGSTER_HOME and sets DAGSTER_EVENT_BATCH_SIZE: put both back
    previous = {name: os.environ.get(name) for name in ("DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE")}
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            events = [e for e in instance.all_logs(run_id) if e.dagster_event]
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    starts = [e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_START"
              and e.step_key == "stock_flow_raw"]
    stored = [e.timestamp for e in events
              if e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
              and e.step_key == "stock_flow"]
    return round(max(stored) - min(starts), 3) if starts and stored else None


def run_cli(s: Session, variant: str, expected: Optional[dict[str, int]] = None,
            timeout_s: Optional[float] = None, tag: str = "") -> RunSample:
    policy, with_analysis = VARIANTS[variant]
    label = s.label(f"{variant}{tag}")
    json_path = s.workdir / f"{label}.json"
    before = s.fake.requests()
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "findata_assets.run", policy, "--json", str(json_path)]
    if not with_analysis:
        command.append("--no-analysis")
    m = run_measured(command, s.env(), s.workdir, label, timeout_s or s.timeout_s)
    requests = s.fake.requests() - before
    sample = RunSample(variant, False, m.wall_s, None, requests, 0, 0, 0.0, m.peak_rss_mb, load)
    if m.timed_out:
        sample.error = (f"timed out after {m.wall_s:.0f} s (stack dump: {m.dump_path}); "
                        f"a fresh DAGSTER_HOME is used from now on")
        s.new_dagster_home()
        return sample
    try:
        outcome = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        sample.error = f"exit {m.returncode}, no JSON outcome ({exc}):\n{m.stderr_tail()}"
        return sample
    tables = [t for run in outcome.get("runs", []) for t in run.get("tables", [])]
    sample.cli_s = float(outcome.get("seconds", 0.0))
    sample.rows = sum(int(t["rows"]) for t in tables)
    sample.tables = len(tables)
    sample.store_s = sum(float(t.get("store_seconds") or 0.0) for t in tables)
    sample.run_seconds = {r["job"]: r["seconds"] for r in outcome.get("runs", [])}
    sample.analysis_s = sample.run_seconds.get("analysis_report_job")
    stock = next((r for r in outcome.get("runs", []) if r["job"] == "stock_flow_job"), None)
    if stock is not None and stock.get("run_id"):
        sample.stock_work_s = stock_work_seconds(s.dagster_home, stock["run_id"])
    failed = [f"{r['job']}: {r.get('error')}" for r in outcome.get("runs", []) if not r["success"]]
    if expected is not None:
        got = {t["table"]: int(t["rows"]) for t in tables}
        sample.rows_match = got == expected
        if not sample.rows_match:
            diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                    if got.get(k) != expected.get(k)}
            failed.append(f"rows differ from the fake's totals (got, expected): {diff}")
    if m.returncode != 0 or failed:
        sample.error = f"exit {m.returncode}: " + "; ".join(failed or [m.stderr_tail()])
        return sample
    sample.ok = True
    return sample


def policy_specs(variant: str):
    from findata_assets.defs.refresh.policies import get_policy
    from findata_assets.eastmoney import catalog

    p = get_policy(VARIANTS[variant][0])
    return ([catalog.table_for_partition("stock", k) for k in p.stock_partitions]
            + [catalog.table_for_partition("sector", k) for k in p.sector_partitions])


def _median(values: list) -> Optional[float]:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(samples: list[RunSample]) -> dict:
    ok = [x for x in samples if x.ok]
    out: dict = {"runs": len(ok), "failures": len(samples) - len(ok),
                 "errors": [x.error for x in samples if not x.ok]}
    if not ok:
        return out | {"median_s": None, "min_s": None, "max_s": None, "requests": None,
                      "rows": None, "store_rows_per_s": None, "peak_rss_mb": None}
    walls = [x.wall_s for x in ok]
    store_s = statistics.median([x.store_s for x in ok])
    rss = [x.peak_rss_mb for x in ok if x.peak_rss_mb is not None]
    return out | {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3), "max_s": round(max(walls), 3),
        "requests": int(statistics.median([x.requests for x in ok])),
        "rows": int(statistics.median([x.rows for x in ok])),
        "tables": int(statistics.median([x.tables for x in ok])),
        "store_rows_per_s": (round(statistics.median([x.rows / x.store_s for x in ok
                                                      if x.store_s > 0]))
                             if store_s > 0 else None),
        "peak_rss_mb": round(max(rss), 1) if rss else None,
        "median_cli_s": round(statistics.median([x.cli_s for x in ok]), 3),
        "walls_s": [round(w, 3) for w in walls],
        "rows_match_fake": all(x.rows_match is not False for x in ok),
        "stock_work_s": _median([x.stock_work_s for x in ok]),
        "analysis_s": _median([x.analysis_s for x in ok]),
        "load_1m": [round(x.load_1m, 2) for x in samples],
    }


# ------------------------------------------------------------------------------------------------
# the baseline: the serial crawler the seed replaced, paging every row
# ------------------------------------------------------------------------------------------------
_LEGACY_MONEY = ("main_flow_net_amount", "main_flow_net_percentage",
                 "extra_large_order_flow_net_amount", "extra_large_order_flow_net_percentage",
                 "large_order_flow_net_amount", "large_order_flow_net_percentage",
                 "medium_order_flow_net_amount", "medium_order_flow_net_percentage",
                 "small_order_flow_net_amount", "small_order_flow_net_percentage")
_OUR_FLOWS = ("main_net", "main_pct", "super_large_net", "super_large_pct", "large_net",
              "large_pct", "medium_net", "medium_pct", "small_net", "small_pct")
LEGACY_COLUMNS = ("code", "name", "flow_type", "market_type", "period", "latest_price",
                  "change_percentage", *_LEGACY_MONEY, "crawl_time")


def _legacy_ddl(table: str) -> str:
    numbers = ",\n".join(f"  `{c}` DOUBLE" for c in ("latest_price", "change_percentage",
                                                      *_LEGACY_MONEY))
    return (f"CREATE TABLE IF NOT EXISTS `{table}` (\n  `id` INT AUTO_INCREMENT PRIMARY KEY,\n"
            f"  `code` VARCHAR(16), `name` VARCHAR(64), `flow_type` VARCHAR(16),\n"
            f"  `market_type` VARCHAR(32), `period` VARCHAR(16),\n{numbers},\n"
            f"  `crawl_time` DATETIME\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def _legacy_number(value) -> float:
    return 0.0 if value in (None, "-", "") else float(value)  # the seed stored "-" as 0.0


def baseline_crawl(api_url: str, database_url: str, table_count: int = 41) -> dict:
    """The serial crawler, paging every row: one table, one page, one INSERT per row at a time."""
    import httpx
    import pymysql
    from sqlalchemy.engine import make_url

    from findata_assets.eastmoney import catalog

    specs = catalog.ALL_TABLES[:table_count]
    url = make_url(database_url)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username or "root",
                           password=url.password or "", database=url.database,
                           charset="utf8mb4", autocommit=False)
    http = httpx.Client(timeout=30)
    placeholders = ", ".join(["%s"] * len(LEGACY_COLUMNS))
    columns = ", ".join(f"`{c}`" for c in LEGACY_COLUMNS)
    fetch_s = store_s = 0.0
    requests = rows_total = 0
    per_table = {}
    try:
        with conn.cursor() as cur:
            for spec in specs:
                cur.execute(_legacy_ddl(spec.legacy_table_name))
        conn.commit()
        for spec in specs:
            started = time.perf_counter()
            rows: list[dict] = []
            pn, total = 1, None
            while True:
                params = {"pn": pn, "pz": 100, "po": 1, "np": 1, "fltt": 2, "invt": 2,
                          "ut": "b2884a393a59ad64002292a3e90d46a5", "fid": spec.period.fid,
                          "fs": spec.group.fs, "fields": ",".join(spec.period.fields)}
                response = http.get(api_url, params=params)
                requests += 1
                response.raise_for_status()
                data = response.json().get("data")
                if not data or not data.get("diff"):
                    break
                rows.extend(data["diff"])
                total = int(data["total"])
                if len(rows) >= total:
                    break
                pn += 1
            fetched = time.perf_counter()
            fetch_s += fetched - started
            fields = spec.field_map()
            crawl_time = dt.datetime.now().replace(microsecond=0)
            with conn.cursor() as cur:
                cur.execute(f"TRUNCATE TABLE `{spec.legacy_table_name}`")
                for row in rows:
                    cur.execute(
                        f"INSERT INTO `{spec.legacy_table_name}` ({columns}) VALUES ({placeholders})",
                        (row.get("f12"), row.get("f14"), spec.kind, spec.group.label_zh,
                         spec.period.label_zh, _legacy_number(row.get(fields["price"])),
                         _legacy_number(row.get(fields["change_pct"])),
                         *(_legacy_number(row.get(fields[c])) for c in _OUR_FLOWS), crawl_time))
            conn.commit()
            store_s += time.perf_counter() - fetched
            rows_total += len(rows)
            per_table[spec.name] = len(rows)
    finally:
        http.close()
        conn.close()
    return {"tables": len(specs), "rows": rows_total, "requests": requests,
            "fetch_s": round(fetch_s, 3), "store_s": round(store_s, 3), "per_table": per_table}


def run_baseline(s: Session, table_count: int, expected: dict[str, int]) -> dict:
    label = s.label("baseline")
    result_path = s.workdir / f"{label}.json"
    before = s.fake.requests()
    load = os.getloadavg()[0]
    m = run_measured([sys.executable, "-m", "findata_assets_tests.bench", "_baseline",
                      "--api-url", s.fake.url, "--database-url", s.database_url,
                      "--tables", str(table_count), "--result", str(result_path)],
                     s.env(), s.workdir, label, max(s.timeout_s, 1800))
    sample = {"ok": False, "wall_s": round(m.wall_s, 3), "peak_rss_mb": m.peak_rss_mb,
              "requests": s.fake.requests() - before, "load_1m": round(load, 2)}
    if m.returncode != 0 or m.timed_out:
        return sample | {"error": f"exit {m.returncode}: {m.stderr_tail()}"}
    result = json.loads(result_path.read_text())
    per_table = result.pop("per_table")
    sample |= result
    sample["rows_match_fake"] = per_table == expected
    sample["store_rows_per_s"] = round(result["rows"] / result["store_s"]) if result["store_s"] else None
    sample["ok"] = True
    return sample


# ------------------------------------------------------------------------------------------------
# start-up cost and machine facts
# ------------------------------------------------------------------------------------------------
_STARTUP_CODE = ("import findata_assets.run\n"
                 "from findata_assets.definitions import build_definitions\n"
                 "build_definitions()\n")


def measure_startup(s: Session, repeat: int = 3) -> float:
    """Median wall seconds of a fresh interpreter importing the CLI and building definitions."""
    walls = []
    for _ in range(repeat):
        m = run_measured([sys.executable, "-c", _STARTUP_CODE], s.env(), s.workdir,
                         s.label("startup"), 120)
        if m.returncode == 0:
            walls.append(m.wall_s)
    return round(statistics.median(walls), 3) if walls else float("nan")


def machine_info() -> dict:
    def command(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = command("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = subprocess.run(  # not command(): stripping would eat the first status column
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "free_h": command("free", "-h"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu": next((line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "") if Path("/proc/cpuinfo").exists()
            else "", "uptime": command("uptime"), "git_commit": commit,
            "git_dirty_files": [line[3:] for line in dirty.splitlines()],
            "when": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


# ------------------------------------------------------------------------------------------------
# the benchmark
# ------------------------------------------------------------------------------------------------
def measure_policies(s: Session, args, policies: list[str]) -> tuple[dict, dict]:
    from findata_assets.eastmoney import catalog

    results: dict = {}
    paired_with = "full_tables" if "full_tables" in policies else policies[0]
    baseline_specs = catalog.ALL_TABLES[:args.baseline_tables]
    baseline_expected = s.fake.totals(baseline_specs) if args.baseline_repeat else {}
    baseline_samples: list[dict] = []
    pairs: list[tuple[float, float]] = []
    for policy in policies:
        expected = s.fake.totals(policy_specs(policy))
        for i in range(args.warmup):
            w = run_cli(s, policy, expected, tag="-warmup")
            log(f"{policy} warm-up: {w.wall_s:.2f} s" + ("" if w.ok else f" FAILED {w.error}"))
        if policy in STALLED:
            s.fake.control(fault_rate=STALLED[policy], fault_kinds=["trickle"], trickle_s=STALL_S)
        samples: list[RunSample] = []
        attempts = 0
        while sum(x.ok for x in samples) < args.repeat and attempts < args.repeat * 2:
            attempts += 1
            sample = run_cli(s, policy, expected)
            samples.append(sample)
            log(f"{policy} #{attempts}: {sample.wall_s:.2f} s wall, cli {sample.cli_s} s, "
                f"{sample.requests} requests, {sample.rows} rows, store {sample.store_s:.3f} s, "
                f"RSS {sample.peak_rss_mb} MB, load {sample.load_1m:.2f}"
                + ("" if sample.ok else f"  FAILED: {sample.error}"))
            if policy == paired_with and len(baseline_samples) < args.baseline_repeat \
                    and sample.ok:
                b = run_baseline(s, args.baseline_tables, baseline_expected)
                baseline_samples.append(b)
                log(f"baseline: {b['wall_s']:.2f} s wall, {b['requests']} requests, "
                    f"{b.get('rows')} rows (fetch {b.get('fetch_s')} s, store {b.get('store_s')} s)"
                    + ("" if b["ok"] else f"  FAILED: {b.get('error')}"))
                if b["ok"]:
                    pairs.append((sample.wall_s, b["wall_s"]))
        if policy in STALLED:
            stalled = s.fake.stats()["faults"].get("trickle", 0)
            s.fake.control(fault_rate=0.0)
            log(f"{policy}: the fake stalled {stalled} page(s) in all")
        results[policy] = summarize(samples) | {"expected_rows": sum(expected.values())}
        if policy in STALLED and results.get("full_tables", {}).get("median_s"):
            results[policy]["x_full_tables"] = round(
                results[policy]["median_s"] / results["full_tables"]["median_s"], 2)
    ok = [b for b in baseline_samples if b["ok"]]
    baseline: dict = {"paired_with": paired_with, "tables": len(baseline_specs),
                      "runs": len(ok), "failures": len(baseline_samples) - len(ok),
                      "samples": baseline_samples, "expected_rows": sum(baseline_expected.values())}
    if ok:
        walls = [b["wall_s"] for b in ok]
        ratios = [ours / base for ours, base in pairs]
        baseline |= {
            "median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3), "requests": ok[0]["requests"], "rows": ok[0]["rows"],
            "store_rows_per_s": ok[0]["store_rows_per_s"],
            "peak_rss_mb": max((b["peak_rss_mb"] or 0) for b in ok) or None,
            "rows_match_fake": all(b["rows_match_fake"] for b in ok),
            "pairs": [{"ours_s": round(a, 3), "baseline_s": round(b, 3)} for a, b in pairs],
            "ratio": round(statistics.median(ratios), 4),  # ours / baseline, pair by pair
            "speedup": round(statistics.median(base / ours for ours, base in pairs), 2),
        }
    return results, baseline


def measure_scaling(s: Session, args, startup_s: float) -> list[dict]:
    cells = [(lat, 1.0) for lat in args.scaling_latencies]
    cells += [(args.latency_ms, sc) for sc in args.scaling_scales
              if (args.latency_ms, sc) not in cells]
    rows = []
    for latency, scale in cells:
        s.start_fake(latency, scale, args.seed)
        expected = s.fake.totals(policy_specs("full_tables"))
        if args.scaling_only and args.warmup and not rows:  # instance storage and tables
            w = run_cli(s, "full_tables", expected, tag="-warmup")
            log(f"scaling warm-up: {w.wall_s:.2f} s" + ("" if w.ok else f" FAILED {w.error}"))
        samples = []
        for _ in range(args.scaling_repeat):
            sample = run_cli(s, "full_tables", expected,
                             timeout_s=max(s.timeout_s, 900 * scale ** 0.5),
                             tag=f"-lat{latency:g}-x{scale:g}")
            samples.append(sample)
            log(f"scaling {latency:g} ms x{scale:g}: {sample.wall_s:.2f} s, {sample.requests} "
                f"requests, {sample.rows} rows, RSS {sample.peak_rss_mb} MB"
                + ("" if sample.ok else f"  FAILED: {sample.error}"))
        summary = summarize(samples)
        cell = {"latency_ms": latency, "scale": scale, **{k: summary.get(k) for k in (
            "median_s", "min_s", "max_s", "requests", "rows", "store_rows_per_s", "peak_rss_mb",
            "median_cli_s", "failures", "errors")}}
        if summary.get("requests"):
            network = summary["requests"] / args.concurrency * latency / 1000
            cell |= {"network_bound_s": round(network, 3),
                     "lower_bound_s": round(startup_s + network, 3),
                     "x_lower_bound": round(summary["median_s"] / (startup_s + network), 2)}
        rows.append(cell)
    return rows


# ------------------------------------------------------------------------------------------------
# --profile: one more `full` under py-spy, its samples summed by phase
# ------------------------------------------------------------------------------------------------
# First match wins, in this order, over the frames below the entry module (py-spy's raw form).
PROFILE_PHASES = (
    ("imports (start-up, and lazy ones: matplotlib in the report)", r"<module> \("),
    ("Dagster: run creation (plan, planned events)", r"create_run_for_job"),
    ("crawl: HTTP client (requests, JSON decode, pages)", r"fetch_tables"),
    ("archive: snapshot JSON + object store upload",
     r"SnapshotArchiveIOManager\.(handle_output|load_input)"),
    ("store: warehouse (render + INSERT + commit)", r"store_many|_store_one|literal_stream"),
    ("parse: rows from snapshots", r"parse_table"),
    ("checks + metadata", r"checks\.py|metadata\.py"),
    ("analysis: digest (warehouse reads + compute)", r"digest\.py"),
    ("analysis: LLM narrative", r"narrative\.py"),
    ("report: charts + markdown", r"charts\.py|markdown\.py|fonts\.py"),
    ("Dagster: event log writes", r"store_event|handle_new_event"),
    ("Dagster: other run machinery", r"dagster/"),
)
# A sample whose innermost frame is one of these is a thread waiting, not working.
WAITING_LEAVES = re.compile(r"^([\w<>]+\.)*(wait|join|acquire|_wait_for_tstate_lock|read|readinto|"
                            r"recv|recv_into|poll|select|sleep|do_poll|_read_bytes|yield_gil|"
                            r"__enter__) \(")


def profile_full(s: Session, workdir: Path) -> Optional[dict]:
    """py-spy (100 Hz, every thread py-spy finds active) over one `full` CLI run, its samples
    summed by phase."""
    spy = Path(sys.executable).parent / "py-spy"
    spy_path = str(spy) if spy.exists() else shutil.which("py-spy")
    if not spy_path:
        log("profile: py-spy is not installed; skipped (pip install py-spy)")
        return None
    raw = workdir / "full.pyspy.raw"
    command = [spy_path, "record", "-r", "100", "-f", "raw", "-o", str(raw), "--",
               sys.executable, "-m", "findata_assets.run", "full"]
    m = run_measured(command, s.env(), workdir, s.label("full-profile"), s.timeout_s * 2)
    if m.returncode != 0 or not raw.exists():
        log(f"profile: py-spy run failed (exit {m.returncode}): {m.stderr_tail()}")
        return None
    other, waiting = "other (our code, the stdlib)", "waiting (sockets, locks, threads)"
    totals: dict[str, float] = {name: 0.0 for name, _ in PROFILE_PHASES}
    totals[other] = totals[waiting] = 0.0
    compiled = [(name, re.compile(pattern)) for name, pattern in PROFILE_PHASES]
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        entry = next((i for i, f in enumerate(frames) if f.startswith("<module> (")), -1)
        below = ";".join(frames[entry + 1:])  # the frames under findata_assets/run.py
        if not stack.strip() or WAITING_LEAVES.match(frames[-1]):  # no Python frame: native
            name = waiting
        else:
            name = next((n for n, p in compiled if p.search(below)), other)
        totals[name] += int(count) / 100
    return {"wall_s": round(m.wall_s, 2), "sampled_cpu_s": round(sum(totals.values()), 2),
            "raw": str(raw), "by_phase_s": {k: round(v, 2) for k, v in totals.items() if v}}


def scaling_exponents(cells: list[dict], latency_ms: float) -> dict:
    """Log-log slopes of time and peak RSS against rows, from the smallest to the largest
    universe at the main latency: 1 = linear in the rows, below 1 = fixed costs dominate."""
    import math

    ok = sorted((c for c in cells if c["latency_ms"] == latency_ms and c.get("median_s")
                 and c.get("rows")), key=lambda c: c["rows"])
    if len(ok) < 2 or ok[-1]["rows"] == ok[0]["rows"]:
        return {}
    lo, hi = ok[0], ok[-1]
    span = math.log(hi["rows"] / lo["rows"])
    out = {"from_rows": lo["rows"], "to_rows": hi["rows"],
           "time": round(math.log(hi["median_s"] / lo["median_s"]) / span, 2)}
    if lo.get("peak_rss_mb") and hi.get("peak_rss_mb"):
        out["peak_rss"] = round(math.log(hi["peak_rss_mb"] / lo["peak_rss_mb"]) / span, 2)
    return out


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: dict, concurrency: int, latency_ms: float, startup_s: float) -> None:
    print(f"\nfindata benchmark: latency {latency_ms:g} ms, concurrency {concurrency}, scale "
          f"{report['meta']['scale']:g}; start-up (interpreter + imports + definitions) "
          f"{startup_s:.2f} s")
    head = (f"{'policy':12} {'median_s':>9} {'min_s':>7} {'max_s':>7} {'bound_s':>8} "
            f"{'requests':>8} {'rows':>7} {'store_rows/s':>12} {'rss_MB':>7} {'fail':>4}")
    print(head)
    for name in VARIANTS:
        r = report.get(name)
        if not r:
            continue
        bound = (startup_s + r["requests"] / concurrency * latency_ms / 1000
                 if r.get("requests") else None)
        print(f"{name:12} {fmt(r['median_s']):>9} {fmt(r['min_s']):>7} {fmt(r['max_s']):>7} "
              f"{fmt(bound):>8} {fmt(r['requests'], 'd'):>8} {fmt(r['rows'], 'd'):>7} "
              f"{fmt(r['store_rows_per_s'], ',d'):>12} {fmt(r['peak_rss_mb'], '.0f'):>7} "
              f"{r['failures']:>4}")
    b = report.get("baseline")
    if b and b.get("runs"):
        print(f"{'baseline':12} {fmt(b['median_s']):>9} {fmt(b['min_s']):>7} "
              f"{fmt(b['max_s']):>7} {'':>8} {b['requests']:>8} {b['rows']:>7} "
              f"{fmt(b['store_rows_per_s'], ',d'):>12} {fmt(b['peak_rss_mb'], '.0f'):>7} "
              f"{b['failures']:>4}")
        pairs = ", ".join(f"{p['ours_s']:.2f}/{p['baseline_s']:.2f}" for p in b["pairs"])
        print(f"{b['paired_with']} / baseline ({b['tables']} tables), pair by pair: ratio "
              f"{b['ratio']:.4f} = {b['speedup']:.1f}x faster "
              f"({pairs})")
    if report.get("goals"):
        print(f"\n{'goal':76} {'now':>10} {'goal':>10}  met")
        for g in report["goals"]:
            print(f"{g['what']:76} {fmt(g['now'], ',.2f'):>10} {g['op']} {g['goal']:>8,g}  "
                  f"{'yes' if g['met'] else 'no' if g['met'] is False else '-'}")
    for name, r in report.items():
        if isinstance(r, dict) and r.get("errors"):
            for error in r["errors"]:
                print(f"{name} FAILED: {error}")
    if report.get("profile"):
        prof = report["profile"]
        print(f"\nprofile of one full (py-spy, active threads, {prof['wall_s']:.2f} s wall, "
              f"{prof['sampled_cpu_s']:.2f} s of samples): {prof['raw']}")
        for name, seconds in sorted(prof["by_phase_s"].items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:6.2f} s  {name}")
    if report.get("scaling"):
        print(f"\nscaling (full_tables): {'latency_ms':>10} {'scale':>5} {'median_s':>9} "
              f"{'requests':>8} {'rows':>8} {'bound_s':>8} {'x_bound':>7} {'rss_MB':>7}")
        for c in report["scaling"]:
            print(f"{'':15} {c['latency_ms']:>10g} {c['scale']:>5g} {fmt(c['median_s']):>9} "
                  f"{fmt(c['requests'], 'd'):>8} {fmt(c['rows'], 'd'):>8} "
                  f"{fmt(c.get('lower_bound_s')):>8} {fmt(c.get('x_lower_bound')):>7} "
                  f"{fmt(c['peak_rss_mb'], '.0f'):>7}")
        if report.get("scaling_exponents"):
            e = report["scaling_exponents"]
            print(f"growth with the rows ({e['from_rows']:,} -> {e['to_rows']:,}): time ~ rows^"
                  f"{e['time']}, peak RSS ~ rows^{e.get('peak_rss')}")


def goals(report: dict) -> list[dict]:
    out = []
    for variant, key, op, goal, what in GOALS:
        now = (report.get(variant) or {}).get(key)
        met = None if now is None else (now <= goal if op == "<=" else now >= goal)
        out.append({"variant": variant, "field": key, "what": what, "op": op, "goal": goal,
                    "now": now, "met": met})
    return out


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", choices=(*VARIANTS, "all"), default="all",
                        help="full = tables + analysis + report; full_tables = tables only")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per policy first")
    parser.add_argument("--baseline-repeat", type=int, default=1,
                        help="baseline runs (0: none), each paired with a run of ours")
    parser.add_argument("--baseline-tables", type=int, default=41,
                        help="the first N catalog tables for the baseline")
    parser.add_argument("--scale", type=float, default=1.0, help="fake universe size, 1 = real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scaling", action="store_true",
                        help="also the scaling table (full at several latencies and scales)")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the scaling table (no policy runs, no baseline)")
    parser.add_argument("--scaling-latencies", type=_floats, default=DEFAULT_SCALING_LATENCIES)
    parser.add_argument("--scaling-scales", type=_floats, default=DEFAULT_SCALING_SCALES)
    parser.add_argument("--scaling-repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a CLI run counts as hung")
    parser.add_argument("--workdir", default=None, help="keep logs, JSON outcomes, dumps here")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also one `full` under py-spy, its samples summed by phase")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    return parser


def baseline_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench _baseline")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--tables", type=int, default=41)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    result = baseline_crawl(args.api_url, args.database_url, args.tables)
    Path(args.result).write_text(json.dumps(result))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_baseline":
        return baseline_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.concurrency < 1 or args.repeat < 1:
        raise SystemExit("--concurrency and --repeat must be >= 1")
    policies = list(VARIANTS) if args.policy == "all" else [args.policy]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="findata-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict = {"meta": {
        "command": "python -m findata_assets_tests.bench " + " ".join(argv),
        "latency_ms": args.latency_ms, "concurrency": args.concurrency, "repeat": args.repeat,
        "warmup": args.warmup, "scale": args.scale, "seed": args.seed,
        "machine": machine_info(), "workdir": str(workdir)}}
    with session(workdir, args.concurrency, args.timeout, args.keep_database) as s:
        report["meta"]["database"] = s.database
        s.start_fake(args.latency_ms, args.scale, args.seed)
        startup_s = measure_startup(s)
        report["meta"]["startup_s"] = startup_s
        log(f"start-up (fresh interpreter, import + build_definitions): {startup_s:.2f} s")
        if not args.scaling_only:
            results, baseline = measure_policies(s, args, policies)
            report |= results
            if args.baseline_repeat:
                report["baseline"] = baseline
        if args.profile:
            report["profile"] = profile_full(s, workdir)
        if args.scaling or args.scaling_only:
            scaling_started = time.perf_counter()
            report["scaling"] = measure_scaling(s, args, startup_s)
            report["scaling_exponents"] = scaling_exponents(report["scaling"], args.latency_ms)
            report["meta"]["scaling_seconds"] = round(time.perf_counter() - scaling_started, 1)
    report["goals"] = goals(report)
    report["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    report["meta"]["uptime_after"] = machine_info()["uptime"]
    print_report(report, args.concurrency, args.latency_ms, startup_s)
    print(f"\nbench took {report['meta']['seconds']:.0f} s; logs and outcomes in {workdir}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    failed = any(isinstance(r, dict) and r.get("failures") for r in report.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
