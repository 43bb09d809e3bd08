"""A closed intraday day as Parquet, at real size: bytes per row and the reads (issue 20).

    python -m findata_assets_tests.bench_history [--source fake|synthetic] [--store local|s3]
        [--stocks 5290] [--minutes 241] [--days 20] [--repeat 5]

The day: `fake` (default) is the fake Eastmoney universe's 全部股票 at each of the session's
minutes, parsed as the platform parses it (5,290 stocks at scale 1; its values drift on a
triangle wave that repeats every 100 minutes, which flatters compression), `synthetic` a seeded
random day (every value new each minute, one NULL in 17 cells: a pessimistic bound). The day is
written by storage/intraday_history.py to the store (`local`: a temporary folder, no network;
`s3`: a SeaweedFS server started here), read back and verified; then each read is timed (median
of --repeat): the whole day into pandas, one minute of the market, one stock's day, and one
stock over --days trading days (the file copied under that many dates, read as the reader
reads a range: storage/intraday_reads.py, a thread per day).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from findata_assets.storage import intraday_history as history
from findata_assets.storage.object_store import LocalObjectStore

DAY = dt.date(2026, 11, 30)


def session_minutes(count: int, day: dt.date = DAY) -> list[dt.datetime]:
    open_, lunch_end = dt.datetime.combine(day, dt.time(9, 30)), dt.datetime.combine(
        day, dt.time(13, 1))
    morning = [open_ + dt.timedelta(minutes=m) for m in range(121)]
    afternoon = [lunch_end + dt.timedelta(minutes=m) for m in range(120)]
    return (morning + afternoon)[:count]


def fake_day(stocks: int, minutes: int, kind: str = "stock", day: dt.date = DAY) -> list[tuple]:
    """The fake universe's 1d table(s) of a family (全部股票; the three board types) at each
    minute, parsed as the platform parses the API, as rows in history.FILE_COLUMNS order."""
    from findata_assets.eastmoney.parsing import parse_table
    from findata_assets.eastmoney.snapshot import Snapshot
    from findata_assets.fake_eastmoney.server import FakeEastmoneyServer
    from findata_assets.storage.intraday import FLOW_COLUMNS, SOURCES
    from findata_assets.trading_calendar import TZ

    server = FakeEastmoneyServer(scale=stocks / 5290)
    server.set_trade_date(day)
    rows = []
    for minute in session_minutes(minutes, day):
        fetched = (minute + dt.timedelta(seconds=5)).replace(tzinfo=TZ)
        server.set_now(fetched)
        for spec in SOURCES[kind]:
            raw = server.expected_rows(spec)
            snapshot = Snapshot(table=spec.name, kind=spec.kind, group_key=spec.group.key,
                                period_key="1d", url="", params={}, fetched_at=fetched,
                                updated_at=None, trade_date=day, total=len(raw), page_size=100,
                                pages=1, requests=1, shared_with=[], rows=raw)
            board = spec.group.key if kind == "sector" else None
            rows.extend((r["code"], minute, board, *(r[c] for c in FLOW_COLUMNS),
                         fetched.replace(tzinfo=None)) for r in parse_table(spec, snapshot).rows)
        server.advance()
    return rows


def synthetic_day(stocks: int, minutes: int, seed: int = 0) -> list[tuple]:
    """Every value new each minute (pessimistic for compression), in the API's ranges: prices and
    shares with two decimals, shares within +-30 %, money in yuan with two decimals; one NULL in
    17 cells."""
    from findata_assets.storage.intraday import FLOW_COLUMNS

    rng = random.Random(seed)
    codes = [f"{600000 + i:06d}" if i % 2 else f"{1 + i:06d}" for i in range(stocks)]
    names = [c for c in FLOW_COLUMNS if c != "name"]
    prices = [rng.uniform(2, 200) for _ in codes]
    rows = []
    for m, minute in enumerate(session_minutes(minutes)):
        fetched = minute + dt.timedelta(seconds=5)
        for i, code in enumerate(codes):
            prices[i] *= 1 + rng.uniform(-0.005, 0.005)
            values = [round(prices[i], 2) if c == "price" else
                      round(rng.uniform(-30, 30), 2) if c.endswith("_pct") else
                      round(rng.uniform(-5e8, 5e8), 2) for c in names]
            values = [None if (i + m + j) % 17 == 0 else v for j, v in enumerate(values)]
            rows.append((code, minute, None, f"股票{i}", *values, fetched))
    return rows


def timed(repeat: int, work) -> float:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


@contextlib.contextmanager
def object_store(kind: str):
    with tempfile.TemporaryDirectory(prefix="findata-history-bench-") as tmp:
        if kind == "local":
            yield LocalObjectStore(tmp)
            return
        from findata_assets.resources.object_store import ObjectStoreResource
        from findata_assets_tests.weed_s3 import WeedS3Server

        server = WeedS3Server(Path(tmp) / "weed").start()
        try:
            yield ObjectStoreResource(
                endpoint_url=server.endpoint, bucket=f"bench-{uuid.uuid4().hex[:8]}",
                aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
                region_name=server.region).get_store()
        finally:
            server.stop()


def trading_days_before(day: dt.date, count: int) -> list[dt.date]:
    from findata_assets import trading_calendar as tc

    days = [day]
    while len(days) < count:
        days.append(tc.previous_trading_day(days[-1]))
    return sorted(days)


def main(argv: list[str] | None = None) -> int:
    from findata_assets.storage.intraday_reads import IntradayReads

    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_history",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("fake", "synthetic"), default="fake")
    parser.add_argument("--store", choices=("local", "s3"), default="local")
    parser.add_argument("--stocks", type=int, default=5290)
    parser.add_argument("--minutes", type=int, default=241)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = (fake_day if args.source == "fake" else synthetic_day)(args.stocks, args.minutes)
    code = sorted({r[0] for r in rows})[len(rows) // args.minutes // 2]
    with object_store(args.store) as store:
        started = time.perf_counter()
        expected = history.to_arrow(rows)
        written = history.write_day(store, "stock", DAY, expected)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        history.verify(store, "stock", DAY, expected)
        verify_s = time.perf_counter() - started
        minute = session_minutes(args.minutes)[min(60, args.minutes - 1)]
        body = store.get_bytes(written.key)
        days = trading_days_before(DAY, args.days)
        for day in days:  # the same file under each date: a range of closed, verified days
            store.put_bytes(history.history_key("stock", day), body, history.CONTENT_TYPE)
            history.record_verified(store, "stock", day, body, written.rows, "the bench's rows")
        reads = IntradayReads(None, store)  # every day closed and filed: no warehouse read
        figures = {
            "source": args.source, "store": args.store,
            "rows": written.rows, "bytes": written.bytes,
            "bytes_per_row": round(written.bytes / written.rows, 1),
            "write_s": round(write_s, 2), "verify_s": round(verify_s, 2),
            "whole_day_pandas_s": round(timed(args.repeat, lambda: history.read(
                store, "stock", DAY).to_pandas()), 3),
            "one_minute_pandas_ms": round(1000 * timed(args.repeat, lambda: history.read(
                store, "stock", DAY, minute=minute).to_pandas()), 1),
            "one_stock_day_pandas_ms": round(1000 * timed(args.repeat, lambda: history.read(
                store, "stock", DAY, code=code).to_pandas()), 1),
            f"one_stock_{args.days}_days_s": round(timed(args.repeat, lambda: reads.frame(
                "stock", days, code=code)), 3),
        }
    for name, value in figures.items():
        print(f"{name:26} {value:>14,}" if not isinstance(value, str) else f"{name:26} {value:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
