"""The SQL warehouse: one table per catalog entry, on MySQL/MariaDB or SQLite (SQLAlchemy Core).

- Table names only come from the catalog (`TableSpec`), never from free text.
- `ensure_table` creates a missing table with explicit types, Chinese comments, utf8mb4 and the
  primary key (trade_date, code); an existing table whose schema differs raises
  `SchemaMismatchError`. There is no automatic ALTER: migrations are explicit.
- `store` replaces the rows of the trade dates present in its input in ONE transaction per table
  (delete those days, bulk insert in chunks, commit). Any failure rolls back and leaves the
  previous data untouched; re-running is idempotent and other days (history) stay.
  `store_many` does the same for many tables (one transaction each), pipelined.

Bulk insert, MySQL/MariaDB: one multi-row `INSERT ... VALUES (...),(...)` statement per chunk of
`chunk_size` rows (never one statement per row). PyMySQL's executemany builds the same
statements, but its generic per-value escaping costs about three times the server's own time,
so the warehouse renders them itself, column-wise with C-level formatters, in a helper thread
that works ahead while the server executes (`insert_method="executemany"` keeps the driver's
path). Other databases (SQLite) use the driver's executemany per chunk.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Engine, make_url

from findata_assets import cancellation
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import COLUMNS, PRIMARY_KEY, TableSpec
from findata_assets.redaction import mask_url
from findata_assets.settings import ENV_DATABASE_URL

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_TIMEOUT_S = 30.0  # connect/read/write of one statement (FINDATA_DATABASE_TIMEOUT_S)
# auto: literal multi-row INSERTs on MySQL/MariaDB via PyMySQL, driver executemany elsewhere
INSERT_METHODS = ("auto", "literal", "executemany")
MYSQL_CHARSET = "utf8mb4"
MYSQL_COLLATION = "utf8mb4_unicode_ci"
_MYSQL_BACKENDS = ("mysql", "mariadb")
_STRING_LENGTHS = {"code": 16, "text": 64}


class WarehouseError(RuntimeError):
    """Base class of warehouse errors."""


class SchemaMismatchError(WarehouseError):
    """An existing table's schema differs from the catalog's; nothing was changed."""

    def __init__(self, table: str, problems: Sequence[str], columns: Sequence[str] = ()):
        self.table = table
        self.problems = list(problems)
        self.columns = sorted(set(columns))
        super().__init__(
            f"table {table} exists with a different schema: " + "; ".join(self.problems)
            + ". The warehouse never alters tables automatically: migrate or drop the table "
              "explicitly.")


class StoreError(WarehouseError):
    """Storing into a table failed and was rolled back; the previous rows are intact."""

    def __init__(self, table: str, message: str):
        self.table = table
        super().__init__(message)


@dataclass(frozen=True)
class StoreResult:
    table: str
    rows: int
    trade_dates: list[dt.date]
    seconds: float
    chunks: int = field(default=0, compare=False)


class PartialStoreError(WarehouseError):
    """`store_many` stopped part way: `stored` committed, the rest did not (the table that failed
    was rolled back, the ones after it were not touched)."""

    def __init__(self, stored: list[StoreResult], not_stored: list[str], cause: BaseException):
        self.stored, self.not_stored, self.cause = stored, not_stored, cause
        super().__init__(f"{len(stored)} of {len(stored) + len(not_stored)} tables stored, "
                         f"{len(not_stored)} not stored ({', '.join(not_stored)}): {cause}")


def _driver_error(exc: BaseException) -> str:
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {detail}"


def _family(sql_type: str) -> str:
    return {"date": "date", "code": "string", "text": "string", "int": "integer",
            "float": "float", "datetime": "datetime"}[sql_type]


def _sa_type(column: catalog.Column) -> sa.types.TypeEngine:
    kind = column.sql_type
    if kind == "date":
        return sa.Date()
    if kind in _STRING_LENGTHS:
        return sa.String(_STRING_LENGTHS[kind])
    if kind == "int":
        return sa.Integer()
    if kind == "float":
        return sa.Double(asdecimal=False)
    if kind == "datetime":
        # Microseconds kept on MySQL/MariaDB (DATETIME(6)); SQLite stores ISO text with them.
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL_BACKENDS)
    raise ValueError(f"unknown catalog column type {kind!r}")


def reflected_family(type_: sa.types.TypeEngine) -> str:
    """Map a reflected column type to a comparable family name."""
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, (sa.Float, sa.Double)) or type(type_).__name__.upper() in (
            "DOUBLE", "REAL", "FLOAT", "DOUBLE_PRECISION"):
        return "float"
    if isinstance(type_, sa.Numeric):
        return "decimal"
    if isinstance(type_, sa.Integer) and not isinstance(type_, sa.Boolean):
        return "integer"
    if isinstance(type_, sa.String):
        return "string"
    return type(type_).__name__.lower()


def build_table(spec: TableSpec, metadata: Optional[sa.MetaData] = None) -> sa.Table:
    """The SQLAlchemy table of a catalog entry (not bound to an engine)."""
    metadata = metadata if metadata is not None else sa.MetaData()
    columns = [
        sa.Column(c.name, _sa_type(c), nullable=c.nullable and c.name not in PRIMARY_KEY,
                  primary_key=c.name in PRIMARY_KEY, autoincrement=False, comment=c.label_zh)
        for c in COLUMNS
    ]
    dialect_options = {}
    for prefix in _MYSQL_BACKENDS:
        dialect_options |= {f"{prefix}_engine": "InnoDB", f"{prefix}_charset": MYSQL_CHARSET,
                            f"{prefix}_collate": MYSQL_COLLATION}
    return sa.Table(
        spec.name, metadata, *columns,
        sa.Index(f"ix_{spec.name}_date_rank", "trade_date", "rank"),
        comment=spec.label_zh,
        **dialect_options,
    )


def normalize_url(url: Union[str, URL]) -> URL:
    """utf8mb4 for MySQL/MariaDB (other charsets are refused)."""
    url = make_url(url)
    if url.get_backend_name() in _MYSQL_BACKENDS:
        charset = url.query.get("charset")
        if charset is None:
            url = url.update_query_dict({"charset": MYSQL_CHARSET})
        elif charset != MYSQL_CHARSET:
            raise ValueError(f"MySQL URLs must use charset={MYSQL_CHARSET}, got charset={charset}")
    return url


_MAX_STATEMENT_CHARS = 1_000_000  # <= 4 MB of utf8mb4, well inside max_allowed_packet (16 MB)
_SUB_BATCH_ROWS = 100  # rendering unit; the render thread yields the GIL between units
_SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_NONE = type(None)
_QUOTED = "'{}'".format
# Characters that need escaping inside '...'; a string holding any is sent as a hex literal
# instead, which reads the same whatever the session's sql_mode (NO_BACKSLASH_ESCAPES or not).
_SPECIAL_CHARS = ("\\", "'", '"', "\x00", "\n", "\r", "\x1a")


_FLOAT_LITERAL = "{!r}e0".format
_NULL_FLOAT_LITERAL = {"Nonee0": "NULL"}
_NULL_LITERAL = {"None": "NULL"}


def _string_literal(value: str) -> str:
    if any(ch in value for ch in _SPECIAL_CHARS):
        return "_utf8mb4 X'" + value.encode("utf-8").hex() + "'"
    return "'" + value + "'"


def _mysql_column_values(kind: str, column: Sequence[Any]) -> list[str]:
    """One column's values as SQL literals.

    Strings and dates become quoted literals (a string holding a quote, backslash or control
    character becomes a hex literal), floats exact DOUBLE literals, None NULL. Vectorised on
    purpose: types are checked once per column (a set of types, not a branch per value), and
    the per-value work is C-level map()s over str/repr/format; this is what keeps a 70k-row
    store near the server's own speed.
    """
    types = set(map(type, column))
    has_null = _NONE in types
    types.discard(_NONE)
    if not types:
        return ["NULL"] * len(column)
    if kind == "float":
        if not types <= {float, int}:  # Decimal, numpy floats, str ... -> float() or an error
            column = [None if v is None else float(v) for v in column]
        present = column if not has_null else [v for v in column if v is not None]
        if not all(map(math.isfinite, present)):
            raise ValueError("NaN or infinite values cannot be stored")
        # repr() round-trips a double exactly; the e0 exponent makes MySQL read a DOUBLE literal
        # (a plain 123.45 is parsed as DECIMAL and converted: about 40% more server time).
        literals = list(map(_FLOAT_LITERAL, column))
        if has_null:
            literals = list(map(_NULL_FLOAT_LITERAL.get, literals, literals))
        if any(map(",".join(literals).__contains__, ("e+", "e-"))):  # repr used an exponent
            literals = [lit if lit.count("e") < 2 else lit[:-2] for lit in literals]
        return literals
    if kind == "int":
        if not types <= {int}:
            column = [None if v is None else int(v) for v in column]
        literals = list(map(str, column))
        return list(map(_NULL_LITERAL.get, literals, literals)) if has_null else literals
    if kind in ("code", "text"):
        if not types <= {str}:
            column = [None if v is None else str(v) for v in column]
        present = [v for v in column if v is not None] if has_null else column
        if any(map("".join(present).__contains__, _SPECIAL_CHARS)):
            return ["NULL" if v is None else _string_literal(v) for v in column]
        if has_null:
            return ["NULL" if v is None else "'" + v + "'" for v in column]
        return list(map(_QUOTED, column))
    if kind in ("date", "datetime"):
        allowed = {dt.date} if kind == "date" else {dt.datetime, dt.date}
        if not types <= allowed:
            raise TypeError(f"expected {kind} values, got {sorted(t.__name__ for t in types)}")
        # str(date) is isoformat(); str(datetime) is isoformat(" "); timestamps repeat a lot
        distinct = set(column)
        distinct.discard(None)
        formatted = dict(zip(distinct, map(_QUOTED, distinct)))
        formatted[None] = "NULL"
        return list(map(formatted.__getitem__, column))
    raise ValueError(f"unknown catalog column type {kind!r}")


def _literal_statements(prefix: str, columns: Sequence[Sequence[Any]], chunk: int,
                        max_chars: int = _MAX_STATEMENT_CHARS,
                        pause: Callable[[], None] = lambda: None) -> Iterator[tuple[str, int]]:
    """(INSERT ... VALUES (...),(...) statement, row count) per chunk of at most `chunk` rows
    and about `max_chars` characters. Rendered in sub-batches; `pause()` runs between them."""
    kinds = [c.sql_type for c in COLUMNS]
    total = len(columns[0])
    step = max(1, min(chunk, _SUB_BATCH_ROWS))
    parts: list[str] = []
    rows = size = 0
    start = 0
    while start < total:
        stop = min(start + step, total, start + (chunk - rows))
        values = [_mysql_column_values(kind, column[start:stop])
                  for kind, column in zip(kinds, columns)]
        text = "(" + "),(".join(map(",".join, zip(*values))) + ")"
        if parts and size + len(text) > max_chars:
            yield prefix + ",".join(parts), rows
            parts, rows, size = [], 0, 0
        parts.append(text)
        rows += stop - start
        size += len(text) + 1
        start = stop
        if rows >= chunk:
            yield prefix + ",".join(parts), rows
            parts, rows, size = [], 0, 0
        pause()
    if parts:
        yield prefix + ",".join(parts), rows


def _prefetch(iterator: Iterator[Any], depth: int = 3) -> Iterator[Any]:
    """Run `iterator` in a helper thread, up to `depth` items ahead of the consumer.

    The consumer (the thread talking to the database) releases the GIL while it waits for the
    server, so preparing the next statements overlaps with executing the current one.
    Exceptions raised by `iterator` are re-raised in the consumer, in order.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in iterator:
                if not offer((True, item)):
                    return
            offer((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            offer((False, exc))

    worker = threading.Thread(target=work, name="findata-warehouse-render", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def _yield_gil() -> None:
    time.sleep(0)


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
        if self.backend in _MYSQL_BACKENDS:
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
            self._verify(conn, spec, table)
        self._verified.add(spec.name)
        return table

    def _verify(self, conn: sa.Connection, spec: TableSpec, table: sa.Table) -> None:
        inspector = sa.inspect(conn)
        reflected = {c["name"].lower(): c for c in inspector.get_columns(spec.name)}
        expected = {c.name: c for c in COLUMNS}
        problems, bad = [], []
        missing = [name for name in expected if name not in reflected]
        extra = [name for name in reflected if name not in expected]
        if missing:
            problems.append(f"missing columns {missing}")
            bad += missing
        if extra:
            problems.append(f"unexpected columns {extra}")
            bad += extra
        for name, column in expected.items():
            if name not in reflected:
                continue
            got = reflected[name]["type"]
            want = _family(column.sql_type)
            family = reflected_family(got)
            if family != want:
                problems.append(f"column {name} is {got} ({family}), expected {want}")
                bad.append(name)
            elif want == "string":
                length = getattr(got, "length", None)
                if length is not None and length < _STRING_LENGTHS[column.sql_type]:
                    problems.append(f"column {name} is {got}, shorter than "
                                    f"{_STRING_LENGTHS[column.sql_type]} characters")
                    bad.append(name)
        pk = [c.lower() for c in inspector.get_pk_constraint(spec.name).get("constrained_columns", [])]
        if pk != list(PRIMARY_KEY):
            problems.append(f"primary key is ({', '.join(pk) or 'none'}), expected "
                            f"({', '.join(PRIMARY_KEY)})")
            bad += list(PRIMARY_KEY)
        if self.backend in _MYSQL_BACKENDS:
            rows = conn.execute(sa.text(
                "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                "AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> :cs"),
                {"t": spec.name, "cs": MYSQL_CHARSET}).all()
            for name, charset in rows:
                problems.append(f"column {name} uses charset {charset}, expected {MYSQL_CHARSET}")
                bad.append(name)
        if problems:
            raise SchemaMismatchError(spec.name, problems, bad)

    # -- writes ----------------------------------------------------------------------------------
    def _prepare_rows(self, spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> tuple[
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
                    columns[i] = [v.astimezone(_SHANGHAI).replace(tzinfo=None)
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
                                            f"failed; nothing was stored: {_driver_error(exc)}"
                                 ) from exc
        if self._use_literal_inserts():
            stream = self._literal_stream(jobs, chunk)
            if self.prefetch:
                stream = _prefetch(stream)
        else:
            stream = self._executemany_stream(jobs, chunk)
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
                f"rows are intact: {_driver_error(exc)}") from exc
        return StoreResult(spec.name, count, dates, time.perf_counter() - started,
                           progress["chunks"])

    def _use_literal_inserts(self) -> bool:
        if self.insert_method == "auto":
            return self.backend in _MYSQL_BACKENDS and self.engine.dialect.driver == "pymysql"
        return self.insert_method == "literal"

    def _literal_stream(self, jobs, chunk: int) -> Iterator[tuple]:
        for spec, table, rows in jobs:
            columns, dates = self._prepare_rows(spec, rows)
            count = len(columns[0])
            yield ("begin", dates, count)
            if count:
                prefix = self._insert_prefix(table) + " "
                for statement, n in _literal_statements(prefix, columns, chunk,
                                                        pause=_yield_gil):
                    yield ("insert", statement, n)
            yield ("end",)

    def _executemany_stream(self, jobs, chunk: int) -> Iterator[tuple]:
        """Driver-level executemany with positional parameters, one call per chunk (SQLite; or
        PyMySQL, which rewrites an executemany INSERT into multi-row statements itself)."""
        dialect = self.engine.dialect
        marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        if marker is None:
            raise NotImplementedError(f"paramstyle {dialect.paramstyle!r} is not supported")
        placeholders = "(" + ", ".join([marker] * len(catalog.COLUMN_NAMES)) + ")"
        for spec, table, rows in jobs:
            columns, dates = self._prepare_rows(spec, rows)
            count = len(columns[0])
            yield ("begin", dates, count)
            if count:
                sql = f"{self._insert_prefix(table)} {placeholders}"
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

    def _insert_prefix(self, table: sa.Table) -> str:
        preparer = self.engine.dialect.identifier_preparer
        columns = ", ".join(preparer.quote(name) for name in catalog.COLUMN_NAMES)
        return f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES"

    def delete_trade_date(self, spec: TableSpec, trade_date: dt.date) -> int:
        table = self.ensure_table(spec)
        with self.engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.trade_date == trade_date)).rowcount

    # -- reads -----------------------------------------------------------------------------------
    def read(self, spec: TableSpec, trade_date: Optional[dt.date] = None) -> list[dict]:
        """Rows as dicts (catalog column names), ordered by trade_date, rank, code."""
        table = self.ensure_table(spec)
        query = sa.select(table).order_by(table.c.trade_date, table.c.rank, table.c.code)
        if trade_date is not None:
            query = query.where(table.c.trade_date == trade_date)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def trade_dates(self, spec: TableSpec) -> list[dt.date]:
        table = self.ensure_table(spec)
        query = sa.select(table.c.trade_date).distinct().order_by(table.c.trade_date)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

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
