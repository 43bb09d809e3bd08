"""What coverage costs on the every-minute path, on MariaDB: per quick run, logging its minute
(minute_log.record, here in a transaction of its own: an upper bound of what it adds inside the
minute's) and the live day's coverage so far (minute_log.count + due_minutes). Then a whole
day's coverage as `show coverage` computes it (its causes need the instance: not timed here).

    python -m findata_assets_tests.bench_coverage [--minutes 247] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

from findata_assets.coverage.session_minutes import due_minutes, session_minutes
from findata_assets.defs.intraday.coverage import day_coverage
from findata_assets.storage import minute_log
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.bench_daemon_minute import percentile
from findata_assets_tests.bench_env import log
from findata_assets_tests.mariadb_setup import ensure_mariadb
from findata_assets_tests.scratch_databases import (create_test_database, drop_test_database,
                                                    mysql_server_url)

DAY = dt.date(2026, 11, 30)


def measure(minutes: int) -> dict:
    ensure_mariadb(install=False)
    server = mysql_server_url()
    name, url = create_test_database(server)
    warehouse = Warehouse(url)
    try:
        minute_log.ensure(warehouse.engine)
        per_run_ms, record_ms = [], []
        for minute in session_minutes(DAY, 1)[:minutes]:
            fetched = minute + dt.timedelta(seconds=4)
            started = time.perf_counter()
            with warehouse.engine.begin() as conn:
                minute_log.record(conn, "stock", DAY, minute, None, 5600, fetched, "r" * 36)
            recorded = time.perf_counter()
            minute_log.count(warehouse, "stock", DAY)
            due_minutes(DAY, 1, fetched)
            record_ms.append(1000 * (recorded - started))
            per_run_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        coverage = day_coverage(None, warehouse, "stock", DAY,
                                dt.datetime.combine(DAY, dt.time(16)))
        whole_day_ms = 1000 * (time.perf_counter() - started)
        return {"minutes": len(per_run_ms), "database": "MariaDB " + warehouse.describe(),
                "per_quick_run_ms_p50": round(statistics.median(per_run_ms), 2),
                "per_quick_run_ms_p95": round(percentile(per_run_ms, 0.95), 2),
                "per_quick_run_ms_max": round(max(per_run_ms), 2),
                "record_ms_p50": round(statistics.median(record_ms), 2),
                "whole_day_coverage_ms": round(whole_day_ms, 1),
                "whole_day_summary": coverage.summary()}
    finally:
        warehouse.dispose()
        drop_test_database(server, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_coverage",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=247)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    report = measure(args.minutes)
    log(f"coverage on the every-minute path: {report['per_quick_run_ms_p50']} ms p50, "
        f"{report['per_quick_run_ms_p95']} ms p95 per quick run")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
