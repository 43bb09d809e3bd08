"""The minute log: one row per intraday minute stored (family, board type, minute, rows, fetch
time, the run that stored it), written in the same transaction as the minute's rows.

It is what coverage reads (storage/../coverage): a day's stored minutes in a few hundred rows, not
a GROUP BY over the day's 1.3 million, and it outlives the rows (retention moves closed days to
Parquet files, the log stays: about 400 rows, ~30 KB, per trading day). A day stored before the
log existed is read once from the intraday table and logged then.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Optional

import sqlalchemy as sa

from findata_assets.coverage.day_coverage import StoredMinute
from findata_assets.eastmoney import catalog
from findata_assets.storage.warehouse import Warehouse
from findata_assets.storage.warehouse_schema import column_type, mysql_table_options

TABLE = "intraday_minute_log"
STOCK_BOARD = ""  # stocks have no board type; '' keeps the primary key non-null
_METADATA = sa.MetaData()
_created: set[str] = set()
_lock = threading.Lock()

minute_log = sa.Table(
    TABLE, _METADATA,
    sa.Column("trade_date", sa.Date(), primary_key=True, comment="交易日"),
    sa.Column("family", sa.String(8), primary_key=True, comment="stock | sector"),
    sa.Column("board", sa.String(16), primary_key=True, comment="板块类型 ('' for stocks)"),
    sa.Column("minute", sa.DateTime(), primary_key=True, comment="数据分钟（北京时间）"),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("fetched_at", column_type(next(c for c in catalog.COLUMNS if c.name == "fetched_at")), nullable=False,
              comment="抓取时间"),
    sa.Column("run_id", sa.String(64), nullable=True, comment="the Dagster run that stored it"),
    comment="分时资金流: minutes stored (coverage)", **mysql_table_options())


def ensure(engine: sa.Engine) -> sa.Table:
    key = str(engine.url)
    with _lock:
        if key not in _created:
            minute_log.create(engine, checkfirst=True)
            _created.add(key)
    return minute_log


def record(conn: sa.Connection, family: str, day: dt.date, minute: dt.datetime,
           board: Optional[str], rows: int, fetched_at: dt.datetime,
           run_id: Optional[str]) -> None:
    """Log a minute as stored, inside the transaction that stores its rows. Without a run id (a
    rebuild from the archive) the run that first stored the minute stays logged."""
    board = board or STOCK_BOARD
    t = minute_log
    values = {"rows": rows, "fetched_at": fetched_at} | ({"run_id": run_id} if run_id else {})
    updated = conn.execute(t.update().where(
        t.c.trade_date == day, t.c.family == family, t.c.board == board, t.c.minute == minute,
    ).values(**values)).rowcount  # matched rows: SQLAlchemy's MySQL drivers set FOUND_ROWS
    if not updated:
        conn.execute(t.insert().values(trade_date=day, family=family, board=board,
                                       minute=minute, **({"run_id": run_id} | values)))


def stored(warehouse: Warehouse, family: str, day: dt.date) -> dict[dt.datetime, StoredMinute]:
    """The day's logged minutes of a family: minute -> its newest fetch, the run, the boards."""
    ensure(warehouse.engine)
    t = minute_log
    query = (sa.select(t.c.minute, t.c.board, t.c.fetched_at, t.c.run_id)
             .where(t.c.trade_date == day, t.c.family == family).order_by(t.c.minute))
    with warehouse.engine.connect() as conn:
        return merged(conn.execute(query).all())


def merged(rows) -> dict[dt.datetime, StoredMinute]:
    """(minute, board, fetched_at, run_id) rows as one StoredMinute per minute."""
    out: dict[dt.datetime, StoredMinute] = {}
    for minute, board, fetched, run_id in rows:
        have = out.get(minute)
        boards = frozenset({board} if board else ()) | (have.boards if have else frozenset())
        newest = max(fetched, have.fetched_at) if have else fetched
        out[minute] = StoredMinute(minute, newest, run_id or (have.run_id if have else None),
                                   boards)
    return out


def count(warehouse: Warehouse, family: str, day: dt.date) -> int:
    """Distinct minutes logged for the day (an index range of a few hundred rows)."""
    ensure(warehouse.engine)
    t = minute_log
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(sa.distinct(t.c.minute))).where(
            t.c.trade_date == day, t.c.family == family)).scalar() or 0
