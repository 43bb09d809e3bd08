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
Every request has a total deadline and a late one gets a hedged duplicate (page_requests.py,
hedging.py). Every request passes one process-wide gate (in-flight limit + minimum spacing), so
every client in the process shares one budget. The pages of one call run as asyncio tasks on a
loop of its own, so a stop request cancels them wherever they are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Coroutine, Iterable, TypeVar

import httpx

from findata_assets import cancellation, environment
from findata_assets.eastmoney import catalog, endpoint, paging_plan, trade_date
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.errors import (
    CertificateSettingError, EmptyTermError, IncompleteTableError)
from findata_assets.eastmoney.hedging import HedgePolicy, HedgeSettings
from findata_assets.eastmoney.page_requests import (  # noqa: F401 (re-exported)
    SYNTHETIC_HEADER, PageRequester, PageResult, settle)
from findata_assets.eastmoney.paging_plan import Pass, TablePlan
from findata_assets.eastmoney.snapshot import Snapshot
from findata_assets.redaction import safe_url
from findata_assets.settings.eastmoney import (
    DEFAULT_CONCURRENCY, DEFAULT_MAX_ATTEMPTS, DEFAULT_PAGE_DEADLINE_S)

log = logging.getLogger("findata.eastmoney")

REFERER = "https://data.eastmoney.com/zjlx/detail.html"
HEADERS = {  # the API is meant for the web page; a browser-like request is blocked less often
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    "Referer": REFERER,
    "Accept": "*/*",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
}
POLL_S = 0.2  # how often a fetch looks for a stop request (findata_assets.cancellation)
_THREAD = threading.local()  # per thread: tls_context()


def tls_context() -> ssl.SSLContext:
    """This thread's TLS context, as httpx builds it (certifi's CAs, or SSL_CERT_FILE /
    SSL_CERT_DIR), built once: loading the CA bundle took ~0.1 s of every run. One per thread:
    httpcore sets the ALPN protocols on the context for each connection, which OpenSSL must
    not read meanwhile in another thread. Also one of the launcher's preload_calls: a run
    worker is forked from the thread that built it, and its steps run there."""
    env = environment.current()
    key = (env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))  # what httpx reads
    contexts = _THREAD.__dict__.setdefault("contexts", {})
    if key not in contexts:
        try:
            contexts[key] = httpx.create_ssl_context()
        except (OSError, ssl.SSLError) as exc:
            names = " and ".join(f"{n}={v}" for n, v in zip(("SSL_CERT_FILE", "SSL_CERT_DIR"),
                                                             key) if v)
            raise CertificateSettingError(
                f"the CA certificates for HTTPS cannot be loaded from {names or 'certifi'} "
                f"({type(exc).__name__}: {exc.strerror or exc}); fix or unset "
                "SSL_CERT_FILE / SSL_CERT_DIR") from None
    return contexts[key]


T = TypeVar("T")


