"""Intraday flow history (分时资金流): one row per (trade_date, minute, code) in the warehouse.

Fed by the archived `1d` snapshots of a day: the 全部股票 table for stocks, the three board tables
for boards. A snapshot's minute is the minute of its data (its newest f124), not of its fetch, so
refreshes at lunch or after the close (same data minute) add nothing, and a minute taken again
replaces the rows of that minute in one transaction, never duplicates them.

Storage: one SQL table per family in the same warehouse, primary key (trade_date, code, minute)
for one security's day, a secondary index (trade_date, minute) for one minute of the market.
BENCHMARKS.md ("Intraday") has the sizes and timings behind the choice.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.parsing import naive_shanghai, parse_table
from findata_assets.eastmoney.snapshot import Snapshot
from findata_assets.storage import bulk_load, minute_log
from findata_assets.storage.mysql_literals import literal_statements
from findata_assets.storage.warehouse import Warehouse
from findata_assets.storage.warehouse_schema import column_type, mysql_table_options

TABLES = {"stock": "stock_flow_intraday", "sector": "sector_flow_intraday"}
# which archived 1d tables feed each family (全部股票 holds every stock of the other markets)
SOURCES: dict[str, tuple[catalog.TableSpec, ...]] = {
    "stock": (catalog.table("stock", "all", "1d"),),
    "sector": tuple(catalog.table("sector", board, "1d") for board in catalog.groups("sector")),
}
FLOW_COLUMNS = ("name", "price", "change_pct", "main_net", "main_pct", "super_large_net",
                "super_large_pct", "large_net", "large_pct", "medium_net", "medium_pct",
                "small_net", "small_pct")
KEY = ("trade_date", "code", "minute")
COLUMNS = (*KEY, "board", *FLOW_COLUMNS, "fetched_at")  # board: the board type (sectors only)
_BY_NAME = {c.name: c for c in catalog.COLUMNS}
COLUMN_KINDS = tuple("text" if c == "board" else "datetime" if c == "minute"
                     else _BY_NAME[c].sql_type for c in COLUMNS)  # how each is rendered
RETRYABLE_MYSQL = {1213, 1205}  # deadlock victim, lock wait timeout: "try restarting transaction"
DEADLOCK_ATTEMPTS = 4


def build_intraday_table(kind: str, metadata: Optional[sa.MetaData] = None) -> sa.Table:
    metadata = metadata if metadata is not None else sa.MetaData()
    name = TABLES[kind]
    columns = [sa.Column("trade_date", sa.Date(), primary_key=True, comment="交易日"),
               sa.Column("code", column_type(_BY_NAME["code"]), primary_key=True, comment="代码"),
               sa.Column("minute", sa.DateTime(), primary_key=True, comment="数据分钟（北京时间）"),
               sa.Column("board", sa.String(16), nullable=True, comment="板块类型")]
    columns += [sa.Column(c, column_type(_BY_NAME[c]), comment=_BY_NAME[c].label_zh)
                for c in FLOW_COLUMNS]
    columns.append(sa.Column("fetched_at", column_type(_BY_NAME["fetched_at"]), nullable=False,
                             comment="抓取时间"))
    return sa.Table(name, metadata, *columns, sa.Index(f"ix_{name}_minute", "trade_date", "minute"),
                    comment=f"{'个股' if kind == 'stock' else '板块'}分时资金流",
                    **mysql_table_options())


def minute_of(snapshot: Snapshot) -> Optional[dt.datetime]:
    """The minute of a snapshot's data (naive Asia/Shanghai), None when it has no f124."""
    if snapshot.updated_at is None or snapshot.trade_date_fallback:
        return None
    return naive_shanghai(snapshot.updated_at).replace(second=0, microsecond=0)


