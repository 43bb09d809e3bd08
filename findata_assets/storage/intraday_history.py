"""Closed intraday days as Parquet files in the object store, one per family and day.

    history/stock_flow_intraday/trade_date=2026-12-01/part-0.parquet

A Hive-style layout (the day is the `trade_date=` folder, as Spark, Trino, DuckDB, Polars and
pyarrow.dataset read it), zstd-compressed (see `encode` for the encodings). Both research reads must
skip most of the file by row-group statistics alone (no reader uses page indexes): one stock's
day and one minute of the market. So a row group is a tile of CODES_PER_GROUP codes by one
half hour, its rows sorted by (code, minute): one stock's day reads 9 small groups, one minute
27 (BENCHMARKS.md compares this with one sort by code, which makes a minute read the whole
file).
The columns are the warehouse table's (storage/intraday.py COLUMNS) but `trade_date`, which the
path carries; NULL stays NULL. A day is written from the warehouse rows and read back before it
counts: `verify` compares the file with those rows value for value, and `record_verified`
leaves `_verified.json` beside it (size, SHA-256, rows, against what): what retention needs
before it deletes the warehouse rows or the raw snapshots of the day. Readers skip files named
with a leading underscore (Hive, Spark, pyarrow.dataset), so the record is no data file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import dataclass
from typing import Optional, Sequence

from findata_assets.storage.intraday import COLUMNS, FLOW_COLUMNS, TABLES
from findata_assets.storage.object_store import ObjectStore

HISTORY_PREFIX = "history"
FILE_COLUMNS = tuple(c for c in COLUMNS if c != "trade_date")  # the path holds the day
CODES_PER_GROUP = 200  # x one half hour: ~6,000 rows a group, 243 groups in a stock day
CONTENT_TYPE = "application/vnd.apache.parquet"
ZSTD_LEVEL = 9  # written once a day: 3% smaller than the default level for ~1 s more
_STRINGS = ("code", "board", "name")
_TIMES = ("minute", "fetched_at")


def history_key(kind: str, day: dt.date) -> str:
    return f"{HISTORY_PREFIX}/{TABLES[kind]}/trade_date={day.isoformat()}/part-0.parquet"


def _day_folder(kind: str, day: dt.date) -> str:
    return history_key(kind, day).rsplit("/", 1)[0]


def verified_key(kind: str, day: dt.date) -> str:
    return f"{_day_folder(kind, day)}/_verified.json"


def file_column_types() -> dict[str, str]:
    """Each file column's Arrow type by its name (what the catalog shows: no pyarrow needed)."""
    return {c: "string" if c in _STRINGS else "timestamp[us]" if c in _TIMES else "double"
            for c in FILE_COLUMNS}


def arrow_schema():
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.type_for_alias(t)) for c, t in file_column_types().items()])


def _tile(code_rank: int, minute: dt.datetime) -> tuple[int, int]:
    return code_rank // CODES_PER_GROUP, minute.hour * 2 + minute.minute // 30


def to_arrow(rows: Sequence[Sequence]):
    """Rows in FILE_COLUMNS order as an Arrow table in file order: by tile, then code, minute."""
    import pyarrow as pa

    rank = {code: i for i, code in enumerate(sorted({r[0] for r in rows}))}
    ordered = sorted(rows, key=lambda r: (*_tile(rank[r[0]], r[1]), r[0], r[1]))
    columns = list(zip(*ordered)) if ordered else [[] for _ in FILE_COLUMNS]
    schema = arrow_schema()
    return pa.table([pa.array(list(values), type=field.type)
                     for values, field in zip(columns, schema)], schema=schema)


def _tile_bounds(table) -> list[tuple[int, int]]:
    """(offset, length) of each tile's run of rows in a table in file order."""
    codes, minutes = table.column("code").to_pylist(), table.column("minute").to_pylist()
    rank = {code: i for i, code in enumerate(sorted(set(codes)))}
    bounds, start, previous = [], 0, None
    for i, (code, minute) in enumerate(zip(codes, minutes)):
        tile = _tile(rank[code], minute)
        if previous is not None and tile != previous:
            bounds.append((start, i - start))
            start = i
        previous = tile
    if codes:
        bounds.append((start, len(codes) - start))
    return bounds


