"""Intraday storage at real size: a synthetic trading day of 241 minute snapshots x 5,300 stocks
(1.28 million rows) written minute by minute into the warehouse, then the three reads the
research reader makes, timed (median of --repeat).

    .venv/bin/python -m findata_assets_tests.bench_intraday [--url URL] [--stocks 5300]
                     [--minutes 241] [--repeat 5] [--json FILE]

Default URL: the test MariaDB (FINDATA_TEST_MYSQL_URL or 127.0.0.1:3306, root), in a database of
its own that is dropped afterwards. Prints one line per measure; nothing is asserted here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time
import uuid

import sqlalchemy as sa

from findata_assets.storage.intraday import FLOW_COLUMNS, IntradayStore
from findata_assets.storage.warehouse import Warehouse

DAY = dt.date(2026, 11, 30)


def minutes_of_a_session(n: int) -> list[dt.datetime]:
    """09:30-11:30 and 13:00-15:00, 241 minutes at full size (as the quick policy sees them)."""
    out, t = [], dt.datetime.combine(DAY, dt.time(9, 30))
    while len(out) < n:
        out.append(t)
        t += dt.timedelta(minutes=1)
        if t.time() == dt.time(11, 31):
            t = dt.datetime.combine(DAY, dt.time(13, 0))
    return out


def synthetic_minute(codes: list[str], minute: dt.datetime, rng: random.Random) -> list[dict]:
    fetched = minute + dt.timedelta(seconds=20)
    return [{"trade_date": DAY, "code": code, "minute": minute, "board": None,
             "name": f"股票{code}", **{c: rng.uniform(-1e8, 1e8) for c in FLOW_COLUMNS[1:]},
             "fetched_at": fetched} for code in codes]


def _median(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(url: str, stocks: int, minutes: int, repeat: int) -> dict:
    rng = random.Random(7)
    warehouse = Warehouse(url)
    store = IntradayStore(warehouse)
    codes = [f"{600000 + i:06d}" for i in range(stocks)]
    session = minutes_of_a_session(minutes)
    write_times = []
    for minute in session:
        rows = synthetic_minute(codes, minute, rng)
        started = time.perf_counter()
        store.replace_minute("stock", DAY, minute, None, rows, replaced=False)
        write_times.append(time.perf_counter() - started)
    one_stock_s, day_rows = _median(lambda: store.read_code("stock", codes[stocks // 2], DAY), repeat)
    one_minute_s, minute_rows = _median(
        lambda: store.read_minute("stock", DAY, session[len(session) // 2]), repeat)
    columns = ("code", "minute", "main_net", "small_net")
    whole_day_s, whole = _median(lambda: store.read_day("stock", DAY, columns), max(1, repeat // 2))
    with warehouse.engine.connect() as conn:
        size = None
        if warehouse.backend in ("mysql", "mariadb"):
            conn.execute(sa.text("ANALYZE TABLE stock_flow_intraday"))  # fresh size statistics
            size = conn.execute(sa.text(
                "SELECT data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'stock_flow_intraday'")).scalar()
    warehouse.dispose()
    rows_total = stocks * len(session)
    return {
        "rows": rows_total, "minutes": len(session), "stocks": stocks,
        "write_minute_median_s": round(statistics.median(write_times), 4),
        "write_day_total_s": round(sum(write_times), 2),
        "one_stock_day_s": round(one_stock_s, 4), "one_stock_day_rows": len(day_rows),
        "one_minute_market_s": round(one_minute_s, 4), "one_minute_rows": len(minute_rows),
        "whole_day_s": round(whole_day_s, 3), "whole_day_rows": len(whole),
        "whole_day_columns": list(columns),
        "table_bytes": size, "bytes_per_row": round(size / rows_total, 1) if size else None,
        "year_gb_estimate": round(size * 250 / 1e9, 1) if size else None,
    }


def main() -> int:
    from findata_assets_tests.scratch_databases import mysql_server_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--stocks", type=int, default=5300)
    parser.add_argument("--minutes", type=int, default=241)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    url, cleanup = args.url, None
    if not url:
        from sqlalchemy.engine import make_url

        server = mysql_server_url()
        database = f"findata_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(server)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
        url = make_url(server).set(database=database).render_as_string(hide_password=False)
        cleanup = (admin, database)
    try:
        result = run(url, args.stocks, args.minutes, args.repeat)
    finally:
        if cleanup:
            with cleanup[0].begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{cleanup[1]}`"))
            cleanup[0].dispose()
    for key, value in result.items():
        print(f"{key:24} {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
