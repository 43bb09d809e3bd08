"""A closed intraday day as Parquet, at real size: bytes per row and the reads (issue 20).

    python -m findata_assets_tests.bench_history [--stocks 5290] [--minutes 241] [--repeat 5]

A synthetic trading day (the fake's value distributions are not needed for sizes that depend on
the column types and the sort: money as float64 with 2 decimals, one NULL in 17 cells) is written
by storage/intraday_history.py to a local archive folder, read back and verified, then each read
is timed (median of --repeat): the whole day into pandas, one minute of the market, one stock's
day. The local folder leaves the network out; on S3 a read adds its round trips.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time

from findata_assets.storage import intraday_history as history
from findata_assets.storage.object_store import LocalObjectStore

DAY = dt.date(2026, 11, 30)
VALUES = 12  # price, change_pct, main_net ... small_pct


def session_minutes(count: int) -> list[dt.datetime]:
    morning = [dt.datetime(2026, 11, 30, 9, 30) + dt.timedelta(minutes=m) for m in range(121)]
    afternoon = [dt.datetime(2026, 11, 30, 13, 1) + dt.timedelta(minutes=m) for m in range(120)]
    return (morning + afternoon)[:count]


def synthetic_day(stocks: int, minutes: int, seed: int = 0) -> list[tuple]:
    rng = random.Random(seed)
    codes = [f"{600000 + i:06d}" if i % 2 else f"{1 + i:06d}" for i in range(stocks)]
    base = [[rng.uniform(-5e8, 5e8) for _ in range(VALUES)] for _ in codes]
    rows = []
    for m, minute in enumerate(session_minutes(minutes)):
        fetched = minute + dt.timedelta(seconds=5)
        for i, code in enumerate(codes):
            values = [None if (i + m + j) % 17 == 0 else round(b * (1 + m / 1000), 2)
                      for j, b in enumerate(base[i])]
            rows.append((code, minute, None, f"股票{i}", *values, fetched))
    return rows


def timed(repeat: int, work) -> float:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_history",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocks", type=int, default=5290)
    parser.add_argument("--minutes", type=int, default=241)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = synthetic_day(args.stocks, args.minutes)
    with tempfile.TemporaryDirectory(prefix="findata-history-bench-") as tmp:
        store = LocalObjectStore(tmp)
        started = time.perf_counter()
        expected = history.to_arrow(rows)
        written = history.write_day(store, "stock", DAY, expected)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        history.verify(store, "stock", DAY, expected)
        verify_s = time.perf_counter() - started
        minute = session_minutes(args.minutes)[60]
        figures = {
            "rows": written.rows, "bytes": written.bytes,
            "bytes_per_row": round(written.bytes / written.rows, 1),
            "write_s": round(write_s, 2), "verify_s": round(verify_s, 2),
            "whole_day_pandas_s": round(timed(args.repeat, lambda: history.read(
                store, "stock", DAY).to_pandas()), 3),
            "one_minute_pandas_ms": round(1000 * timed(args.repeat, lambda: history.read(
                store, "stock", DAY, minute=minute).to_pandas()), 1),
            "one_stock_day_pandas_ms": round(1000 * timed(args.repeat, lambda: history.read(
                store, "stock", DAY, code="600123").to_pandas()), 1),
        }
    for name, value in figures.items():
        print(f"{name:26} {value:>14,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
