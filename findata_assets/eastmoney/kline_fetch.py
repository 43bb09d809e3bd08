"""The paced fetch of many securities' daily fund-flow history, one request each.

`HistoryFetcher.fetch` hands every HTTP answer that is the API's envelope to `on_answer` (the
caller parses and stores it: klines.parse_daily) and every security it gives up on to
`on_failure`; one security's failure never stops the others. What it does between:

- pacing: at most FINDATA_HISTORY_CONCURRENCY requests in flight, starts spaced by
  FINDATA_HISTORY_MIN_INTERVAL_MS, through a process-wide gate of the history lane's own
  (HISTORY_GATE, the same kind as the ranking's request_gate.GATE): sharing the ranking's gate
  put a paced history request at the head of its queue and pushed the every-minute lane's pages
  back by up to the gap (41 tables: 2.97 s alone, 5.06 s beside a history fetch); the lanes
  are kept apart in time instead (FINDATA_HISTORY_WINDOW). Each request has the page deadline
  (FINDATA_EASTMONEY_PAGE_DEADLINE_S), and no hedged duplicate (one more request is what a ban
  punishes);
- retries: 5xx, 408/429, timeouts and truncated or non-JSON bodies, with exponential backoff and
  jitter, up to FINDATA_EASTMONEY_MAX_ATTEMPTS attempts of the security;
- the URL's fault (HTTP 4xx, an unknown host, a refused connection for a few seconds, a page that
  is not the API) is EndpointError at once, naming FINDATA_HISTORY_URL, and ends the fetch;
- bans: see kline_lane.py. A ban signal is no attempt; nothing answered is asked for again;
- a stop request (findata_assets.cancellation) cancels the requests in flight within POLL_S and
  raises Cancelled.
Runs on an asyncio loop of its own (in a thread when the caller's thread runs one already):
`on_answer` in a worker thread, so a slow archive write does not stall the loop; `on_failure`,
`on_event` and `wait_allowed` in the loop's thread.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

import httpx

from findata_assets import cancellation
from findata_assets.eastmoney import endpoint, klines, parsing
from findata_assets.eastmoney.client import HEADERS, POLL_S, _run, tls_context
from findata_assets.eastmoney.errors import (
    BadResponseError, DeadlineExceededError, EastmoneyError, NotTheApiError, RetriesExhaustedError)
from findata_assets.eastmoney.kline_lane import Lane, Ticket
from findata_assets.eastmoney.page_requests import SYNTHETIC_HEADER, describe, settle
from findata_assets.eastmoney.request_gate import ProcessGate
from findata_assets.redaction import safe_url
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.settings.history import ENV_HISTORY_URL, HistorySettings

HISTORY_GATE = ProcessGate()  # every history fetch in the process shares one pace
log = logging.getLogger("findata.history")

RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
WINDOW_STEP_S = 1.0  # a wait for the window is slept in steps this long, looking for a stop


@dataclass
class FetchStats:
    requests: int = 0  # sent (on the wire)
    answers: int = 0  # envelopes handed to on_answer
    retries: int = 0  # failed attempts tried again
    failures: int = 0  # securities given up (on_failure)
    bans: int = 0
    ban_seconds: float = 0.0  # paused by bans
    probes: int = 0
    ban_signals: int = 0  # connections closed without an answer, empty bodies
    waited_s: float = 0.0  # told to wait by wait_allowed
    elapsed_s: float = 0.0
    # per request: answer, ban_disconnect, ban_reset, ban_empty, lone_drop, http_status,
    # timeout, transport, refused, bad_body; per security: exhausted, bad_secid, on_answer_error
    outcomes: dict[str, int] = field(default_factory=dict)
    synthetic: bool = False  # the server marked its answers as the bundled fake's

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class HttpStatusRetry(EastmoneyError):
    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        try:
            self.retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:  # absent, or an HTTP date: not worth parsing for a backoff hint
            self.retry_after = None
        super().__init__(f"HTTP {response.status_code}")


@dataclass(frozen=True)
class _Answer:
    body: bytes


@dataclass(frozen=True)
class _Ban:
    kind: str  # disconnect, reset, empty


@dataclass(frozen=True)
class _Retry:
    error: BaseException
    outcome: str
    refused: bool = False


class HistoryFetcher:
    """Fetches the daily history of many securities. One fetch at a time per instance is the
    expected use; concurrent fetches in several threads share the process-wide gate."""

    def __init__(self, settings: HistorySettings, eastmoney: EastmoneySettings, *,
                 backoff_base_s: float = 0.5, max_backoff_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] | None = None) -> None:
        self.settings, self.eastmoney = settings, eastmoney
        self.backoff_base_s, self.max_backoff_s = backoff_base_s, max_backoff_s
        self.clock, self.sleep = clock, sleep or asyncio.sleep
        self.auth, self.url = endpoint.split_credentials(settings.url)
        self.safe_url = safe_url(settings.url)
        self.target = endpoint.HISTORY
        if settings.url_derived:  # the operator never typed this URL: say where it came from
            self.target = endpoint.Endpoint(
                f"{ENV_HISTORY_URL} (unset, so derived from {endpoint.ENV_URL})",
                endpoint.HISTORY.expected, endpoint.HISTORY.api)
        self.synthetic = False

    def fetch(self, secids: Sequence[str], on_answer: Callable[[str, bytes], None],
              on_failure: Callable[[str, BaseException], None],
              on_event: Callable[[str, str], None] | None = None,
              wait_allowed: Callable[[], float | None] | None = None) -> FetchStats:
        """Each security's answer to `on_answer` (at most once) or its failure to `on_failure`
        (a secid that is not `<market>.<code>` nor the market pair fails before any request; a
        repeated one is asked for once). Raises EndpointError (the URL's fault) or
        cancellation.Cancelled (a stop request, once a running `on_answer` has returned)."""
        cancellation.check()
        if on_event is None:  # nobody relays the lane's events: they are logged as warnings
            def on_event(kind: str, text: str) -> None:
                log.warning("%s", text)
        run = _Fetch(self, secids, on_answer, on_failure, on_event, wait_allowed)
        _run(_stoppable(run.main()))
        return run.stats


async def _stoppable(work: Awaitable[None]) -> None:
    """`work`, cancelled within POLL_S of a stop request, which then raises Cancelled."""
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.wait({task}, timeout=POLL_S)
        if cancellation.requested() and not task.done():
            task.cancel()  # every request in flight, wherever it is
            await asyncio.gather(task, return_exceptions=True)
            cancellation.check()
    task.result()


class _Fetch:
    """The state of one `fetch` call."""

    def __init__(self, fetcher: HistoryFetcher, secids: Sequence[str], on_answer, on_failure,
                 on_event, wait_allowed) -> None:
        self.f, self.secids = fetcher, list(secids)
        self.on_answer, self.on_failure = on_answer, on_failure
        self.on_event, self.wait_allowed = on_event, wait_allowed
        self.stats = FetchStats()
        self.refused_since: float | None = None  # the first of a run of refused connections
        self.refused = 0
        self.waiting = False  # said so (on_event "waiting") for the current wait

    async def main(self) -> None:
        f, started = self.f, self.f.clock()
        valid = []
        for secid in dict.fromkeys(self.secids):  # each security once
            try:
                klines.query_params(secid)
                valid.append(secid)
            except ValueError as exc:  # the caller's mistake, about this security only
                self.stats.failures += 1
                self.stats.count("bad_secid")
                self.on_failure(secid, exc)
        self.lane = Lane(valid, f.settings, self.on_event, f.sleep, f.clock)
        self.handlers: set[asyncio.Task] = set()  # answers being handled (on_answer)
        self.handling = asyncio.Semaphore(2 * f.settings.concurrency + 2)  # bounded memory
        self.window = asyncio.Lock()  # one worker sleeps for the window, the others queue
        n = f.settings.concurrency
        limits = httpx.Limits(max_connections=2 * n, max_keepalive_connections=n)
        timeout = httpx.Timeout(f.eastmoney.page_deadline_s,
                                connect=min(5.0, f.eastmoney.page_deadline_s))
        try:
            async with httpx.AsyncClient(headers=HEADERS, auth=f.auth, timeout=timeout,
                                         limits=limits, verify=tls_context()) as http:
                workers = [asyncio.create_task(self.worker(http)) for _ in range(n)]
                try:
                    done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                    for task in done:
                        task.result()  # the URL's fault: EndpointError ends the fetch
                finally:
                    await settle(workers)
                    # every answer received is handed to on_answer (archived: a stopped or
                    # failed fetch resumes without asking for it again)
                    await asyncio.gather(*list(self.handlers), return_exceptions=True)
        finally:
            ban = self.lane.stats
            self.stats.bans, self.stats.ban_seconds = ban.bans, ban.ban_seconds
            self.stats.probes, self.stats.ban_signals = ban.probes, ban.signals
            self.stats.elapsed_s = f.clock() - started

    async def worker(self, http: httpx.AsyncClient) -> None:
        while (ticket := await self.lane.take()) is not None:
            await self.respect_window()
            await self.one(http, ticket)

    async def respect_window(self) -> None:
        """Asks `wait_allowed` before each request and sleeps as long as it says."""
        if self.wait_allowed is None:
            return
        async with self.window:
            while (seconds := self.wait_allowed()) and seconds > 0:
                if not self.waiting:
                    self.waiting = True
                    text = (f"history lane waiting {seconds:.0f} s before its next request "
                            "(outside its window)")
                    self.on_event("waiting", text)
                until = self.f.clock() + seconds
                while (left := until - self.f.clock()) > 0:
                    cancellation.check()
                    t0 = self.f.clock()
                    await self.f.sleep(min(left, WINDOW_STEP_S))
                    self.stats.waited_s += self.f.clock() - t0
            self.waiting = False

    async def one(self, http: httpx.AsyncClient, ticket: Ticket) -> None:
        secid = ticket.secid
        params = klines.query_params(secid)
        params["_"] = str(int(time.time() * 1000))  # the cache-buster public clients send
        result = await self.request(http, params)
        if isinstance(result, _Answer):
            self.stats.answers += 1
            self.stats.count("answer")
            self.lane.answered(ticket)
            # handed over, not awaited: the worker asks for the next security while this
            # answer is archived and parsed (awaiting it kept 8 lanes at 8 / (latency +
            # handling): 1.8x the network floor on the real-size fake)
            await self.handling.acquire()
            task = asyncio.create_task(self.handle(secid, result.body))
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        elif isinstance(result, _Ban) and self.lane.lone(ticket):
            self.stats.count("lone_drop")  # others are answered: this security's own failure
            self.retry_or_fail(ticket, _Retry(BadResponseError(
                f"no answer ({result.kind}) for this security while others are answered"),
                "lone_drop"))
        elif isinstance(result, _Ban):
            self.stats.count(f"ban_{result.kind}")
            log.info("history %s: no answer (%s); back in the queue", secid, result.kind)
            self.lane.ban_signal(ticket, result.kind)
        else:
            self.stats.count(result.outcome)
            self.retry_or_fail(ticket, result)

    async def handle(self, secid: str, body: bytes) -> None:
        try:
            await asyncio.to_thread(self.on_answer, secid, body)
        except Exception as exc:  # noqa: BLE001 - the caller's failure, about this security
            self.stats.failures += 1
            self.stats.count("on_answer_error")
            self.on_failure(secid, exc)
        finally:
            self.handling.release()

    def retry_or_fail(self, ticket: Ticket, result: _Retry) -> None:
        f, secid = self.f, ticket.secid
        last = describe(result.error)
        delay = self.backoff(ticket.attempt, result.error)
        if result.refused:  # a refused port for a few seconds is the URL's fault
            now = f.clock()
            self.refused += 1
            self.refused_since = self.refused_since if self.refused_since is not None else now
            elapsed = now - self.refused_since
            if elapsed + delay > endpoint.UNREACHABLE_RETRY_S:
                raise endpoint.unreachable_error("unreachable", f.safe_url, self.refused,
                                                 elapsed, result.error, f.target)
        if ticket.attempt >= f.eastmoney.max_attempts:
            return self.give_up(ticket, RetriesExhaustedError(
                f.safe_url, f"the daily history of {secid}", ticket.attempt, last), "exhausted")
        self.stats.retries += 1
        log.warning("history %s: attempt %d/%d failed (%s); retrying in %.2fs", secid,
                    ticket.attempt, f.eastmoney.max_attempts, last, delay)
        self.lane.retry(ticket, delay, last)

    def give_up(self, ticket: Ticket, error: BaseException, outcome: str) -> None:
        self.stats.failures += 1
        self.stats.count(outcome)
        log.warning("history %s: given up: %s", ticket.secid, error)
        self.lane.failed(ticket, str(error))
        self.on_failure(ticket.secid, error)

    def backoff(self, attempt: int, exc: BaseException) -> float:
        """Exponential with jitter (0.5x-1.5x), so retries do not march in step."""
        delay = self.f.backoff_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if isinstance(exc, HttpStatusRetry) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, self.f.max_backoff_s)

    # -- one request -----------------------------------------------------------------------------

    async def request(self, http: httpx.AsyncClient, params: dict) -> _Answer | _Ban | _Retry:
        f = self.f
        deadline = f.eastmoney.page_deadline_s
        async with HISTORY_GATE.slot(f.settings.concurrency, f.settings.min_interval_s):
            self.stats.requests += 1
            try:
                response = await asyncio.wait_for(http.get(f.url, params=params), deadline)
            except TimeoutError:
                return _Retry(DeadlineExceededError(deadline, deadline), "timeout")
            except httpx.UnsupportedProtocol:
                raise endpoint.not_the_api("unsupported URL scheme", f.safe_url,
                                           f.target) from None
            except httpx.ConnectError as exc:
                kind = endpoint.connect_failure(exc)
                if kind == "unknown host":
                    raise endpoint.unreachable_error(kind, f.safe_url, 1, 0.0, exc,
                                                     f.target) from None
                if kind == "unreachable":
                    return _Retry(exc, "refused", refused=True)
                return _Ban("reset") if _reset(exc) else _Retry(exc, "transport")
            except httpx.RemoteProtocolError as exc:
                if "without sending a response" in str(exc):
                    return _Ban("disconnect")  # the API's ban: closed before any answer
                return _Retry(exc, "transport")  # a truncated body
            except httpx.TransportError as exc:
                return _Ban("reset") if _reset(exc) else _Retry(exc, "transport")
        self.refused_since, self.refused = None, 0  # it answers: no refused run any more
        return self.check(response)

    def check(self, response: httpx.Response) -> _Answer | _Ban | _Retry:
        f = self.f
        if SYNTHETIC_HEADER in response.headers and not f.synthetic:
            f.synthetic = True
            log.warning("%s serves SYNTHETIC data (%s: %s), not market data", f.safe_url,
                        SYNTHETIC_HEADER, response.headers[SYNTHETIC_HEADER])
        self.stats.synthetic = self.stats.synthetic or SYNTHETIC_HEADER in response.headers
        status = response.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            return _Retry(HttpStatusRetry(response), "http_status")
        if not 200 <= status < 300:  # a wrong URL or a blocked client: retrying won't help soon
            raise endpoint.http_status_error(status, f.safe_url, f.target)
        body = response.content
        if not body.strip():
            return _Ban("empty")  # the API's other way to refuse a banned client
        try:
            payload = parsing.decode_body(body.decode("utf-8"))
        except NotTheApiError as exc:
            raise endpoint.not_the_api(str(exc), f.safe_url, f.target) from None
        except (BadResponseError, UnicodeDecodeError) as exc:  # truncated, garbled
            return _Retry(exc if isinstance(exc, BadResponseError) else BadResponseError(
                f"body is not UTF-8 ({exc.reason})"), "bad_body")
        if not isinstance(payload, dict) or "rc" not in payload:
            shape = (f"keys {sorted(payload)[:6]}" if isinstance(payload, dict)
                     else f"a JSON {type(payload).__name__}")
            raise endpoint.not_the_api(f"the response is not the kline envelope {{rc, data}} "
                                       f"({shape})", f.safe_url, f.target)
        return _Answer(body)


def _reset(exc: BaseException) -> bool:
    """A connection reset by the peer, anywhere in the exception's chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
            return True
        if "Connection reset" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
