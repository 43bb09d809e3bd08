"""MySQL literal rendering for bulk inserts: multi-row INSERT statements built column-wise with
C-level formatters, and a prefetch thread that renders ahead while the server executes."""

from __future__ import annotations

import datetime as dt
import math
import queue
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from findata_assets.eastmoney.catalog import COLUMNS
from findata_assets.trading_calendar import TZ_FIXED

_MAX_STATEMENT_CHARS = 1_000_000  # <= 4 MB of utf8mb4, well inside max_allowed_packet (16 MB)
_SUB_BATCH_ROWS = 100  # rendering unit; the render thread yields the GIL between units
SHANGHAI = TZ_FIXED
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


def literal_statements(prefix: str, columns: Sequence[Sequence[Any]], chunk: int,
                        max_chars: int = _MAX_STATEMENT_CHARS,
                        pause: Callable[[], None] = lambda: None,
                        kinds: Sequence[str] | None = None) -> Iterator[tuple[str, int]]:
    """(INSERT ... VALUES (...),(...) statement, row count) per chunk of at most `chunk` rows
    and about `max_chars` characters. Rendered in sub-batches; `pause()` runs between them.
    `kinds`: each column's catalog sql_type (default: the catalog's columns, in order)."""
    kinds = [c.sql_type for c in COLUMNS] if kinds is None else list(kinds)
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


def prefetched(iterator: Iterator[Any], depth: int = 3) -> Iterator[Any]:
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


def yield_gil() -> None:
    time.sleep(0)
