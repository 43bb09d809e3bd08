"""One backfill of the daily history over a range of trading days: each security fetched once
for the whole range, its answer archived raw before it is parsed, its lines stored as rows of
their days, and each day accounted for (expected, stored, without a line, failed).

    Backfill(warehouse, store, history, eastmoney).run(start, end) -> BackfillResult

Days the platform watched (a 1d snapshot fetched after the close) come from that snapshot; where
the source's line exists too, the two are compared (rows.Agreement). The market has no snapshot
(its index values are only in the source's line): it is always one request. A resumed run
reads the answers archived for the same last session instead of fetching them again.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney import klines
from findata_assets.eastmoney.errors import NoSuchSecurityError
from findata_assets.history import lane_lock, raw_archive
from findata_assets.history.progress import Progress, Throttle
from findata_assets.history.day_columns import DayColumns
from findata_assets.history.writer import Writer
from findata_assets.history.rows import (
    VALUE_AT, Agreement, as_dict, kline_row, snapshot_row, watched)
from findata_assets.history.sessions import in_session, last_closed_session, seconds_to_close
from findata_assets.history.securities import (
    BOARD_TABLES, ORDER_FIELD, STOCK_TABLE, Security, Universe, from_ranking, from_warehouse)
from findata_assets.storage import daily_files
from findata_assets.storage.daily_flow import DailyFlowStore
from findata_assets.storage.object_store import ObjectStore
from findata_assets.storage.warehouse import Warehouse

log = logging.getLogger("findata.history")
EXPORT_THREADS = 4
FLUSH_ROWS = 10_000  # rows buffered before a write: bounded memory, few transactions
DELISTED_NOTE = "today's universe (the source lists no delisted security)"


class BackfillRangeError(ValueError):
    """A range that selects no closed trading day."""


@dataclass
class DayReport:
    day: dt.date
    expected: dict[str, int]
    stored: dict[str, int]  # per kind, and per source ("kline", "snapshot")
    failed: dict[str, int]  # per kind: securities whose answer failed (no row on any day)
    agreement: Agreement
    parquet: Optional[daily_files.Written] = None

    def without_line(self, kind: str) -> int:
        """Answered, but no line that day: suspended, not yet listed (or beyond the source)."""
        return max(0, self.expected.get(kind, 0) - self.stored.get(kind, 0)
                   - self.failed.get(kind, 0))

    @property
    def total_stored(self) -> int:
        return sum(self.stored.get(k, 0) for k in ("stock", "board", "market"))


@dataclass
class BackfillResult:
    start: dt.date
    end: dt.date
    as_of: dt.date
    universe: Universe
    days: list[DayReport]
    fetched: int = 0
    resumed: int = 0
    skipped_watched: int = 0  # securities not asked: every day of the range was watched
    unknown: list[str] = field(default_factory=list)  # data: null: the source has no such secid
    failed: dict[str, str] = field(default_factory=dict)  # secid -> error
    identity_violations: int = 0
    identity_securities: int = 0
    fetch_stats: Optional[object] = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # fetch, store (after it), files

    def failed_of(self, kind: str) -> list[str]:
        """The failed secids of one kind (stock, board, market)."""
        kinds = {s.secid: s.kind for s in self.universe.securities}
        return sorted(s for s in self.failed if kinds.get(s) == kind)


class Backfill:
    def __init__(self, warehouse: Warehouse, store: ObjectStore, history_settings,
                 eastmoney_settings, *, run_now: bool = True,
                 on_progress: Optional[Callable[[Progress, bool], None]] = None,
                 on_event: Optional[Callable[[str, str], None]] = None,
                 progress_every_s: float = 1.0) -> None:
        self.warehouse, self.store = warehouse, store
        self.history, self.eastmoney = history_settings, eastmoney_settings
        self.run_now = run_now
        self.daily = DailyFlowStore(warehouse)
        self.on_progress, self.on_event = on_progress, on_event
        self._progress_due = Throttle(progress_every_s)
        self._lock, self._flush_lock = threading.Lock(), threading.Lock()
        self._buffer: list[tuple] = []

    # -- the run -----------------------------------------------------------------------------
    def run(self, start: dt.date, end: dt.date) -> BackfillResult:
        started = time.monotonic()
        as_of = last_closed_session()
        days = self._days(start, end, as_of)
        with lane_lock.hold(self.warehouse, lambda text: self._event("waiting", text)):
            result = self._run(start, end, days, as_of)
        result.seconds = time.monotonic() - started
        self._report_progress(force=True)
        return result

    def _run(self, start: dt.date, end: dt.date, days: list[dt.date],
             as_of: dt.date) -> BackfillResult:
        universe = from_warehouse(self.warehouse) or from_ranking(self._fetch_ranking)
        log.info("history %s..%s: %d trading day(s), %d securities from %s, ordered by %s",
                 days[0], days[-1], len(days), len(universe.securities), universe.source,
                 ORDER_FIELD)
        snapshots = self._watched_rows(days)
        self.daily.upsert(list(snapshots.values()), keep_snapshots=False)
        # a security whose every day of the range was watched needs no request
        plan = [s for s in universe.securities
                if s.kind == "market" or any((d, s.code) not in snapshots for d in days)]
        result = BackfillResult(start, end, as_of, universe, [],
                                skipped_watched=len(universe.securities) - len(plan))
        self._state = _RunState(set(days), snapshots, result,
                                {s.secid: s for s in plan}, Progress(len(plan)),
                                DayColumns(days, plan))
        self._writer = Writer(self.daily)
        archived = raw_archive.archived(self.store, as_of)
        resume = [s for s in plan if s.secid in archived]
        fetch = [s for s in plan if s.secid not in archived]
        if resume:
            log.info("history: %d of %d answers archived for the session of %s: read from the "
                     "archive, not fetched again", len(resume), len(plan), as_of)
        for secid, body in raw_archive.read_many(self.store, as_of, [s.secid for s in resume]):
            self._handle(secid, body, resumed=True)
        result.resumed = len(resume)
        self._state.progress.fetching()
        phase = time.monotonic()
        try:
            if fetch:
                result.fetch_stats = self._fetch(fetch, as_of)
            result.phases["fetch"] = time.monotonic() - phase
            self._flush()
        finally:
            self._writer.close()  # raises the writer's error, if it had one
        result.phases["store"] = time.monotonic() - phase - result.phases.get("fetch", 0.0)
        phase = time.monotonic()
        result.days = self._reports(days, as_of)
        result.phases["files"] = time.monotonic() - phase
        result.fetched = len(fetch) - sum(1 for s in fetch if s.secid in result.failed)
        return result

    def _days(self, start: dt.date, end: dt.date, as_of: dt.date) -> list[dt.date]:
        if start > end:
            raise BackfillRangeError(f"the range {start}..{end} is reversed: the start must not "
                                     "come after the end")
        if end > as_of:
            raise BackfillRangeError(
                f"{end} has not closed yet: a session's daily line appears after its 15:00 "
                f"close; the latest closed session is {as_of}")
        days = tc.trading_days(start, end)
        if not days:
            raise BackfillRangeError(f"{start}..{end} holds no trading day")
        return days

    def _fetch_ranking(self, specs):
        from findata_assets.eastmoney.client import EastmoneyClient

        e = self.eastmoney
        with EastmoneyClient(e.base_url, concurrency=self.history.concurrency,
                             min_interval_s=self.history.min_interval_ms / 1000,
                             max_attempts=e.max_attempts,
                             page_deadline_s=e.page_deadline_s) as client:
            return client.fetch_tables(specs)

    def _watched_rows(self, days: list[dt.date]) -> dict[tuple, dict]:
        """(day, code) -> the daily row from the platform's close snapshot, for watched days."""
        out: dict[tuple, dict] = {}
        sources = [("stock", None, STOCK_TABLE), *(("board", k, s) for k, s in BOARD_TABLES.items())]
        for kind, board, spec in sources:
            stored = set(self.warehouse.trade_dates(spec))
            for day in days:
                if day not in stored:
                    continue
                rows = self.warehouse.read(spec, day)
                if not rows or not watched(max(r["fetched_at"] for r in rows), day):
                    continue
                for row in rows:
                    out[(day, row["code"])] = snapshot_row(kind, board, row)
        return out

    def _fetch(self, fetch: list[Security], as_of: dt.date):
        from findata_assets.eastmoney.kline_fetch import HistoryFetcher

        if in_session() and self.run_now:
            self._event("session", "the trading session is open: this backfill runs now, "
                                   "beside the every-minute lane (FINDATA_HISTORY_WINDOW "
                                   "applies to background runs)")

        def on_answer(secid: str, body: bytes) -> None:
            raw_archive.put(self.store, as_of, secid, body)  # before parsing: resumable
            self._handle(secid, body)

        def on_failure(secid: str, exc: BaseException) -> None:
            self._fail(secid, exc)

        fetcher = HistoryFetcher(self.history, self.eastmoney)
        return fetcher.fetch([s.secid for s in fetch], on_answer, on_failure,
                             on_event=self._event, wait_allowed=self._wait_allowed)

    def _wait_allowed(self) -> Optional[float]:
        if self.run_now or self.history.window == "always":
            return None
        return seconds_to_close()

    def _event(self, kind: str, text: str) -> None:
        """Said once: to the caller (the run log, the CLI, the alert) or else as a warning."""
        if self.on_event:
            self.on_event(kind, text)
        else:
            log.warning("history: %s", text)

    # -- one answer --------------------------------------------------------------------------
    def _handle(self, secid: str, body: bytes, resumed: bool = False) -> None:
        state = self._state
        security = state.plan[secid]
        try:
            series = klines.parse_daily(body, secid)
        except NoSuchSecurityError:
            with self._lock:
                state.result.unknown.append(secid)
            state.progress.add(resumed=resumed)
            return
        except Exception as exc:  # a malformed answer: this security fails, named
            self._fail(secid, exc, resumed=resumed)
            return
        report = klines.check_identities(series)
        violations = len(report.violations)
        fetched_at = dt.datetime.now(tc.TZ).replace(tzinfo=None)
        rows, compared = [], []
        for line in series.lines:
            if line.trade_date not in state.days:
                continue
            row = kline_row(security, line, fetched_at)
            snap = (state.snapshots.get((line.trade_date, security.code))
                    if security.kind != "market" else None)
            if snap is not None:
                compared.append((line.trade_date, snap, row))
                continue  # the watched snapshot is stored for this day
            rows.append(row)
        with self._lock:
            for day, snap, row in compared:
                state.agreement(day).add(security.code, snap, as_dict(row))
            for row in rows:
                state.day_columns.add(secid, row, VALUE_AT, fetched_at)
            if violations:
                state.result.identity_violations += violations
                state.result.identity_securities += 1
                if state.result.identity_securities <= 3:
                    first = report.violations[0]
                    log.warning("history %s: %d line(s) break the fund-flow identities (e.g. "
                                "%s on %s misses by %.2f, more than %.2f); stored as the "
                                "source sent them", secid, violations, first.identity,
                                first.trade_date, first.gap, first.tolerance)
            self._buffer += rows
            full = len(self._buffer) >= FLUSH_ROWS
        state.progress.add(rows=len(rows), resumed=resumed)
        if full:
            self._flush()
        self._report_progress()

    def _fail(self, secid: str, exc: BaseException, resumed: bool = False) -> None:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        with self._lock:
            self._state.result.failed[secid] = text
        log.warning("history %s failed: %s", secid, text)
        self._state.progress.add(resumed=resumed, failed=True)

    def _flush(self) -> None:
        """Hand the buffered rows to the writer thread (it blocks only when the writer is
        several batches behind: the fetch never waits for a transaction)."""
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if rows:
                self._writer.put(rows)

    def _report_progress(self, force: bool = False) -> None:
        if self._progress_due(force) and self.on_progress:
            self.on_progress(self._state.progress, force)

    # -- accounting --------------------------------------------------------------------------
    def _reports(self, days: list[dt.date], as_of: dt.date) -> list[DayReport]:
        state = self._state
        counts = self.daily.counts(days[0], days[-1])
        expected = state.result.universe.counts()
        failed: dict[str, int] = {}
        for secid in state.result.failed:
            kind = state.plan[secid].kind
            failed[kind] = failed.get(kind, 0) + 1
        snapshots_by_day: dict[dt.date, list[dict]] = {}
        for (day, _), row in state.snapshots.items():
            snapshots_by_day.setdefault(day, []).append(row)

        def export(day: dt.date) -> Optional[daily_files.Written]:
            import pyarrow as pa

            stored = sum(counts.get(day, {}).get(k, 0) for k in ("stock", "board", "market"))
            if not stored:
                return None
            parts = [state.day_columns.table(day)]
            if day in snapshots_by_day:
                parts.append(daily_files.from_dicts(snapshots_by_day[day]))
            table = pa.concat_tables(parts)
            if table.num_rows != stored:  # rows of earlier runs: read the day
                return daily_files.write_and_verify(self.store, day, self.daily.read_day(day))
            return daily_files.write_and_verify(self.store, day, table=daily_files.ordered(table))

        with ThreadPoolExecutor(max_workers=EXPORT_THREADS, thread_name_prefix="daily-export") \
                as pool:  # a read and a PUT a day: waits on the database and the store
            files = list(pool.map(export, days))
        return [DayReport(day, expected, counts.get(day, {}), failed,
                          state.agreements.get(day, Agreement()), written)
                for day, written in zip(days, files)]


@dataclass
class _RunState:
    days: set[dt.date]
    snapshots: dict[tuple, dict]
    result: BackfillResult
    plan: dict[str, Security]
    progress: Progress
    day_columns: DayColumns
    agreements: dict[dt.date, Agreement] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def agreement(self, day: dt.date) -> Agreement:
        with self._lock:
            return self.agreements.setdefault(day, Agreement())
