"""One page of the API: attempts with backoff, a total deadline on every request, and a hedged
duplicate for a late one (hedging.py decides when).

Runs on the asyncio loop of one `fetch_tables` call. A request is a task, so a deadline, a stop
request or the hedge that won cancels it wherever it is (connecting, waiting for headers, or
reading a body that trickles one byte at a time): httpx closes its connection and the gate gets
its slot back at once. A read timeout alone cannot do that: it restarts with every byte.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from findata_assets import cancellation
from findata_assets.eastmoney import endpoint, parsing
from findata_assets.eastmoney.errors import (
    BadResponseError, DeadlineExceededError, EastmoneyError, NotTheApiError, RetriesExhaustedError)
from findata_assets.eastmoney.hedging import HedgePolicy
from findata_assets.eastmoney.paging_plan import Pass
from findata_assets.eastmoney.request_gate import GATE
from findata_assets.eastmoney.snapshot import SHANGHAI

log = logging.getLogger("findata.eastmoney")

RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
# The bundled fake API marks every response; data served with it must never pass for real.
SYNTHETIC_HEADER = "X-Fake-Data"
STAT_KEYS = ("requests", "retries", "failures", "refetches", "hedges", "hedges_won",
             "deadlines_expired")


class _RetryableStatus(EastmoneyError):
    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        self.retry_after = _seconds(response.headers.get("Retry-After"))
        super().__init__(f"HTTP {response.status_code}")


RETRYABLE = (httpx.TransportError, httpx.DecodingError, BadResponseError, _RetryableStatus)


@dataclass(frozen=True)
class PageResult:
    page: parsing.Page
    requests: int  # every request sent for this page: attempts and hedges
    hedges: int
    expired: int  # requests cut off by the deadline
    done_at: datetime


class Counters:
    """Thread-safe request counters of one client (all its fetches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(STAT_KEYS, 0)

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._counts)


class _Try:
    """One request of a page, as a task; `started_at` is set once it holds a gate slot. Hedges
    and retries are `urgent`: they go ahead of the gate's queue, the page is already late."""

    def __init__(self, requester: "PageRequester", http: httpx.AsyncClient, g: Pass, pn: int,
                 params: dict, hedge: bool, urgent: bool) -> None:
        self.hedge, self.urgent = hedge, urgent
        self.expired = False  # cut off by the deadline
        self.started_at: float | None = None
        self.on_wire = asyncio.Event()
        self.task = asyncio.create_task(requester._request(http, g, pn, params, self))


