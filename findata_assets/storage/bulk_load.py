"""The bulk-load path of the warehouse: rows checked and turned into columns, then a stream of
INSERT statements per table (rendered MySQL literals, or driver executemany batches) that
Warehouse._store_one consumes inside each table's transaction.

Stream items per table: ("begin", trade_dates, row_count), ("insert", payload, rows)...,
("end",). A payload is a rendered statement (str) or (sql, batch) for executemany.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from typing import Any, Iterator, Mapping, Sequence

import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import COLUMNS, TableSpec
from findata_assets.storage.mysql_literals import SHANGHAI, literal_statements, yield_gil


def prepare_rows(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> tuple[
        list[list], list[dt.date]]:
    """The rows as columns (catalog column order), checked; missing nullable keys are NULL.

    Column-wise so 70k rows cost milliseconds: rows with exactly the catalog keys (what
    parsing.typed_rows produces) go through C-level itemgetter/zip. Aware datetimes are
    converted to Asia/Shanghai wall time (the warehouse stores naive Asia/Shanghai times).
    """
    names = catalog.COLUMN_NAMES
    rows = list(rows)
    if not rows:
        return [[] for _ in names], []
    allowed = set(names)
    if set(map(len, rows)) == {len(names)}:
        try:
            tuples = list(map(operator.itemgetter(*names), rows))  # all keys, no others
        except KeyError:
            tuples = None
    else:
        tuples = None
    if tuples is None:  # some keys missing or unknown: the slow, precise path
        for index, row in enumerate(rows):
            if not row.keys() <= allowed:
                unknown = sorted(set(row) - allowed)
                raise ValueError(f"{spec.name}: row {index} has unknown columns {unknown}")
        tuples = [tuple([row.get(name) for name in names]) for row in rows]
    columns = [list(column) for column in zip(*tuples)]
    for i, column in enumerate(COLUMNS):
        if not column.nullable and None in columns[i]:
            index = columns[i].index(None)
            raise ValueError(f"{spec.name}: row {index} has no value for NOT NULL column "
                             f"{column.name}")
        if column.sql_type == "datetime":
            values = columns[i]
            aware = {type(v) for v in set(values) if getattr(v, "tzinfo", None) is not None}
            if aware:
                columns[i] = [v.astimezone(SHANGHAI).replace(tzinfo=None)
                              if getattr(v, "tzinfo", None) is not None else v for v in values]
    trade_dates = columns[names.index("trade_date")]
    codes = columns[names.index("code")]
    distinct_dates = set(trade_dates)
    wrong = {type(d).__name__ for d in distinct_dates if type(d) is not dt.date}
    if wrong:
        raise ValueError(f"{spec.name}: trade_date must be datetime.date values, got "
                         f"{sorted(wrong)}")
    keys = set(zip(trade_dates, codes))
    if len(keys) != len(rows):
        seen, duplicates = set(), []
        for key in zip(trade_dates, codes):
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        first = duplicates[0]
        raise ValueError(f"{spec.name}: {len(duplicates)} duplicate (trade_date, code) rows, "
                         f"e.g. trade_date={first[0]} code={first[1]!r}")
    return columns, sorted(distinct_dates)


def literal_stream(jobs, chunk: int, dialect) -> Iterator[tuple]:
    """Each table's items for Warehouse._store_one, the INSERTs rendered as MySQL literals."""
    for spec, table, rows in jobs:
        columns, dates = prepare_rows(spec, rows)
        count = len(columns[0])
        yield ("begin", dates, count)
        if count:
            prefix = insert_prefix(dialect, table) + " "
            for statement, n in literal_statements(prefix, columns, chunk,
                                                    pause=yield_gil):
                yield ("insert", statement, n)
        yield ("end",)

def executemany_stream(jobs, chunk: int, dialect) -> Iterator[tuple]:
    """Driver-level executemany with positional parameters, one call per chunk (SQLite; or
    PyMySQL, which rewrites an executemany INSERT into multi-row statements itself)."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if marker is None:
        raise NotImplementedError(f"paramstyle {dialect.paramstyle!r} is not supported")
    placeholders = "(" + ", ".join([marker] * len(catalog.COLUMN_NAMES)) + ")"
    for spec, table, rows in jobs:
        columns, dates = prepare_rows(spec, rows)
        count = len(columns[0])
        yield ("begin", dates, count)
        if count:
            sql = f"{insert_prefix(dialect, table)} {placeholders}"
            for column, values in zip(COLUMNS, columns):
                if column.sql_type == "float" and not all(
                        map(math.isfinite, [v for v in values if v is not None])):
                    raise ValueError(f"{spec.name}: NaN or infinite values in column "
                                     f"{column.name} cannot be stored")
            for index, name in enumerate(catalog.COLUMN_NAMES):
                processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    columns[index] = [None if v is None else processor(v)
                                      for v in columns[index]]
            values = list(zip(*columns))
            for start in range(0, count, chunk):
                batch = values[start:start + chunk]
                yield ("insert", (sql, batch), len(batch))
        yield ("end",)

def insert_prefix(dialect, table: sa.Table,
                  names: Sequence[str] = catalog.COLUMN_NAMES) -> str:
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    return f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES"
