"""HTTP client for the Eastmoney fund-flow ranking endpoint.

How a refresh works (`EastmoneyClient.fetch_tables`):
1. Plan the paging passes (`paging_plan.plan`): one pass per market, or per board term where
   requested markets overlap, plus a pz=1 probe of the API's own total for each assembled market.
2. Pages are requested sorted by code (fid=f12): fund-flow values move while we page, codes do
   not, so rows cannot repeat or vanish between pages. Ranks are computed later (parsing.py).
3. The first page of every pass goes out at once; each answers with `total` and the server's
   real page size (it caps `pz`), and its remaining pages are queued right away. A term of an
   assembled market may answer `data: null` (it selects nothing): believed when the market's
   total agrees.
4. A table is complete when every pass behind it holds exactly its `total` distinct codes and
   the union matches the market's total; otherwise the suspect passes are refetched, and in the
   end IncompleteTableError (EmptyTermError for a term that selected nothing) says how many rows
   are missing.
5. Each snapshot's trade date comes from its data, checked against the exchange calendar
   (trade_date.py).
Failures that are the URL's fault (HTTP 4xx, an unknown host, a page that is not the API, a port
that refuses for a few seconds) are EndpointError at once; the rest are retried with backoff.
Every request passes one process-wide gate (in-flight limit + minimum spacing), so every client
in the process shares one budget.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from findata_assets import cancellation
from findata_assets.eastmoney import catalog, endpoint, paging_plan, parsing, trade_date
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, EmptyTermError, IncompleteTableError, NotTheApiError,
    RetriesExhaustedError)
from findata_assets.eastmoney.paging_plan import Pass, TablePlan
from findata_assets.eastmoney.request_gate import GATE
from findata_assets.eastmoney.snapshot import SHANGHAI, Snapshot
from findata_assets.redaction import safe_url
from findata_assets.settings.eastmoney import DEFAULT_CONCURRENCY, DEFAULT_MAX_ATTEMPTS

log = logging.getLogger("findata.eastmoney")

REFERER = "https://data.eastmoney.com/zjlx/detail.html"
HEADERS = {  # the API is meant for the web page; a browser-like request is blocked less often
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    "Referer": REFERER,
    "Accept": "*/*",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
}
RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
POLL_S = 0.2  # how often waits look for a stop request (findata_assets.cancellation)
# The bundled fake API marks every response; data served with it must never pass for real.
SYNTHETIC_HEADER = "X-Fake-Data"


class _RetryableStatus(EastmoneyError):
    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        self.retry_after = _seconds(response.headers.get("Retry-After"))
        super().__init__(f"HTTP {response.status_code}")


class _Cancelled(Exception):
    """Another page of the same fetch failed; stop quietly."""


RETRYABLE = (httpx.TransportError, httpx.DecodingError, BadResponseError, _RetryableStatus)


@dataclass(frozen=True)
class _PageResult:
    page: parsing.Page
    requests: int
    done_at: datetime


class EastmoneyClient:
    """Fetches complete fund-flow tables. Thread-safe; `fetch_tables` may run in many threads."""

    def __init__(self, base_url: str = catalog.API_URL, concurrency: int = DEFAULT_CONCURRENCY,
                 min_interval_s: float = 0.0, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 connect_timeout_s: float = 5, read_timeout_s: float = 15,
                 backoff_base_s: float = 0.2, max_backoff_s: float = 10.0,
                 max_group_attempts: int = 3):
        url = endpoint.normalise_url(base_url)
        self.concurrency, self.min_interval_s = concurrency, min_interval_s
        if self.concurrency < 1 or max_attempts < 1 or max_group_attempts < 1:
            raise ValueError("concurrency, max_attempts and max_group_attempts must be >= 1")
        if self.min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        self.max_attempts = max_attempts
        self.max_group_attempts = max_group_attempts
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        # Credentials in the URL (a proxy gateway, say) travel as an auth header instead, so
        # neither our logs, our errors nor httpx's request log ever print them.
        parts = urlsplit(url)
        auth = (httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
                if parts.username else None)
        self.base_url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.safe_url = safe_url(url)
        self._http = httpx.Client(
            headers=HEADERS, auth=auth,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=self.concurrency,
                                max_keepalive_connections=self.concurrency),
        )
        self._stats = {"requests": 0, "retries": 0, "failures": 0, "refetches": 0}
        self.synthetic = False  # set by the first response that carries SYNTHETIC_HEADER
        self._stats_lock = threading.Lock()

    @property
    def stats(self) -> dict:
        with self._stats_lock:
            return dict(self._stats)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EastmoneyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch_tables(self, specs: Iterable[TableSpec]) -> dict[str, Snapshot]:
        """Complete snapshots of the given tables, keyed by TableSpec.name. All or nothing."""
        tables = paging_plan.plan(specs)
        if not tables:
            return {}
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="eastmoney")
        try:
            passes = _unique(g for t in tables for g in t.passes)
            for attempt in range(1, self.max_group_attempts + 1):
                self._fetch_round(pool, passes, cancel)
                # every table, not only the pending ones: a refetched pass may be shared with
                # a table that was complete before the refetch
                pending = [t for t in tables if not t.complete()]
                if not pending:
                    break
                for t in pending:
                    if attempt < self.max_group_attempts:
                        self._count("refetches")
                    empty = t.empty_terms()
                    log.warning("%s incomplete (attempt %d/%d): total %d, got %d distinct "
                                "codes%s; refetching", t.spec.name, attempt,
                                self.max_group_attempts, t.total, t.distinct(),
                                f" (empty terms: {', '.join(empty)})" if empty else "")
                passes = _unique(g for t in pending for g in t.suspects())
            if pending:
                t = pending[0]
                if t.empty_terms():
                    raise EmptyTermError(t.spec.name, t.total, t.distinct(),
                                         self.max_group_attempts, t.empty_terms())
                raise IncompleteTableError(t.spec.name, t.total, t.distinct(),
                                           self.max_group_attempts)
        except BaseException:
            cancel.set()  # let running pages stop at their next retry instead of finishing
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self._snapshots(tables)

    def _fetch_round(self, pool: ThreadPoolExecutor, passes: list[Pass],
                     cancel: threading.Event) -> None:
        """One paging pass each: all first pages, then every remaining page."""
        for g in passes:
            g.reset()
        firsts = {pool.submit(self._get_page, g, 1, cancel): g for g in passes}
        rest: list[tuple[Pass, Future]] = []
        for future in _as_completed(firsts):
            g, first = firsts[future], future.result()
            g.null = first.page.null  # only a term that may be empty gets here with null
            g.total = first.page.total
            g.page_size = len(first.page.rows)  # the server's cap, whatever pz we asked
            g.pages = math.ceil(g.total / g.page_size) if g.total and not g.probe else 1
            g.add(first.page.rows, first.requests, first.done_at)
            rest += [(g, pool.submit(self._get_page, g, pn, cancel))
                     for pn in range(2, g.pages + 1)]
        for future in _as_completed([f for _, f in rest]):
            if future.exception() is not None:  # fail fast: don't sit on slow pages
                raise future.exception()
        for g, future in rest:  # in submission order: rows stay sorted by code
            result = future.result()
            g.add(result.page.rows, result.requests, result.done_at)

    def _get_page(self, g: Pass, pn: int, cancel: threading.Event) -> _PageResult:
        params = {**g.params, "pn": str(pn), "_": str(int(time.time() * 1000))}
        last: BaseException | None = None
        started = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            cancellation.check()  # the operator's stop: Cancelled, which says so
            if cancel.is_set():
                raise _Cancelled()
            try:
                page = self._request(g, pn, params)
                return _PageResult(page, attempt, datetime.now(SHANGHAI))
            except httpx.UnsupportedProtocol:
                raise endpoint.not_the_api("unsupported URL scheme", self.safe_url) from None
            except RETRYABLE as exc:
                last = exc
            delay = self._backoff(attempt, last) if attempt < self.max_attempts else math.inf
            if isinstance(last, httpx.ConnectError):
                self._fail_fast_on_connect(last, attempt, started, delay)
            if attempt == self.max_attempts:
                break
            self._count("retries")
            log.warning("%s page %d: attempt %d/%d failed (%s); retrying in %.2fs",
                        g.label, pn, attempt, self.max_attempts, _describe(last), delay)
            if _sleep(delay, cancel):
                cancellation.check()
                raise _Cancelled() from None
        self._count("failures")
        raise RetriesExhaustedError(f"{self.safe_url} (page {pn})", g.label, self.max_attempts,
                                    _describe(last))

    def _fail_fast_on_connect(self, exc: httpx.ConnectError, attempt: int, started: float,
                              delay: float) -> None:
        """An unknown host fails at once; a refused connection once the next wait would take
        it past UNREACHABLE_RETRY_S (or the attempts run out)."""
        kind = endpoint.connect_failure(exc)
        elapsed = time.monotonic() - started
        if kind == "unknown host" or (
                kind == "unreachable" and elapsed + delay > endpoint.UNREACHABLE_RETRY_S):
            self._count("failures")
            raise endpoint.unreachable_error(kind, self.safe_url, attempt, elapsed,
                                             exc) from None

    def _request(self, g: Pass, pn: int, params: dict) -> parsing.Page:
        with GATE.slot(self.concurrency, self.min_interval_s):
            self._count("requests")
            response = self._http.get(self.base_url, params=params)
        if SYNTHETIC_HEADER in response.headers and not self.synthetic:
            self.synthetic = True
            log.warning("%s serves SYNTHETIC data (%s: %s), not market data", self.safe_url,
                        SYNTHETIC_HEADER, response.headers[SYNTHETIC_HEADER])
        status = response.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            raise _RetryableStatus(response)
        if status >= 400:  # a wrong URL or a blocked client: retrying won't help soon
            raise endpoint.http_status_error(status, self.safe_url)
        try:
            page = parsing.parse_page(parsing.decode_body(response.text), g.label)
        except NotTheApiError as exc:
            raise endpoint.not_the_api(str(exc), self.safe_url) from None
        if page.null and not (pn == 1 and g.may_be_empty):
            # nothing selected where rows are expected: a throttled client, or a lone market
            # that no total can vouch for; retried, never taken for an empty table
            raise BadResponseError("data: null (the API selected nothing)")
        if pn == 1 and page.total and not page.rows:
            raise BadResponseError(f"first page empty although total={page.total}")
        parsing.check_required(page.rows, g.required)
        return page

    def _backoff(self, attempt: int, exc: BaseException | None) -> float:
        """Exponential with jitter (0.5x-1.5x), so retrying clients do not march in step."""
        delay = self.backoff_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, self.max_backoff_s)

    def _snapshots(self, tables: list[TablePlan]) -> dict[str, Snapshot]:
        served_by: dict[int, list[str]] = {}  # pass -> the tables it served
        for t in tables:
            for g in t.sources:
                served_by.setdefault(id(g), []).append(t.spec.name)
        out = {}
        for t in tables:
            spec, rows = t.spec, t.rows()
            done_at = max(g.done_at for g in t.passes)
            day = trade_date.resolve(rows, spec.name, done_at)
            shared = {n for g in t.sources for n in served_by[id(g)]} - {spec.name}
            fields = spec.period.fields
            out[spec.name] = Snapshot(
                table=spec.name, kind=spec.kind, group_key=spec.group.key,
                period_key=spec.period.key, url=self.safe_url,
                params={**t.sources[0].params, "fs": spec.group.fs, "pn": "1"},
                fetched_at=done_at, updated_at=day.updated_at, trade_date=day.trade_date,
                total=t.total, page_size=max(g.page_size for g in t.sources),
                pages=sum(g.pages for g in t.passes),
                requests=sum(g.requests for g in t.passes), shared_with=sorted(shared),
                rows=[{f: r[f] for f in fields if f in r} for r in rows],
                trade_date_fallback=day.fallback, fetched_by=[g.fs for g in t.sources],
                synthetic=self.synthetic, empty_terms=t.empty_terms(), stray_updates=day.stray)
            log.info("%s: %d rows, %d pages, %d requests", spec.name, len(rows),
                     out[spec.name].pages, out[spec.name].requests)
        return out

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._stats[key] += 1


def _as_completed(futures: Iterable[Future]) -> Iterable[Future]:
    """Futures as they finish; raises cancellation.Cancelled within POLL_S of a stop request."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
        cancellation.check()
        yield from done


def _sleep(seconds: float, cancel: threading.Event) -> bool:
    """Back off for `seconds`; True as soon as this fetch or the whole process is stopping."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancel.wait(min(left, POLL_S)) or cancellation.requested():
            return True
    return cancel.is_set() or cancellation.requested()


def _unique(passes: Iterable[Pass]) -> list[Pass]:
    return list({id(g): g for g in passes}.values())


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or "no message"
    if isinstance(exc, _RetryableStatus):
        return text  # "HTTP 503" says it all
    return f"{type(exc).__name__}: {text}"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date; not worth parsing for a backoff hint
        return None
