"""Closed days of the daily history as Parquet, in the intraday history's open layout:

    history/daily_flow/trade_date=2026-12-01/part-0.parquet

One file a day with every stock, board and the market (a `kind` column), sorted by (kind, code),
zstd; the day is the Hive `trade_date=` folder, so pyarrow.dataset, Polars, DuckDB, Spark and
Trino read the whole history as one table. Written from the warehouse rows of the day and read
back and compared (rows and values) before it counts. The reader reads whole-market ranges from
here: ~6,000 rows a day decode in milliseconds, where a driver decodes them a value at a time.
"""

from __future__ import annotations

import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from findata_assets.storage.daily_flow import COLUMNS, TABLE
from findata_assets.storage.object_keys import ObjectNotFoundError
from findata_assets.storage.object_store import ObjectStore

PREFIX = f"history/{TABLE}"
FILE_COLUMNS = tuple(c for c in COLUMNS if c != "trade_date")  # the path holds the day
CONTENT_TYPE = "application/vnd.apache.parquet"
_STRINGS = ("code", "kind", "board", "name", "source")
READ_THREADS = 8  # a range read is one GET per day: overlapped, not one after another


class DailyFileError(ValueError):
    """A day's file that is unreadable or differs from the warehouse rows it was written from."""


def file_key(day: dt.date) -> str:
    return f"{PREFIX}/trade_date={day.isoformat()}/part-0.parquet"


def arrow_schema():
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.string() if c in _STRINGS else
                               pa.timestamp("us") if c == "fetched_at" else pa.float64())
                      for c in FILE_COLUMNS])


def to_arrow(rows: Sequence[Sequence]):
    """Warehouse rows (COLUMNS order, trade_date first) as the file's table, by (kind, code)."""
    import pyarrow as pa

    ordered = sorted((r[1:] for r in rows), key=lambda r: (r[1], r[0]))  # kind, code
    columns = list(zip(*ordered)) if ordered else [[] for _ in FILE_COLUMNS]
    schema = arrow_schema()
    return pa.table([pa.array(list(v), type=f.type) for v, f in zip(columns, schema)],
                    schema=schema)


def from_dicts(rows: Sequence[dict]):
    """Rows as dicts (daily_flow COLUMNS) as an unordered table of the file's columns: a
    backfill keeps its rows per day in this form (~150 bytes a row) to write each day's file
    without reading the day back from the warehouse."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.table([pa.array([r[f.name] for r in rows], type=f.type) for f in schema],
                    schema=schema)


def ordered(table):
    """A table of the file's columns in file order: by (kind, code)."""
    return table.sort_by([("kind", "ascending"), ("code", "ascending")])


@dataclass
class Written:
    key: str
    rows: int
    bytes: int


def write_and_verify(store: ObjectStore, day: dt.date, rows: Sequence[Sequence] = (),
                     table=None) -> Written:
    """The day's file from its warehouse rows (or a table of them in file order), read back
    and compared before it counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = to_arrow(rows) if table is None else table
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True,
                   use_dictionary=["kind", "board", "source"])
    body = sink.getvalue()
    key = file_key(day)
    store.put_bytes(key, body, CONTENT_TYPE)
    try:
        back = pq.read_table(pa.BufferReader(store.get_bytes(key)))
    except (pa.ArrowInvalid, OSError) as exc:
        store.delete_keys([key])
        raise DailyFileError(f"{key}: not readable after writing it ({exc}); the file is "
                             "deleted") from None
    if not back.equals(table):  # never leave a file the reader would trust
        store.delete_keys([key])
        raise DailyFileError(f"{key}: read back {back.num_rows:,} rows that differ from the "
                             f"{table.num_rows:,} warehouse rows written; the file is deleted")
    return Written(key, table.num_rows, len(body))


def read_days(store: ObjectStore, days: Iterable[dt.date],
              columns: Optional[Sequence[str]] = None):
    """(Arrow table with trade_date, the days that have no file). Files are fetched in
    parallel; a day without a file is returned for the caller to read elsewhere."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = [c for c in (columns or FILE_COLUMNS) if c != "trade_date"]

    def one(day: dt.date):
        try:
            body = store.get_bytes(file_key(day))
        except ObjectNotFoundError:
            return day, None
        table = pq.read_table(pa.BufferReader(body), columns=wanted)
        return day, table.add_column(0, "trade_date",
                                     pa.array([day] * table.num_rows, type=pa.date32()))

    days = list(days)
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, max(1, len(days)))) as pool:
        results = list(pool.map(one, days))
    tables = [t for _, t in results if t is not None]
    missing = [d for d, t in results if t is None]
    if not tables:
        return None, missing
    return pa.concat_tables(tables), missing