class EastmoneyClient:
    """Fetches complete fund-flow tables. Thread-safe; `fetch_tables` may run in many threads."""

    def __init__(self, base_url: str = catalog.API_URL, concurrency: int = DEFAULT_CONCURRENCY,
                 min_interval_s: float = 0.0, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 connect_timeout_s: float = 5, read_timeout_s: float = 15,
                 backoff_base_s: float = 0.2, max_backoff_s: float = 10.0,
                 max_group_attempts: int = 3,
                 page_deadline_s: float = DEFAULT_PAGE_DEADLINE_S,
                 hedge: HedgeSettings | None = None):
        url = endpoint.normalise_url(base_url)
        if concurrency < 1 or max_attempts < 1 or max_group_attempts < 1:
            raise ValueError("concurrency, max_attempts and max_group_attempts must be >= 1")
        if min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        if page_deadline_s <= 0:
            raise ValueError("page_deadline_s must be > 0")
        self.concurrency, self.min_interval_s = concurrency, min_interval_s
        self.max_attempts, self.max_group_attempts = max_attempts, max_group_attempts
        self.page_deadline_s = page_deadline_s
        # Credentials in the URL (a proxy gateway, say) travel as an auth header instead
        self._auth, self.base_url = endpoint.split_credentials(url)
        self.safe_url = safe_url(url)
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self.hedging = HedgePolicy(hedge or HedgeSettings(), deadline_s=page_deadline_s)
        self._pages = PageRequester(
            self.base_url, self.safe_url, concurrency, min_interval_s, max_attempts,
            backoff_base_s, max_backoff_s, self.hedging)
        self._closed = False

    @property
    def stats(self) -> dict:
        return self._pages.counters.snapshot()

    @property
    def synthetic(self) -> bool:
        return self._pages.synthetic

    def close(self) -> None:
        """No further fetch (each fetch opens and closes its own connections)."""
        self._closed = True

    def __enter__(self) -> "EastmoneyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch_tables(self, specs: Iterable[TableSpec]) -> dict[str, Snapshot]:
        """Complete snapshots of the given tables, keyed by TableSpec.name. All or nothing."""
        if self._closed:
            raise RuntimeError("this EastmoneyClient is closed")
        tables = paging_plan.plan(specs)
        if not tables:
            return {}
        _run(self._stoppable(self._fetch(tables)))
        return self._snapshots(tables)

    async def _stoppable(self, work: Coroutine) -> None:
        """`work`, cancelled within POLL_S of a stop request, which then raises Cancelled."""
        task = asyncio.create_task(work)
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_S)
            if cancellation.requested() and not task.done():
                task.cancel()  # every page task, wherever it is: a stalled read too
                await asyncio.gather(task, return_exceptions=True)
                cancellation.check()
        task.result()

    async def _fetch(self, tables: list[TablePlan]) -> None:
        limits = httpx.Limits(max_connections=2 * self.concurrency,  # hedges and their losers
                              max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(headers=HEADERS, auth=self._auth, timeout=self._timeout,
                                     limits=limits, verify=tls_context()) as http:
            passes = _unique(g for t in tables for g in t.passes)
            for attempt in range(1, self.max_group_attempts + 1):
                await self._fetch_round(http, passes)
                # every table, not only the pending ones: a refetched pass may be shared with
                # a table that was complete before the refetch
                pending = [t for t in tables if not t.complete()]
                if not pending:
                    return
                for t in pending:
                    if attempt < self.max_group_attempts:
                        self._pages.counters.add("refetches")
                    empty = t.empty_terms()
                    log.warning("%s incomplete (attempt %d/%d): total %d, got %d distinct "
                                "codes%s; refetching", t.spec.name, attempt,
                                self.max_group_attempts, t.total, t.distinct(),
                                f" (empty terms: {', '.join(empty)})" if empty else "")
                passes = _unique(g for t in pending for g in t.suspects())
        t = pending[0]
        if t.empty_terms():
            raise EmptyTermError(t.spec.name, t.total, t.distinct(), self.max_group_attempts,
                                 t.empty_terms())
        raise IncompleteTableError(t.spec.name, t.total, t.distinct(), self.max_group_attempts)

    async def _fetch_round(self, http: httpx.AsyncClient, passes: list[Pass]) -> None:
        """One paging pass each: all first pages, then every remaining page. The first error
        cancels every other page of the round."""
        for g in passes:
            g.reset()
        firsts = {asyncio.create_task(self._pages.get_page(http, g, 1)): g for g in passes}
        rest: list[tuple[Pass, asyncio.Task]] = []
        try:
            pending = set(firsts)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    g, first = firsts[task], task.result()
                    g.null = first.page.null  # only a term that may be empty gets here with null
                    g.total = first.page.total
                    g.page_size = len(first.page.rows)  # the server's cap, whatever pz we asked
                    g.pages = math.ceil(g.total / g.page_size) if g.total and not g.probe else 1
                    _add(g, first)
                    rest += [(g, asyncio.create_task(self._pages.get_page(http, g, pn)))
                             for pn in range(2, g.pages + 1)]
            later = {task for _, task in rest}
            while later:  # fail fast: don't sit on slow pages
                done, later = await asyncio.wait(later, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
            for g, task in rest:  # in submission order: rows stay sorted by code
                _add(g, task.result())
        finally:
            await settle([*firsts, *(t for _, t in rest)])

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
                hedges=sum(g.hedges for g in t.passes),
                deadlines_expired=sum(g.expired for g in t.passes),
                rows=[{f: r[f] for f in fields if f in r} for r in rows],
                trade_date_fallback=day.fallback, fetched_by=[g.fs for g in t.sources],
                synthetic=self.synthetic, empty_terms=t.empty_terms(), stray_updates=day.stray)
            log.info("%s: %d rows, %d pages, %d requests", spec.name, len(rows),
                     out[spec.name].pages, out[spec.name].requests)
        return out

def _add(g: Pass, result: PageResult) -> None:
    g.add(result.page.rows, result.requests, result.done_at, result.hedges, result.expired)


def _run(work: Coroutine[object, object, T]) -> T:
    """`work` on a loop of its own; in a thread when this one already runs a loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # outside the except block: its error is no context of ours
        return asyncio.run(work)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eastmoney") as pool:
        return pool.submit(asyncio.run, work).result()


def _unique(passes: Iterable[Pass]) -> list[Pass]:
    return list({id(g): g for g in passes}.values())
