"""The SQL warehouse: one table per catalog entry, on MySQL/MariaDB or SQLite (SQLAlchemy Core).

- Table names only come from the catalog (`TableSpec`), never from free text.
- `ensure_table` creates a missing table with explicit types, Chinese comments, utf8mb4 and the
  primary key (trade_date, code); an existing table whose schema differs raises
  `SchemaMismatchError`. There is no automatic ALTER: migrations are explicit.
- `store` replaces the rows of the trade dates present in its input in ONE transaction per table
  (delete those days, bulk insert in chunks, commit). Any failure rolls back and leaves the
  previous data untouched; re-running is idempotent and other days (history) stay.
  `store_many` does the same for many tables (one transaction each), pipelined.

Bulk insert (bulk_load.py), MySQL/MariaDB: one multi-row `INSERT ... VALUES (...),(...)` statement per chunk of
`chunk_size` rows (never one statement per row). PyMySQL's executemany builds the same
statements, but its generic per-value escaping costs about three times the server's own time,
so the warehouse renders them itself, column-wise with C-level formatters, in a helper thread
that works ahead while the server executes (`insert_method="executemany"` keeps the driver's
path). Other databases (SQLite) use the driver's executemany per chunk.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from findata_assets import cancellation
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.redaction import mask_url
from findata_assets.settings import ENV_DATABASE_URL
from findata_assets.storage import bulk_load
from findata_assets.storage.mysql_literals import prefetched
from findata_assets.storage.warehouse_errors import (  # noqa: F401 (the warehouse's API)
    PartialStoreError, SchemaMismatchError, StoreError, StoreResult, WarehouseError,
    driver_error)
from findata_assets.storage.warehouse_schema import (  # noqa: F401
    MYSQL_BACKENDS, MYSQL_CHARSET, MYSQL_COLLATION, build_table, normalize_url,
    reflected_family, verify_table)

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_TIMEOUT_S = 30.0  # connect/read/write of one statement (FINDATA_DATABASE_TIMEOUT_S)
# auto: literal multi-row INSERTs on MySQL/MariaDB via PyMySQL, driver executemany elsewhere
INSERT_METHODS = ("auto", "literal", "executemany")


class Warehouse:
    """Catalog tables in one SQL database. Thread-safe; one engine (connection pool) per instance."""

    def __init__(
        self,
        url: Union[str, URL],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        echo: bool = False,
        engine_kwargs: Optional[Mapping[str, Any]] = None,
        insert_method: str = "auto",
        prefetch: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if insert_method not in INSERT_METHODS:
            raise ValueError(f"insert_method must be one of {INSERT_METHODS}, got {insert_method!r}")
        self.insert_method = insert_method
        self.prefetch = prefetch
        self.url = normalize_url(url)
        self.chunk_size = chunk_size
        self.backend = self.url.get_backend_name()
        self.timeout_s = timeout_s
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "echo": echo}
        if self.backend in MYSQL_BACKENDS:
            kwargs["pool_recycle"] = 1800
            if self.engine_driver_is_pymysql():
                # a server that stops answering (frozen, unplugged) must not hang a run: every
                # connect, read and write gives up after timeout_s
                kwargs["connect_args"] = {"connect_timeout": min(10, int(timeout_s)) or 1,
                                          "read_timeout": int(timeout_s) or 1,
                                          "write_timeout": int(timeout_s) or 1}
            kwargs["pool_timeout"] = timeout_s
        elif self.backend == "sqlite":
            self._prepare_sqlite_file()
            kwargs["connect_args"] = {"timeout": timeout_s}
        kwargs.update(engine_kwargs or {})
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        self.metadata = sa.MetaData()
        self._tables: dict[str, sa.Table] = {}
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    def connect(self) -> sa.Connection:
        """A connection for a read (its own SQL: the analysis history)."""
        return self.engine.connect()

    def begin(self):
        """A connection in a transaction, committed when the block ends without error."""
        return self.engine.begin()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def engine_driver_is_pymysql(self) -> bool:
        return self.url.get_driver_name() == "pymysql"

    def ping(self) -> None:
        """One round trip (SELECT 1); raises the driver's error when the server does not answer."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- identity --------------------------------------------------------------------------------
    def describe(self) -> str:
        """The URL with its password masked, safe for logs and metadata."""
        return mask_url(self.url.render_as_string(hide_password=False))

    def where(self) -> str:
        """describe() and the setting it comes from, for error messages."""
        return f"{self.describe()} ({ENV_DATABASE_URL})"

    def __repr__(self) -> str:
        return f"Warehouse({self.describe()})"

    def _prepare_sqlite_file(self) -> None:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    # -- schema ----------------------------------------------------------------------------------
    def table(self, spec: TableSpec) -> sa.Table:
        """The SQLAlchemy table for a catalog entry (no database access)."""
        if not isinstance(spec, TableSpec) or catalog.TABLES_BY_NAME.get(spec.name) != spec:
            raise ValueError(f"{spec!r} is not a table of the catalog")
        with self._lock:
            if spec.name not in self._tables:
                self._tables[spec.name] = build_table(spec, self.metadata)
            return self._tables[spec.name]

    def ensure_table(self, spec: TableSpec) -> sa.Table:
        """Create the table when missing; verify an existing one (SchemaMismatchError if it differs)."""
        table = self.table(spec)
        if spec.name in self._verified:
            return table
        try:
            with self.engine.begin() as conn:
                table.create(conn, checkfirst=True)  # CREATE TABLE + index when missing
        except sa.exc.DatabaseError:
            # Another process may have created it between the check and the create.
            with self.engine.connect() as conn:
                if not sa.inspect(conn).has_table(spec.name):
                    raise
        with self.engine.connect() as conn:
            verify_table(conn, spec, self.backend)
        self._verified.add(spec.name)
        return table

    # -- writes ----------------------------------------------------------------------------------
    def store(self, spec: TableSpec, rows: Sequence[Mapping[str, Any]],
              *, chunk_size: Optional[int] = None) -> StoreResult:
        """Replace the rows of the trade dates present in `rows`, in one transaction.

        Deletes those trade dates' rows, inserts `rows` in chunks of `chunk_size` rows (one
        multi-row INSERT per chunk), commits. Bad input raises ValueError/TypeError before
        anything is written; a database failure rolls the table back and raises StoreError
        naming the table. An empty `rows` changes nothing.
        """
        return self.store_many([(spec, rows)], chunk_size=chunk_size)[0]

    def store_many(self, items: Iterable[tuple[TableSpec, Sequence[Mapping[str, Any]]]],
                   *, chunk_size: Optional[int] = None) -> list[StoreResult]:
        """`store` for several tables, in order, one transaction per table.

        Pipelined on MySQL/MariaDB: the next tables' statements are prepared while the server
        executes the current ones. If a table fails, the tables before it stay committed, it is
        rolled back, and the ones after it are not touched (StoreError names the failed table;
        PartialStoreError wraps it once some tables committed, and lists them).
        """
        chunk = chunk_size or self.chunk_size
        if chunk < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk}")
        jobs = []
        for spec, rows in items:
            try:
                jobs.append((spec, self.ensure_table(spec), rows))
            except sa.exc.DBAPIError as exc:
                raise StoreError(spec.name, f"preparing table {spec.name} of {self.where()} "
                                            f"failed; nothing was stored: {driver_error(exc)}"
                                 ) from exc
        if self.uses_literal_inserts():
            stream = self._literal_stream(jobs, chunk)
            if self.prefetch:
                stream = prefetched(stream)
        else:
            stream = bulk_load.executemany_stream(jobs, chunk, self.engine.dialect)
        results: list[StoreResult] = []
        try:
            for spec, table, _rows in jobs:
                cancellation.check()  # between tables: each is stored in full or not at all
                results.append(self._store_one(spec, table, stream))
        except Exception as exc:
            if not results:
                raise  # nothing committed: the error as it is
            not_stored = [spec.name for spec, _, _ in jobs[len(results):]]
            raise PartialStoreError(results, not_stored, exc) from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return results

    def _store_one(self, spec: TableSpec, table: sa.Table, stream: Iterator) -> StoreResult:
        """Consume one table's items from `stream`: ("begin", dates, count), then ("insert",
        statement-or-batch, rows)..., then ("end",)."""
        started = time.perf_counter()
        kind, dates, count = next(stream)  # preparation errors (bad rows) surface here, raw
        assert kind == "begin"
        progress = {"chunks": 0, "rows": 0}
        if not count:
            assert next(stream)[0] == "end"
            return StoreResult(spec.name, 0, [], time.perf_counter() - started, 0)
        delete = table.delete().where(table.c.trade_date.in_(sa.bindparam("dates", expanding=True)))
        try:
            with self.engine.begin() as conn:
                conn.execute(delete, {"dates": dates})
                literal_conn = conn.execution_options(no_parameters=True)  # '%' stays literal
                while True:
                    item = next(stream)
                    if item[0] == "end":
                        break
                    _, payload, rows = item
                    if isinstance(payload, str):
                        literal_conn.exec_driver_sql(payload)
                    else:
                        sql, batch = payload
                        conn.exec_driver_sql(sql, batch)
                    progress["chunks"] += 1
                    progress["rows"] += rows
        except Exception as exc:  # noqa: BLE001 - re-raised with the table named
            raise StoreError(
                spec.name,
                f"storing {count} rows ({', '.join(d.isoformat() for d in dates)}) into table "
                f"{spec.name} of {self.where()} failed after {progress['chunks']} insert chunk(s) "
                f"({progress['rows']} rows); the transaction was rolled back and the previous "
                f"rows are intact: {driver_error(exc)}") from exc
        return StoreResult(spec.name, count, dates, time.perf_counter() - started,
                           progress["chunks"])

    def _literal_stream(self, jobs, chunk: int) -> Iterator[tuple]:
        return bulk_load.literal_stream(jobs, chunk, self.engine.dialect)

    def uses_literal_inserts(self) -> bool:
        if self.insert_method == "auto":
            return self.backend in MYSQL_BACKENDS and self.engine_driver_is_pymysql()
        return self.insert_method == "literal"

    def delete_trade_date(self, spec: TableSpec, trade_date: dt.date) -> int:
        table = self.ensure_table(spec)
        with self.engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.trade_date == trade_date)).rowcount

    # -- reads -----------------------------------------------------------------------------------
    def read(self, spec: TableSpec, trade_date: Optional[dt.date] = None,
             columns: Optional[Sequence[str]] = None) -> list[dict]:
        """Rows as dicts (catalog column names, or only `columns`), ordered by trade_date,
        rank, code. Fewer columns read faster: the driver decodes every value in Python."""
        table = self.ensure_table(spec)
        names = list(columns or catalog.COLUMN_NAMES)
        with self.engine.connect() as conn:
            return [dict(zip(names, row))
                    for row in conn.execute(self._read_query(table, trade_date, names))]

    @staticmethod
    def _read_query(table: sa.Table, trade_date: Optional[dt.date], names: Sequence[str]):
        query = sa.select(*(table.c[name] for name in names)).order_by(
            table.c.trade_date, table.c.rank, table.c.code)
        return query if trade_date is None else query.where(table.c.trade_date == trade_date)

    def read_with_newest(self, spec: TableSpec, trade_date: dt.date, columns: Sequence[str],
                         newest: Sequence[str]) -> tuple[list[dict], dict[str, Any]]:
        """`read(spec, trade_date, columns)` and the largest value of each of `newest` on that
        day, from one snapshot (one transaction: a store committed between two reads would
        pair these rows with another snapshot's times). An aggregate, so a reader that needs
        only the newest timestamp does not decode one per row."""
        table = self.ensure_table(spec)
        stamps = sa.select(*(sa.func.max(table.c[name]) for name in newest)).where(
            table.c.trade_date == trade_date)
        with self.engine.connect() as conn, conn.begin():
            rows = conn.execute(self._read_query(table, trade_date, columns)).all()
            latest = conn.execute(stamps).one()
        return [dict(zip(columns, row)) for row in rows], dict(zip(newest, latest))

    def trade_dates(self, spec: TableSpec) -> list[dt.date]:
        table = self.ensure_table(spec)
        query = sa.select(table.c.trade_date).distinct().order_by(table.c.trade_date)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def first_trade_date(self, spec: TableSpec) -> Optional[dt.date]:
        """The earliest trade date stored, None when none is; creates nothing (read-only)."""
        table = self.table(spec)
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(spec.name):
                return None
            return conn.execute(sa.select(sa.func.min(table.c.trade_date))).scalar_one()

    def count(self, spec: TableSpec, trade_date: Optional[dt.date] = None) -> int:
        table = self.ensure_table(spec)
        query = sa.select(sa.func.count()).select_from(table)
        if trade_date is not None:
            query = query.where(table.c.trade_date == trade_date)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc_info) -> None:
        self.dispose()
