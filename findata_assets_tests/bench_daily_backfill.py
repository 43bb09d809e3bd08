"""The daily history backfill against the fake at real size, store included (issue 33's goals).

    python -m findata_assets_tests.bench_daily_backfill [--scale 1] [--days 120]
        [--latency-ms 100] [--concurrency 8] [--gap-ms 0] [--store s3|local]
        [--database mysql|sqlite] [--json FILE]

The fake runs as a process of its own (as the real API is elsewhere: it must not share this
process's GIL), pinned to the last closed session. The backfill runs here, as the history
asset runs it (history/backfill.py), into a scratch MariaDB database (or SQLite) and a
SeaweedFS bucket started here (or a folder). Prints: requests, rows stored against lines
served (per day and in all), wall time against the network floor (requests x latency /
in flight) or the pace (requests x gap), and the peak memory of this process (ru_maxrss,
the fake excluded).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from findata_assets_tests.bench_env import REPO, clean_environ, log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fake_process(scale: float, latency_ms: float, as_of: dt.date):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "findata_assets.fake_eastmoney", "--port", str(port),
         "--scale", str(scale), "--latency-ms", str(latency_ms), "--frozen",
         "--trade-date", as_of.isoformat()],
        cwd=REPO, env=clean_environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        proc.stdout.readline()  # its banner: listening
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def stores(kind: str, database: str, workdir: Path):
    from findata_assets.storage.local_object_store import LocalObjectStore
    from findata_assets.storage.warehouse import Warehouse

    with contextlib.ExitStack() as stack:
        if database == "mysql":
            from findata_assets_tests.scratch_databases import temporary_database

            url = stack.enter_context(temporary_database())
        else:
            url = f"sqlite:///{workdir / 'warehouse.db'}"
        warehouse = Warehouse(url)
        stack.callback(warehouse.dispose)
        if kind == "s3":
            from findata_assets.resources.object_store import object_store_from_settings
            from findata_assets.settings import Settings
            from findata_assets_tests.weed_s3 import WeedS3Server

            server = stack.enter_context(WeedS3Server(workdir / "weed"))
            store = object_store_from_settings(Settings.from_env(server.env("bench-daily")))
        else:
            store = LocalObjectStore(workdir / "archive")
        yield warehouse, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--gap-ms", type=int, default=0, help="FINDATA_HISTORY_MIN_INTERVAL_MS")
    parser.add_argument("--store", choices=("s3", "local"), default="s3")
    parser.add_argument("--database", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    from findata_assets.history.backfill import Backfill
    from findata_assets.history.sessions import last_closed_session, source_first_day
    from findata_assets.settings.eastmoney import EastmoneySettings
    from findata_assets.settings.history import HistorySettings

    as_of = last_closed_session()
    start = source_first_day(as_of, args.days)
    with tempfile.TemporaryDirectory() as tmp, \
            fake_process(args.scale, args.latency_ms, as_of) as base, \
            stores(args.store, args.database, Path(tmp)) as (warehouse, store):
        history = HistorySettings(url=f"{base}/api/qt/stock/fflow/daykline/get",
                                  concurrency=args.concurrency, min_interval_ms=args.gap_ms)
        eastmoney = EastmoneySettings(base_url=f"{base}/api/qt/clist/get")
        log(f"backfill {start}..{as_of}: scale {args.scale}, {args.latency_ms:g} ms, "
            f"{args.concurrency} in flight, gap {args.gap_ms} ms, {args.database} + {args.store}")
        started = time.perf_counter()
        result = Backfill(warehouse, store, history, eastmoney).run(start, as_of)
        seconds = time.perf_counter() - started
        stats = httpx.get(f"{base}/_fake/stats").json()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    served = _served_lines(args.scale, as_of, start, as_of)
    requests = stats["kline_requests"]
    stored_by_day = {r.day.isoformat(): r.total_stored for r in result.days}
    floor = requests * args.latency_ms / 1000 / args.concurrency
    pace = (requests - 1) * args.gap_ms / 1000
    figures = {
        "scale": args.scale, "days": len(result.days), "securities": len(result.universe.securities),
        "kline_requests": requests, "ranking_requests": stats["requests"],
        "rows_stored": sum(stored_by_day.values()), "lines_served": sum(served.values()),
        "days_rows_equal_lines": sum(1 for d, n in stored_by_day.items() if served.get(d) == n),
        "seconds": round(seconds, 1), "network_floor_s": round(floor, 1),
        "vs_floor": round(seconds / floor, 2) if floor else None,
        "pace_s": round(pace, 1), "vs_pace": round(seconds / pace, 3) if pace else None,
        "peak_rss_mb": round(peak_mb, 1),
        "phases_s": {k: round(v, 1) for k, v in result.phases.items()},
        "failed": len(result.failed), "identity_violations": result.identity_violations,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if figures["rows_stored"] == figures["lines_served"] else 1


def _served_lines(scale: float, as_of: dt.date, start: dt.date, end: dt.date) -> dict[str, int]:
    """Lines per day the fake serves in [start, end], from its model (same seed, scale and
    session as the process that served them; built after the peak memory was read)."""
    from findata_assets.fake_eastmoney.server import FakeEastmoneyServer

    fake = FakeEastmoneyServer(scale=scale, frozen=True, trade_date=as_of)
    out: dict[str, int] = {}
    try:
        for key in fake.klines.secids():
            for line in fake.daily_lines(key) or []:
                day = dt.date.fromisoformat(line[:10])
                if start <= day <= end:
                    out[day.isoformat()] = out.get(day.isoformat(), 0) + 1
    finally:
        fake.stop()
    return out


if __name__ == "__main__":
    sys.exit(main())