def encode(table) -> bytes:
    """The file: one row group per tile, with statistics. Prices and shares (two decimals in a
    narrow range: a few thousand distinct values a tile) are dictionary-encoded, money (nearly
    every value distinct) byte-stream-split, so zstd finds the repeating exponent bytes:
    82 -> 40 B/row on the fake's real-size day (BENCHMARKS.md)."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    floats = [f.name for f in table.schema if f.name not in _STRINGS + _TIMES]
    narrow = [c for c in floats if c == "price" or c.endswith("_pct")]
    with pq.ParquetWriter(sink, table.schema, compression="zstd", compression_level=ZSTD_LEVEL,
                          write_statistics=True, use_dictionary=[*_STRINGS, *narrow],
                          use_byte_stream_split=[c for c in floats if c not in narrow]) as writer:
        for offset, length in _tile_bounds(table) or [(0, 0)]:
            writer.write_table(table.slice(offset, length), row_group_size=max(length, 1))
    return sink.getvalue()


@dataclass
class Written:
    key: str
    rows: int
    bytes: int


def write_day(store: ObjectStore, kind: str, day: dt.date, table) -> Written:
    """`table` (to_arrow of the day's rows) as the day's file; replaces what was there (and
    the record of its verification, which was of the file replaced)."""
    body = encode(table)
    key = history_key(kind, day)
    store.delete_keys([verified_key(kind, day)])
    store.put_bytes(key, body, CONTENT_TYPE)
    return Written(key, table.num_rows, len(body))


def write_and_verify(store: ObjectStore, kind: str, day: dt.date, table,
                     against: str) -> Written:
    """Write the day's file, read it back and compare with `table`, record the verification."""
    written = write_day(store, kind, day, table)
    table_read, body = _read(store, kind, day)
    _compare(written.key, table_read, table)
    record_verified(store, kind, day, body, written.rows, against)
    return written


class HistoryFileError(ValueError):
    """A day's Parquet file that is missing, unreadable (truncated) or differs from the rows."""


def read_file(store: ObjectStore, kind: str, day: dt.date):
    """The day's whole file as an Arrow table; HistoryFileError when it is not a readable file."""
    return _read(store, kind, day)[0]


def _read(store: ObjectStore, kind: str, day: dt.date):
    import pyarrow as pa
    import pyarrow.parquet as pq

    body = _body(store, kind, day)
    try:
        return pq.read_table(pa.BufferReader(body)), body
    except (pa.ArrowInvalid, OSError) as exc:
        raise HistoryFileError(f"{history_key(kind, day)}: not a readable Parquet file "
                               f"({len(body):,} bytes, "
                               f"truncated?): {exc}") from None


def verify(store: ObjectStore, kind: str, day: dt.date, expected) -> int:
    """The file holds exactly `expected` (to_arrow of the warehouse rows), value for value, NULL
    for NULL; returns the row count, or raises HistoryFileError naming the first difference."""
    return verified_sha256(store, kind, day, expected)[0]


def verified_sha256(store: ObjectStore, kind: str, day: dt.date, expected) -> tuple[int, str]:
    """verify, and the SHA-256 of the very bytes compared: (rows, sha256)."""
    table, body = _read(store, kind, day)
    _compare(history_key(kind, day), table, expected)
    return table.num_rows, hashlib.sha256(body).hexdigest()


def _compare(key: str, table, expected) -> None:
    if table.schema.names != list(FILE_COLUMNS):
        raise HistoryFileError(f"{key}: columns {table.schema.names}, expected {FILE_COLUMNS}")
    if table.num_rows != expected.num_rows:
        raise HistoryFileError(f"{key}: {table.num_rows:,} rows, the warehouse has "
                               f"{expected.num_rows:,}")
    if table.equals(expected):  # Arrow's own comparison: nulls equal nulls
        return
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
    minute: only the row groups whose statistics may hold them are fetched and decoded."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    filesystem, path = store.arrow_path(history_key(kind, day))
    with filesystem.open_input_file(path) as source:
        parquet = pq.ParquetFile(source, pre_buffer=True)
        groups = _groups_holding(parquet.metadata, code, minute)
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    if code is not None:
        table = table.filter(pc.equal(table.column("code"), code))
    if minute is not None:
        table = table.filter(pc.equal(table.column("minute"),
                                      pa.scalar(minute, type=pa.timestamp("us"))))
    return table.add_column(0, "trade_date", pa.array([day] * table.num_rows, type=pa.date32()))


def _groups_holding(metadata, code: Optional[str], minute: Optional[dt.datetime]) -> list[int]:
    """Row groups whose min/max of code and minute admit the wanted values (all without)."""
    wanted = [(FILE_COLUMNS.index(name), value)
              for name, value in (("code", code), ("minute", minute)) if value is not None]
    groups = []
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        if group.num_rows and all(_admits(group.column(c).statistics, v) for c, v in wanted):
            groups.append(i)
    return groups


def _admits(statistics, value) -> bool:
    if statistics is None or not statistics.has_min_max:
        return True  # no statistics: the group must be read
    return statistics.min <= value <= statistics.max


def record_verified(store: ObjectStore, kind: str, day: dt.date, body: bytes, rows: int,
                    against: str) -> None:
    """Note that the file `body` (as stored now) was verified against `against` (the warehouse)."""
    record = {"key": history_key(kind, day), "rows": rows, "bytes": len(body),
              "sha256": hashlib.sha256(body).hexdigest(), "verified_against": against,
              "verified_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    store.put_bytes(verified_key(kind, day), json.dumps(record).encode(), "application/json")


def _body(store: ObjectStore, kind: str, day: dt.date) -> bytes:
    """The file's bytes; HistoryFileError when there is none."""
    key = history_key(kind, day)
    if not store.exists(key):
        raise HistoryFileError(f"{key}: missing")
    return store.get_bytes(key)


def file_sha256(store: ObjectStore, kind: str, day: dt.date) -> str:
    return hashlib.sha256(_body(store, kind, day)).hexdigest()


def verified_record(store: ObjectStore, kind: str, day: dt.date) -> Optional[dict]:
    key = verified_key(kind, day)
    return json.loads(store.get_bytes(key)) if store.exists(key) else None


def check_verified(store: ObjectStore, kind: str, day: dt.date) -> dict:
    """The day's file is the one verified (same bytes as when its record was written); returns
    the record (rows, sha256, ...), or raises HistoryFileError saying why not."""
    key, record = history_key(kind, day), verified_record(store, kind, day)
    if record is None:
        raise HistoryFileError(f"{key}: never verified (no {verified_key(kind, day)})")
    body = _body(store, kind, day)
    if len(body) != record["bytes"] or hashlib.sha256(body).hexdigest() != record["sha256"]:
        raise HistoryFileError(f"{key}: changed since it was verified ({len(body):,} bytes, "
                               f"verified {record['bytes']:,})")
    return record


def refuse_shrinking(store: ObjectStore, kind: str, day: dt.date, rows: int,
                     source: str) -> None:
    """A verified file is never replaced by fewer rows (a warehouse day half deleted, an
    archive whose quick snapshots retention removed): HistoryFileError instead."""
    record = verified_record(store, kind, day)
    if record is not None and rows < record["rows"]:
        raise HistoryFileError(f"{history_key(kind, day)}: verified with {record['rows']:,} rows,"
                               f" {source} holds {rows:,}: the file is kept, not replaced")


def invalidate(store: ObjectStore, kind: str, day: dt.date) -> bool:
    """Forget the day's verification (its rows changed in the warehouse); True if there was one:
    readers go back to the warehouse and retention keeps the day until the file is written
    again."""
    key = verified_key(kind, day)
    if not store.exists(key):
        return False
    store.delete_keys([key])
    return True


def file_minutes(store: ObjectStore, kind: str, day: dt.date) -> set[dt.datetime]:
    """The distinct minutes the day's file holds (its minute column only)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    filesystem, path = store.arrow_path(history_key(kind, day))
    with filesystem.open_input_file(path) as source:
        minutes = pq.read_table(source, columns=["minute"]).column("minute")
    return set(pc.unique(minutes).to_pylist())


def last_minute(store: ObjectStore, kind: str, day: dt.date) -> Optional[dt.datetime]:
    """The file's last minute, from its row groups' statistics (the footer only)."""
    import pyarrow.parquet as pq

    filesystem, path = store.arrow_path(history_key(kind, day))
    with filesystem.open_input_file(path) as source:
        metadata = pq.ParquetFile(source).metadata
    column = FILE_COLUMNS.index("minute")
    ends = [metadata.row_group(i).column(column).statistics for i in range(
        metadata.num_row_groups)]
    return max((s.max for s in ends if s is not None and s.has_min_max), default=None)


def deleting_key(kind: str, day: dt.date) -> str:
    """Present while retention deletes the day from the warehouse (a minute per transaction):
    a deletion cut short is finished, not mistaken for a warehouse that differs."""
    return f"{_day_folder(kind, day)}/_deleting_from_warehouse"
