"""Closed intraday days as Parquet files in the object store, one per family and day.

    history/stock_flow_intraday/trade_date=2026-12-01/part-0.parquet

A Hive-style layout (the day is the `trade_date=` folder, as Spark, Trino, DuckDB, Polars and
pyarrow.dataset read it), zstd-compressed (floats byte-stream-split), rows sorted by
(code, minute) in row groups of ROW_GROUP_ROWS with statistics, so one stock's day is one row
group and a reader skips the rest.
The columns are the warehouse table's (storage/intraday.py COLUMNS) but `trade_date`, which the
path carries; NULL stays NULL. A day is written from the warehouse rows and read back before it
counts: `verify` compares the file with those rows value for value.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass
from typing import Optional, Sequence

from findata_assets.storage.intraday import COLUMNS, FLOW_COLUMNS, TABLES
from findata_assets.storage.object_store import ObjectStore

HISTORY_PREFIX = "history"
FILE_COLUMNS = tuple(c for c in COLUMNS if c != "trade_date")  # the path holds the day
ROW_GROUP_ROWS = 16_384  # ~60 stocks a group: one stock's day touches one group
CONTENT_TYPE = "application/vnd.apache.parquet"
_STRINGS = ("code", "board", "name")
_TIMES = ("minute", "fetched_at")


def history_key(kind: str, day: dt.date) -> str:
    return f"{HISTORY_PREFIX}/{TABLES[kind]}/trade_date={day.isoformat()}/part-0.parquet"


def arrow_schema():
    import pyarrow as pa

    types = {c: pa.string() for c in _STRINGS} | {c: pa.timestamp("us") for c in _TIMES}
    types |= {c: pa.float64() for c in FLOW_COLUMNS if c != "name"}
    return pa.schema([pa.field(c, types[c]) for c in FILE_COLUMNS])


def to_arrow(rows: Sequence[Sequence]):
    """Rows in FILE_COLUMNS order as an Arrow table, sorted by (code, minute)."""
    import pyarrow as pa

    ordered = sorted(rows, key=lambda r: (r[0], r[1]))
    columns = list(zip(*ordered)) if ordered else [[] for _ in FILE_COLUMNS]
    schema = arrow_schema()
    return pa.table([pa.array(list(values), type=field.type)
                     for values, field in zip(columns, schema)], schema=schema)


def encode(table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    floats = [f.name for f in table.schema if f.name not in _STRINGS + _TIMES]
    # byte-stream-split floats: zstd then finds the repeating exponent bytes (82 -> 51 B/row on
    # a synthetic real-size day, BENCHMARKS.md)
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS,
                   write_statistics=True, use_dictionary=list(_STRINGS),
                   use_byte_stream_split=floats)
    return sink.getvalue()


@dataclass
class Written:
    key: str
    rows: int
    bytes: int


def write_day(store: ObjectStore, kind: str, day: dt.date, table) -> Written:
    """`table` (to_arrow of the day's rows) as the day's file; replaces what was there."""
    body = encode(table)
    key = history_key(kind, day)
    store.put_bytes(key, body, CONTENT_TYPE)
    return Written(key, table.num_rows, len(body))


class HistoryFileError(ValueError):
    """A day's Parquet file that is missing, unreadable (truncated) or differs from the rows."""


def read_file(store: ObjectStore, kind: str, day: dt.date):
    """The day's whole file as an Arrow table; HistoryFileError when it is not a readable file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = history_key(kind, day)
    if not store.exists(key):
        raise HistoryFileError(f"{key}: missing")
    body = store.get_bytes(key)
    try:
        return pq.read_table(pa.BufferReader(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise HistoryFileError(f"{key}: not a readable Parquet file ({len(body):,} bytes, "
                               f"truncated?): {exc}") from None


def verify(store: ObjectStore, kind: str, day: dt.date, expected) -> int:
    """The file holds exactly `expected` (to_arrow of the warehouse rows), value for value, NULL
    for NULL; returns the row count, or raises HistoryFileError naming the first difference."""
    table = read_file(store, kind, day)
    key = history_key(kind, day)
    if table.schema.names != list(FILE_COLUMNS):
        raise HistoryFileError(f"{key}: columns {table.schema.names}, expected {FILE_COLUMNS}")
    if table.num_rows != expected.num_rows:
        raise HistoryFileError(f"{key}: {table.num_rows:,} rows, the warehouse has "
                               f"{expected.num_rows:,}")
    if table.equals(expected):  # Arrow's own comparison: nulls equal nulls
        return table.num_rows
    codes, minutes = expected.column("code"), expected.column("minute")
    for name in FILE_COLUMNS:  # only on a mismatch: find the first cell that differs
        got, want = table.column(name).to_pylist(), expected.column(name).to_pylist()
        for i, (a, b) in enumerate(zip(got, want)):
            if not _same(a, b):
                raise HistoryFileError(f"{key}: {name} of {codes[i]} at {minutes[i]} is {a!r} in "
                                       f"the file, {b!r} in the warehouse")
    raise HistoryFileError(f"{key}: differs from the warehouse rows (types or layout)")


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def read(store: ObjectStore, kind: str, day: dt.date, code: Optional[str] = None,
         minute: Optional[dt.datetime] = None):
    """A closed day from its file as an Arrow table with `trade_date`, optionally one code or one
    minute (row groups whose statistics rule them out are not read)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    filesystem, path = store.arrow_path(history_key(kind, day))
    filters = []
    if code is not None:
        filters.append(("code", "=", code))
    if minute is not None:
        filters.append(("minute", "=", pa.scalar(minute, type=pa.timestamp("us"))))
    table = pq.read_table(path, filesystem=filesystem, filters=filters or None)
    day_column = pc.cast(pa.array([day] * table.num_rows, type=pa.date32()), pa.date32())
    return table.add_column(0, "trade_date", day_column)
