"""Daily fund-flow history (日线资金流): one row per security and trading day in the warehouse.

    daily_flow  primary key (trade_date, code), index (code, trade_date)

Every stock, board (BKxxxx) and the market (code MARKET: Shanghai + Shenzhen) once a day,
whatever market tables list it: the 32 market tables and the N-day periods are derived from
these rows on read (reader.py), never stored again. A row comes from one of two sources:
`snapshot` (the platform's own 1d snapshot fetched after the close) or `kline` (the source's
per-security daily series, for the days the platform did not watch). A snapshot row is never
replaced by a kline row (`upsert(..., keep_snapshots=True)`).

Why the warehouse holds them: ~6,000 rows a day (1.5 M a year), small enough for MySQL to keep
every day indexed, and it is where a user of SQL joins them with the 1d tables. Each closed day
is also exported as Parquet (storage/daily_files.py) for Arrow tools, as the intraday history.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Iterable, Mapping, Optional, Sequence

import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.storage import bulk_load
from findata_assets.storage.mysql_literals import literal_statements
from findata_assets.storage.warehouse import Warehouse
from findata_assets.storage.warehouse_schema import column_type, mysql_table_options

TABLE = "daily_flow"
MARKET_CODE = "MARKET"  # the market pair (上证指数 + 深证成指) as one security
KINDS = ("stock", "board", "market")
SOURCES = ("snapshot", "kline")
FLOW_COLUMNS = ("main_net", "main_pct", "super_large_net", "super_large_pct", "large_net",
                "large_pct", "medium_net", "medium_pct", "small_net", "small_pct")
VALUE_COLUMNS = (*FLOW_COLUMNS, "close", "change_pct", "close_2", "change_pct_2")
KEY = ("trade_date", "code")
COLUMNS = (*KEY, "kind", "board", "name", *VALUE_COLUMNS, "source", "fetched_at")
_BY_NAME = {c.name: c for c in catalog.COLUMNS}
# how each column is rendered as a MySQL literal (mysql_literals kinds)
COLUMN_KINDS = tuple("date" if c == "trade_date" else "code" if c == "code"
                     else "datetime" if c == "fetched_at"
                     else "text" if c in ("kind", "board", "name", "source") else "float"
                     for c in COLUMNS)
LABELS_ZH = {"close": "收盘价", "change_pct": "涨跌幅", "close_2": "深证成指收盘（大盘）",
             "change_pct_2": "深证成指涨跌幅（大盘）", "kind": "类别", "board": "板块类型",
             "source": "来源", **{c: _BY_NAME[c].label_zh for c in
                                 ("trade_date", "code", "name", "fetched_at", *FLOW_COLUMNS)}}


def build_daily_table(metadata: Optional[sa.MetaData] = None) -> sa.Table:
    metadata = metadata if metadata is not None else sa.MetaData()
    columns = [sa.Column("trade_date", sa.Date(), primary_key=True, comment=LABELS_ZH["trade_date"]),
               sa.Column("code", column_type(_BY_NAME["code"]), primary_key=True,
                         comment=LABELS_ZH["code"]),
               sa.Column("kind", sa.String(8), nullable=False, comment=LABELS_ZH["kind"]),
               sa.Column("board", sa.String(16), nullable=True, comment=LABELS_ZH["board"]),
               sa.Column("name", column_type(_BY_NAME["name"]), comment=LABELS_ZH["name"])]
    columns += [sa.Column(c, sa.Double(asdecimal=False), comment=LABELS_ZH[c])
                for c in VALUE_COLUMNS]
    columns += [sa.Column("source", sa.String(8), nullable=False, comment=LABELS_ZH["source"]),
                sa.Column("fetched_at", column_type(_BY_NAME["fetched_at"]), nullable=False,
                          comment=LABELS_ZH["fetched_at"])]
    return sa.Table(TABLE, metadata, *columns, sa.Index(f"ix_{TABLE}_code", "code", "trade_date"),
                    comment="每日资金流（个股、板块、大盘）", **mysql_table_options())


def select_rows(t: sa.Table, columns: Sequence[str], *, kinds: Iterable[str] = KINDS,
                codes: Optional[Iterable[str]] = None, days: Optional[Iterable[dt.date]] = None,
                start: Optional[dt.date] = None, end: Optional[dt.date] = None,
                board: Optional[str] = None) -> sa.Select:
    """The rows of daily_flow a read asks for, by trade_date then code (the one place that
    turns a read's filters into SQL: the store's reads and the reader's)."""
    where = [t.c.kind.in_(list(kinds))]
    if codes is not None:
        where.append(t.c.code.in_(list(codes)))
    if days is not None:
        where.append(t.c.trade_date.in_(list(days)))
    if start is not None:
        where.append(t.c.trade_date >= start)
    if end is not None:
        where.append(t.c.trade_date <= end)
    if board is not None:
        where.append(t.c.board == board)
    return (sa.select(*[t.c[c] for c in columns]).where(*where)
            .order_by(t.c.trade_date, t.c.code))


class DailyFlowStore:
    """Reads and writes the daily_flow table of one warehouse. Thread-safe."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._table: Optional[sa.Table] = None
        self._lock = threading.Lock()

    @property
    def table(self) -> sa.Table:
        with self._lock:
            if self._table is None:
                table = build_daily_table()
                table.create(self.warehouse.engine, checkfirst=True)
                self._table = table
            return self._table

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, rows: Sequence[Mapping], keep_snapshots: bool = True) -> int:
        """Insert or replace rows by (trade_date, code) in one transaction; with
        `keep_snapshots`, a kline row does not replace a stored snapshot row. Returns rows
        written (a kept snapshot row counts as not written)."""
        if not rows:
            return 0
        t = self.table
        keys = {(r["trade_date"], r["code"]) for r in rows}
        if len(keys) != len(rows):
            raise ValueError(f"{TABLE}: a (trade_date, code) appears twice in one write")
        with self.warehouse.engine.begin() as conn:
            if keep_snapshots and any(r["source"] == "kline" for r in rows):
                days = sorted({r["trade_date"] for r in rows})
                kept = set(map(tuple, conn.execute(
                    sa.select(t.c.trade_date, t.c.code).where(
                        t.c.trade_date.in_(days), t.c.source == "snapshot")).all()))
                rows = [r for r in rows if r["source"] != "kline"
                        or (r["trade_date"], r["code"]) not in kept]
            self._write(conn, t, rows)
        return len(rows)

    def upsert_tuples(self, rows: Sequence[Sequence]) -> int:
        """Rows as tuples in COLUMNS order (a backfill's bulk: no dict per row), inserted or
        replaced by key in one transaction. The caller has left out what must not be replaced."""
        if not rows:
            return 0
        with self.warehouse.engine.begin() as conn:
            self._write_columns(conn, self.table, [list(c) for c in zip(*rows)])
        return len(rows)

    def _write(self, conn, t: sa.Table, rows: Sequence[Mapping]) -> None:
        if rows:
            self._write_columns(conn, t, [[row.get(name) for row in rows] for name in COLUMNS])

    def _write_columns(self, conn, t: sa.Table, columns: list[list]) -> None:
        if self.warehouse.dialect in ("mysql", "mariadb") and self.warehouse.uses_literal_inserts():
            prefix = bulk_load.insert_prefix(conn.dialect, t, COLUMNS) + " "
            update = ", ".join(f"`{c}`=VALUES(`{c}`)" for c in COLUMNS if c not in KEY)
            for statement, _ in literal_statements(prefix, columns, self.warehouse.chunk_size,
                                                   kinds=COLUMN_KINDS):
                conn.exec_driver_sql(f"{statement} ON DUPLICATE KEY UPDATE {update}",
                                     execution_options={"no_parameters": True})
            return
        if self.warehouse.dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as mysql_insert
            stmt = mysql_insert(t)
            stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in COLUMNS
                                                 if c not in KEY})
        else:  # SQLite: the row replaces the one with its key
            stmt = t.insert().prefix_with("OR REPLACE")
        conn.execute(stmt, [dict(zip(COLUMNS, values)) for values in zip(*columns)])

    # -- reads -----------------------------------------------------------------------------
    def read(self, *, codes: Optional[Iterable[str]] = None, kinds: Iterable[str] = KINDS,
             start: Optional[dt.date] = None, end: Optional[dt.date] = None,
             board: Optional[str] = None, columns: Sequence[str] = COLUMNS) -> list[tuple]:
        """Rows as tuples in `columns` order, by trade_date then code."""
        query = select_rows(self.table, columns, kinds=kinds, codes=codes, start=start, end=end,
                            board=board)
        with self.warehouse.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def read_day(self, day: dt.date) -> list[tuple]:
        return self.read(start=day, end=day)

    def counts(self, start: dt.date, end: dt.date) -> dict[dt.date, dict[str, int]]:
        """Stored rows per day: per kind, per source and per "kind:source"."""
        t = self.table
        query = (sa.select(t.c.trade_date, t.c.kind, t.c.source, sa.func.count())
                 .where(t.c.trade_date >= start, t.c.trade_date <= end)
                 .group_by(t.c.trade_date, t.c.kind, t.c.source))
        out: dict[dt.date, dict[str, int]] = {}
        with self.warehouse.engine.connect() as conn:
            for day, kind, source, n in conn.execute(query):
                day_counts = out.setdefault(day, {})
                day_counts[kind] = day_counts.get(kind, 0) + n
                day_counts[source] = day_counts.get(source, 0) + n
                day_counts[f"{kind}:{source}"] = n
        return out

    def first_day(self, create: bool = True) -> Optional[dt.date]:
        """The oldest day held; create=False: None when the table does not exist (a code
        location that loads creates nothing)."""
        if not create:
            with self.warehouse.engine.connect() as conn:
                if not sa.inspect(conn).has_table(TABLE):
                    return None
        t = self.table
        with self.warehouse.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(t.c.trade_date))).scalar()