class PageRequester:
    def __init__(self, base_url: str, safe_url: str, concurrency: int, min_interval_s: float,
                 max_attempts: int, backoff_base_s: float,
                 max_backoff_s: float, hedging: HedgePolicy) -> None:
        self.base_url, self.safe_url = base_url, safe_url
        self.concurrency, self.min_interval_s = concurrency, min_interval_s
        self.max_attempts = max_attempts
        self.backoff_base_s, self.max_backoff_s = backoff_base_s, max_backoff_s
        self.hedging = hedging
        self.counters = Counters()
        self.synthetic = False  # set by the first response that carries SYNTHETIC_HEADER

    async def get_page(self, http: httpx.AsyncClient, g: Pass, pn: int) -> PageResult:
        params = {**g.params, "pn": str(pn), "_": str(int(time.time() * 1000))}
        last: BaseException | None = None
        started = time.monotonic()
        sent = hedges = expired = 0
        for attempt in range(1, self.max_attempts + 1):
            cancellation.check()  # the operator's stop: Cancelled, which says so
            tries: list[_Try] = []
            page = None
            try:
                page = await self._hedged(http, g, pn, params, tries, retry=attempt > 1)
            except httpx.UnsupportedProtocol:
                raise endpoint.not_the_api("unsupported URL scheme", self.safe_url) from None
            except RETRYABLE as exc:
                last = exc
            sent, hedges = sent + len(tries), hedges + len(tries) - 1
            expired += sum(1 for t in tries if t.expired)
            if page is not None:
                return PageResult(page, sent, hedges, expired, datetime.now(SHANGHAI))
            delay = self._backoff(attempt, last) if attempt < self.max_attempts else math.inf
            if isinstance(last, httpx.ConnectError):
                self._fail_fast_on_connect(last, attempt, started, delay)
            if attempt == self.max_attempts:
                break
            self.counters.add("retries")
            log.warning("%s page %d: attempt %d/%d failed (%s); retrying in %.2fs",
                        g.label, pn, attempt, self.max_attempts, describe(last), delay)
            await asyncio.sleep(delay)
        self.counters.add("failures")
        raise RetriesExhaustedError(f"{self.safe_url} (page {pn})", g.label, self.max_attempts,
                                    describe(last))

    async def _hedged(self, http: httpx.AsyncClient, g: Pass, pn: int, params: dict,
                      tries: list[_Try], retry: bool) -> parsing.Page:
        """The first valid answer of the request and, once it is late, of its duplicate."""
        primary = _Try(self, http, g, pn, params, hedge=False, urgent=retry)
        tries.append(primary)
        on_wire = asyncio.create_task(primary.on_wire.wait())
        last: BaseException | None = None
        next_look: float | None = None  # when to ask again whether the primary is late
        try:
            while True:
                running = {t.task for t in tries if not t.task.done()}
                if not running:
                    raise last  # every request of this attempt failed
                waits, timeout = set(running), None
                if len(tries) == 1 and self.hedging.settings.enabled:
                    if primary.started_at is None:
                        waits.add(on_wire)
                    else:
                        next_look = next_look or primary.started_at + self.hedging.delay()
                        timeout = max(0.0, next_look - time.monotonic())
                done, _ = await asyncio.wait(waits, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                for t in tries:
                    if t.task not in done:
                        continue
                    if t.task.exception() is None:
                        if t.hedge:
                            self.counters.add("hedges_won")
                        return t.task.result()
                    last = t.task.exception()
                    if not isinstance(last, RETRYABLE):
                        raise last  # the URL's fault or a changed API: no second opinion
                    if self._all_late(tries, done):
                        raise last  # the other is stalled too: retry now, not at its deadline
                if not done and len(tries) == 1 and not primary.task.done():
                    next_look = self._maybe_hedge(http, g, pn, params, tries)
        finally:  # the loser, or both on a stop: cancelled, so their connections close
            await settle([on_wire, *(t.task for t in tries)])

    def _all_late(self, tries: list[_Try], done: set) -> bool:
        """Every request of the attempt still running has been out longer than the delay."""
        late_after, now = self.hedging.delay(), time.monotonic()
        running = [t for t in tries if t.task not in done and not t.task.done()]
        return bool(running) and all(t.started_at is not None and now - t.started_at > late_after
                                     for t in running)

    def _maybe_hedge(self, http: httpx.AsyncClient, g: Pass, pn: int, params: dict,
                     tries: list[_Try]) -> float | None:
        """Send the duplicate if the policy allows; else when to ask again."""
        now = time.monotonic()
        if not self.hedging.try_hedge():
            return now + self.hedging.delay()
        self.counters.add("hedges")
        log.info("%s page %d: no answer after %.2fs; sent a hedged request", g.label, pn,
                 now - tries[0].started_at)
        tries.append(_Try(self, http, g, pn, params, hedge=True, urgent=True))
        return None

    async def _request(self, http: httpx.AsyncClient, g: Pass, pn: int, params: dict,
                       attempt: _Try) -> parsing.Page:
        async with GATE.slot(self.concurrency, self.min_interval_s, urgent=attempt.urgent):
            attempt.started_at = time.monotonic()
            attempt.on_wire.set()
            if not attempt.hedge:
                self.hedging.started()
            self.counters.add("requests")
            deadline = self.hedging.deadline()
            try:
                response = await asyncio.wait_for(http.get(self.base_url, params=params),
                                                  deadline)
            except TimeoutError:
                attempt.expired = True
                self.counters.add("deadlines_expired")
                self.hedging.expired()
                raise DeadlineExceededError(deadline, self.hedging.deadline_s) from None
        page = self._check(response, g, pn)
        self.hedging.answered(time.monotonic() - attempt.started_at)
        return page

    def _check(self, response: httpx.Response, g: Pass, pn: int) -> parsing.Page:
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

    def _fail_fast_on_connect(self, exc: httpx.ConnectError, attempt: int, started: float,
                              delay: float) -> None:
        """An unknown host fails at once; a refused connection once the next wait would take
        it past UNREACHABLE_RETRY_S (or the attempts run out)."""
        kind = endpoint.connect_failure(exc)
        elapsed = time.monotonic() - started
        if kind == "unknown host" or (
                kind == "unreachable" and elapsed + delay > endpoint.UNREACHABLE_RETRY_S):
            self.counters.add("failures")
            raise endpoint.unreachable_error(kind, self.safe_url, attempt, elapsed,
                                             exc) from None

    def _backoff(self, attempt: int, exc: BaseException | None) -> float:
        """Exponential with jitter (0.5x-1.5x), so retrying clients do not march in step."""
        delay = self.backoff_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, self.max_backoff_s)


async def settle(tasks: list[asyncio.Task]) -> None:
    """Cancel what still runs and wait for it; every error is taken (none left "never
    retrieved"), the one being raised is the caller's."""
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or "no message"
    if isinstance(exc, (_RetryableStatus, DeadlineExceededError)):
        return text  # "HTTP 503" says it all
    return f"{type(exc).__name__}: {text}"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date; not worth parsing for a backoff hint
        return None