def rows_of(spec: catalog.TableSpec, snapshot: Snapshot,
            parsed: Optional[Sequence[Mapping]] = None) -> list[dict]:
    """A snapshot as intraday rows (the 1d columns at the snapshot's data minute); `parsed`:
    its rows as parse_table gave them already."""
    minute = minute_of(snapshot)
    if minute is None:
        return []
    fetched = naive_shanghai(snapshot.fetched_at)
    board = spec.group.key if spec.group.kind == "sector" else None
    rows = parsed if parsed is not None else parse_table(spec, snapshot).rows
    return [{"trade_date": row["trade_date"], "code": row["code"], "minute": minute,
             "board": board, **{c: row[c] for c in FLOW_COLUMNS}, "fetched_at": fetched}
            for row in rows]


@dataclass
class MinuteWrite:
    minute: dt.datetime
    rows: int
    replaced: bool  # the minute was stored before (a newer snapshot of it replaced it)


class IntradayStore:
    """Reads and writes the intraday tables of one warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._metadata = sa.MetaData()
        self._tables: dict[str, sa.Table] = {}
        self._lock = threading.Lock()

    def logged_minutes(self, kind: str, day: dt.date) -> dict[dt.datetime, minute_log.StoredMinute]:
        """The day's stored minutes from the minute log (coverage); a day stored before the log
        existed is logged from this table first, once."""
        logged = minute_log.stored(self.warehouse, kind, day)
        if logged:
            return logged
        t = self.table(kind)
        query = (sa.select(t.c.minute, t.c.board, sa.func.max(t.c.fetched_at), sa.func.count())
                 .where(t.c.trade_date == day).group_by(t.c.minute, t.c.board))
        with self.warehouse.engine.begin() as conn:
            found = conn.execute(query).all()
            for minute, board, fetched, rows in found:
                minute_log.record(conn, kind, day, minute, board, rows, fetched, None)
        return minute_log.merged([(m, b, f, None) for m, b, f, _ in found])

    def table(self, kind: str) -> sa.Table:
        if kind not in TABLES:
            raise KeyError(f"unknown intraday family {kind!r}; expected one of {sorted(TABLES)}")
        with self._lock:  # one definition per MetaData, whichever thread asks first
            if kind not in self._tables:
                table = build_intraday_table(kind, self._metadata)
                table.create(self.warehouse.engine, checkfirst=True)
                minute_log.ensure(self.warehouse.engine)
                self._tables[kind] = table
            return self._tables[kind]

    @staticmethod
    def _board_is(t: sa.Table, board: Optional[str]):
        return t.c.board.is_(None) if board is None else t.c.board == board

    def stored_minutes(self, kind: str, day: dt.date,
                       board: Optional[str] = None) -> dict[dt.datetime, dt.datetime]:
        """minute -> the fetch time of the snapshot stored for it (of one board type)."""
        t = self.table(kind)
        query = (sa.select(t.c.minute, sa.func.max(t.c.fetched_at))
                 .where(t.c.trade_date == day, self._board_is(t, board)).group_by(t.c.minute))
        with self.warehouse.engine.connect() as conn:
            return {m: f for m, f in conn.execute(query)}

    def minute_span(self, kind: str, day: dt.date) -> tuple[Optional[dt.datetime], ...]:
        """The day's first and last stored minute (both ends of an index range: cheap)."""
        t = self.table(kind)
        query = sa.select(sa.func.min(t.c.minute), sa.func.max(t.c.minute)).where(
            t.c.trade_date == day)
        with self.warehouse.engine.connect() as conn:
            return tuple(conn.execute(query).one())

    def replace_minute_if_newer(self, kind: str, day: dt.date, minute: dt.datetime,
                                board: Optional[str], rows: Sequence[Mapping],
                                fetched: dt.datetime,
                                run_id: Optional[str] = None) -> Optional[MinuteWrite]:
        """The minute's rows, unless a fetch as new or newer is stored for it (then None): the
        live feed's write, the check inside its transaction."""
        t = self.table(kind)
        self._check_unique(kind, day, minute, rows)

        def write(conn) -> Optional[MinuteWrite]:
            # A locking read: a plain SELECT reads the transaction's snapshot, so of two runs
            # storing the minute at once the older fetch could delete the newer one's committed
            # rows and win. FOR UPDATE reads what is committed and makes them meet on the lock.
            stored = conn.execute(sa.select(sa.func.max(t.c.fetched_at)).where(
                t.c.trade_date == day, t.c.minute == minute, self._board_is(t, board))
                .with_for_update()).scalar()
            if stored is not None and stored >= fetched:
                return None
            self._replace(conn, kind, t, day, minute, board, rows, run_id)
            return MinuteWrite(minute, len(rows), replaced=stored is not None)

        return self._transaction(write)

    def _transaction(self, work):
        """`work(conn)` in one transaction, tried again as an InnoDB deadlock victim: two runs
        may store the same new minute at once (the quick and the incremental lane both hold
        全部股票 today), each DELETE's gap lock then blocks the other's INSERT."""
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                with self.warehouse.engine.begin() as conn:
                    return work(conn)
            except sa.exc.OperationalError as exc:
                code = getattr(exc.orig, "args", [None])[0]
                if code not in RETRYABLE_MYSQL or attempt == DEADLOCK_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * attempt)
        raise AssertionError("unreachable")

    def _check_unique(self, kind: str, day: dt.date, minute: dt.datetime,
                      rows: Sequence[Mapping]) -> None:
        if len({r["code"] for r in rows}) != len(rows):
            raise ValueError(f"{TABLES[kind]} {day} {minute:%H:%M}: a code appears twice")

    def _replace(self, conn, kind: str, t: sa.Table, day: dt.date, minute: dt.datetime,
                 board: Optional[str], rows: Sequence[Mapping], run_id: Optional[str]) -> None:
        conn.execute(t.delete().where(t.c.trade_date == day, t.c.minute == minute,
                                      self._board_is(t, board)))
        if rows:
            self._insert(conn, t, rows)
            minute_log.record(conn, kind, day, minute, board, len(rows),
                              max(r["fetched_at"] for r in rows), run_id)

    def _insert(self, conn, t: sa.Table, rows: Sequence[Mapping]) -> None:
        """Multi-row INSERTs rendered as literals where the warehouse uses them (MySQL/MariaDB
        through PyMySQL, or its insert_method), as its bulk load: a minute of stocks is 5,000+
        rows every minute, and SQLAlchemy's executemany spent ~0.3 s of CPU binding them.
        Elsewhere (SQLite) the driver's executemany."""
        if not self.warehouse.uses_literal_inserts():
            conn.execute(t.insert(), [dict(r) for r in rows])
            return
        columns = [[row.get(name) for row in rows] for name in COLUMNS]  # absent: NULL
        prefix = bulk_load.insert_prefix(conn.dialect, t, COLUMNS) + " "
        for statement, _ in literal_statements(prefix, columns, self.warehouse.chunk_size,
                                               kinds=COLUMN_KINDS):
            # no parameters: a '%' in a name stays as it is (on this statement only)
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})

    def replace_minute(self, kind: str, day: dt.date, minute: dt.datetime, board: Optional[str],
                       rows: Sequence[Mapping], replaced: bool,
                       run_id: Optional[str] = None) -> MinuteWrite:
        """The minute's rows (of one board type), instead of what it held, in one transaction."""
        t = self.table(kind)
        self._check_unique(kind, day, minute, rows)
        self._transaction(lambda conn: self._replace(conn, kind, t, day, minute, board, rows,
                                                     run_id))
        return MinuteWrite(minute, len(rows), replaced)

    # -- retention -----------------------------------------------------------------------------
    def stored_days(self, kind: str) -> list[dt.date]:
        t = self.table(kind)
        with self.warehouse.engine.connect() as conn:  # the primary key's first column: cheap
            return list(conn.execute(sa.select(t.c.trade_date).distinct()
                                     .order_by(t.c.trade_date)).scalars())

    def day_size(self, kind: str, day: dt.date) -> tuple[int, int]:
        """(rows, estimated bytes on disk) of a day: rows times the table's mean row size,
        indexes included, as the server's statistics say (InnoDB's are estimates)."""
        t = self.table(kind)
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).where(t.c.trade_date == day)).scalar()
            per_row = None
            if conn.dialect.name in ("mysql", "mariadb"):
                per_row = conn.execute(sa.text(
                    "SELECT (data_length + index_length) / NULLIF(table_rows, 0) FROM "
                    "information_schema.tables WHERE table_schema = DATABASE() AND "
                    "table_name = :name"), {"name": t.name}).scalar()
        return int(rows), int(rows * float(per_row or 0))

    def newest_fetch(self, kind: str, day: dt.date) -> Optional[dt.datetime]:
        t = self.table(kind)
        with self.warehouse.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(t.c.fetched_at)).where(
                t.c.trade_date == day)).scalar()

    def delete_day(self, kind: str, day: dt.date) -> int:
        """Delete a day's rows, a minute per transaction (small undo logs, short locks)."""
        t = self.table(kind)
        deleted = 0
        for minute in self.minutes(kind, day):
            deleted += self._transaction(lambda conn, m=minute: conn.execute(t.delete().where(
                t.c.trade_date == day, t.c.minute == m)).rowcount)
        return deleted

    # -- reads ---------------------------------------------------------------------------------
    def _select(self, kind: str, *where) -> list[dict]:
        t = self.table(kind)
        query = sa.select(*[t.c[c] for c in COLUMNS]).where(*where).order_by(t.c.minute, t.c.code)
        with self.warehouse.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def read_code(self, kind: str, code: str, day: dt.date) -> list[dict]:
        t = self.table(kind)
        return self._select(kind, t.c.trade_date == day, t.c.code == code)

    def read_minute(self, kind: str, day: dt.date, minute: dt.datetime) -> list[dict]:
        t = self.table(kind)
        return self._select(kind, t.c.trade_date == day, t.c.minute == minute)

    def read_day_dicts(self, kind: str, day: dt.date) -> list[dict]:
        t = self.table(kind)
        return self._select(kind, t.c.trade_date == day)

    def read_day(self, kind: str, day: dt.date, columns: Iterable[str] = COLUMNS) -> list[tuple]:
        t = self.table(kind)
        query = sa.select(*[t.c[c] for c in columns]).where(t.c.trade_date == day)
        with self.warehouse.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def day_series(self, day: dt.date, top_n: int = 5) -> Optional[dict]:
        """What the report draws: per minute, the sum of all stocks' main net inflow, and the
        lines of the top `top_n` stocks by main net at the day's last minute. None: no minutes."""
        t = self.table("stock")
        with self.warehouse.engine.connect() as conn:
            market = conn.execute(sa.select(t.c.minute, sa.func.sum(t.c.main_net))
                                  .where(t.c.trade_date == day).group_by(t.c.minute)
                                  .order_by(t.c.minute)).all()
            if not market:
                return None
            last = market[-1][0]
            top = conn.execute(sa.select(t.c.code, t.c.name)
                               .where(t.c.trade_date == day, t.c.minute == last,
                                      t.c.main_net.is_not(None))
                               .order_by(t.c.main_net.desc()).limit(top_n)).all()
            codes = [code for code, _ in top]
            rows = conn.execute(sa.select(t.c.code, t.c.minute, t.c.main_net)
                                .where(t.c.trade_date == day, t.c.code.in_(codes))).all()
        minutes = [m for m, _ in market]
        values = {(code, m): v for code, m, v in rows}
        return {"minutes": [m.strftime("%H:%M") for m in minutes],
                "market_main_net": [v for _, v in market],
                "top": [{"code": code, "name": name,
                         "main_net": [values.get((code, m)) for m in minutes]}
                        for code, name in top]}

    def minutes(self, kind: str, day: dt.date) -> list[dt.datetime]:
        t = self.table(kind)
        query = sa.select(t.c.minute).where(t.c.trade_date == day).distinct().order_by(t.c.minute)
        with self.warehouse.engine.connect() as conn:
            return list(conn.execute(query).scalars())
