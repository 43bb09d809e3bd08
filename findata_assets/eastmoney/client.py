"""HTTP client for the Eastmoney fund-flow ranking endpoint.

How a refresh works (`EastmoneyClient.fetch_tables`):
1. Plan the paging passes (`_plan`). All periods of one market share the same securities, so one
   pass with the union of the periods' fields serves them all (fields never collide across
   periods) and each table is split out locally. The 8 stock markets also overlap: each market's
   `fs` is a list of disjoint board terms (`m:1+t:2`, ...), and 全部股票 is all of them. When two
   requested markets share a term, the pass is per term instead (7 terms, ~56 pages, instead of
   8 markets, ~182 pages) and each market is assembled as the union of its terms; one pz=1
   request per such market reads the API's own `total` for it, so the assembled table is still
   checked against what the API counts.
2. Pages are requested sorted by code (fid=f12): fund-flow values move while we page, codes do
   not, so rows cannot repeat or vanish between pages. Ranks are computed later (parsing.py).
3. The first page of every pass goes out at once; each answers with `total` and the server's
   real page size (it caps `pz`), and its remaining pages are queued right away.
4. A table is complete when every pass behind it holds exactly its `total` distinct codes and
   the union matches the market's total; otherwise those passes are refetched, and in the end
   IncompleteTableError says how many rows are missing.
Every request passes one process-wide gate (in-flight limit + minimum spacing), so every client
in the process shares one budget.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, as_completed, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable, Iterator, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from findata_assets.eastmoney import catalog, parsing
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, IncompleteTableError, RetriesExhaustedError)
from findata_assets.eastmoney.parsing import SHANGHAI

log = logging.getLogger("findata.eastmoney")

ENV_URL = "FINDATA_EASTMONEY_URL"
ENV_CONCURRENCY = "FINDATA_EASTMONEY_CONCURRENCY"
ENV_MIN_INTERVAL_MS = "FINDATA_EASTMONEY_MIN_INTERVAL_MS"
DEFAULT_CONCURRENCY = 4
REQUEST_PAGE_SIZE = 100  # the server caps pages at 100 rows (since 2025-03) whatever we ask
REFERER = "https://data.eastmoney.com/zjlx/detail.html"
HEADERS = {  # the API is meant for the web page; a browser-like request is blocked less often
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"),
    "Referer": REFERER,
    "Accept": "*/*",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
}
STATIC_PARAMS = {
    "fid": catalog.STABLE_SORT_FIELD,  # sort by code: a stable order while values move
    "po": "0",
    "pz": str(REQUEST_PAGE_SIZE),
    "np": "1",
    "fltt": "2",  # real decimals instead of integers scaled by 10^f1
    "invt": "2",
    "ut": "b2884a393a59ad64002292a3e90d46a5",
}
RETRYABLE_STATUS = frozenset({408, 429})  # plus every 5xx
# The bundled fake API marks every response; data served with it must never pass for real.
SYNTHETIC_HEADER = "X-Fake-Data"


@dataclass
class Snapshot:
    """One table as the API returned it: raw rows ("-" kept) plus how they were fetched."""

    table: str
    kind: str
    group_key: str
    period_key: str
    url: str  # without credentials or query
    params: dict  # the query that selects this table (its group's fs), first page
    fetched_at: datetime  # aware, Asia/Shanghai: when the group's fetch completed
    updated_at: datetime | None  # aware, Asia/Shanghai: max f124 over the rows
    trade_date: date
    total: int
    page_size: int
    pages: int
    requests: int  # HTTP requests of the group fetch that served this table, retries included
    shared_with: list[str]  # the other tables served by the same fetch
    rows: list[dict]
    trade_date_fallback: bool = False  # no row had f124: trade_date is fetched_at's date
    fetched_by: list[str] = field(default_factory=list)  # the `fs` filters paged for it
    synthetic: bool = False  # the server said its data is synthetic (the bundled fake)

    def to_json(self) -> dict:
        return {
            "table": self.table, "kind": self.kind, "group_key": self.group_key,
            "period_key": self.period_key, "url": self.url, "params": dict(self.params),
            "fetched_at": self.fetched_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "trade_date": self.trade_date.isoformat(), "total": self.total,
            "page_size": self.page_size, "pages": self.pages, "requests": self.requests,
            "shared_with": list(self.shared_with), "rows": self.rows,
            "trade_date_fallback": self.trade_date_fallback,
            "fetched_by": list(self.fetched_by), "synthetic": self.synthetic,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "Snapshot":
        def moment(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value).astimezone(SHANGHAI) if value else None

        return cls(
            table=data["table"], kind=data["kind"], group_key=data["group_key"],
            period_key=data["period_key"], url=data["url"], params=dict(data["params"]),
            fetched_at=moment(data["fetched_at"]), updated_at=moment(data.get("updated_at")),
            trade_date=date.fromisoformat(data["trade_date"]), total=int(data["total"]),
            page_size=int(data["page_size"]), pages=int(data["pages"]),
            requests=int(data["requests"]), shared_with=list(data.get("shared_with", [])),
            rows=list(data["rows"]), trade_date_fallback=bool(data.get("trade_date_fallback")),
            fetched_by=list(data.get("fetched_by", [])), synthetic=bool(data.get("synthetic")),
        )


class _ProcessGate:
    """The process-wide request budget: at most `limit` requests in flight, starts spaced by
    `min_interval` seconds. Module-global so every client in every thread shares it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._last_start = 0.0

    @contextmanager
    def slot(self, limit: int, min_interval: float) -> Iterator[None]:
        with self._cond:
            # Each caller waits until the shared count is below *its* limit, so clients with
            # the same setting share exactly one limit.
            self._cond.wait_for(lambda: self._in_flight < limit)
            self._in_flight += 1
            start = max(time.monotonic(), self._last_start + min_interval)
            self._last_start = start  # reserve the start time before sleeping, outside the lock
        try:
            delay = start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()


_GATE = _ProcessGate()


class _RetryableStatus(EastmoneyError):
    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        self.retry_after = _seconds(response.headers.get("Retry-After"))
        super().__init__(f"HTTP {response.status_code}")


class _Cancelled(Exception):
    """Another page of the same fetch failed; stop quietly."""


RETRYABLE = (httpx.TransportError, httpx.DecodingError, BadResponseError, _RetryableStatus)


@dataclass
class _Group:
    """Paging state of one pass over one `fs` filter, serving one or more tables."""

    label: str
    params: dict
    required: dict[str, str]  # field -> a table that needs it
    probe: bool = False  # only page 1 (pz=1): reads the API's `total` for a market
    requests: int = 0
    total: int = 0
    page_size: int = 0
    pages: int = 0
    rows: dict[str, dict] = field(default_factory=dict)  # code -> raw row, in code order
    done_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.probe or len(self.rows) == self.total

    def add(self, page: parsing.Page, requests: int, done_at: datetime) -> None:
        self.requests += requests
        self.done_at = max(self.done_at or done_at, done_at)
        if self.probe:
            return
        for row in page.rows:
            self.rows.setdefault(str(row[catalog.CODE_FIELD]), row)  # a repeat keeps the first


@dataclass
class _Table:
    """How one requested table is assembled: the passes behind it, and its market's total."""

    spec: TableSpec
    sources: list[_Group]
    probe: _Group | None = None  # set when the table is a union of several term passes

    @property
    def passes(self) -> list[_Group]:
        return self.sources + ([self.probe] if self.probe else [])

    def rows(self) -> list[dict]:
        if len(self.sources) == 1:
            return list(self.sources[0].rows.values())
        merged: dict[str, dict] = {}
        for g in self.sources:
            merged.update(g.rows)
        return [merged[code] for code in sorted(merged)]  # code order, as a single pass gives

    @property
    def total(self) -> int:
        return self.probe.total if self.probe else self.sources[0].total

    def distinct(self) -> int:
        if len(self.sources) == 1:
            return len(self.sources[0].rows)
        return len(set().union(*(g.rows for g in self.sources)))

    def complete(self) -> bool:
        return all(g.complete for g in self.sources) and self.distinct() == self.total


@dataclass(frozen=True)
class _PageResult:
    page: parsing.Page
    requests: int
    done_at: datetime


class EastmoneyClient:
    """Fetches complete fund-flow tables. Thread-safe; `fetch_tables` may run in many threads."""

    def __init__(self, base_url: str | None = None, concurrency: int | None = None,
                 min_interval_s: float | None = None, max_attempts: int = 5,
                 connect_timeout_s: float = 5, read_timeout_s: float = 15,
                 backoff_base_s: float = 0.2, max_backoff_s: float = 10.0,
                 max_group_attempts: int = 3, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        url = base_url or env.get(ENV_URL) or catalog.API_URL
        self.concurrency = (concurrency if concurrency is not None
                            else _env_number(env, ENV_CONCURRENCY, DEFAULT_CONCURRENCY, int))
        self.min_interval_s = (min_interval_s if min_interval_s is not None
                               else _env_number(env, ENV_MIN_INTERVAL_MS, 0, float) / 1000)
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
        tables = _plan(specs)
        if not tables:
            return {}
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="eastmoney")
        try:
            pending = tables
            for attempt in range(1, self.max_group_attempts + 1):
                passes = list({id(g): g for t in pending for g in t.passes}.values())
                self._fetch_round(pool, passes, cancel)
                # every table, not only the pending ones: a refetched pass may be shared with
                # a table that was complete before the refetch
                pending = [t for t in tables if not t.complete()]
                if not pending:
                    break
                for t in pending:
                    if attempt < self.max_group_attempts:
                        self._count("refetches")
                    log.warning("%s incomplete (attempt %d/%d): total %d, got %d distinct "
                                "codes; refetching", t.spec.name, attempt,
                                self.max_group_attempts, t.total, t.distinct())
            if pending:
                t = pending[0]
                raise IncompleteTableError(t.spec.name, t.total, t.distinct(),
                                           self.max_group_attempts)
        except BaseException:
            cancel.set()  # let running pages stop at their next retry instead of finishing
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self._snapshots(tables)

    def _fetch_round(self, pool: ThreadPoolExecutor, groups: list[_Group],
                     cancel: threading.Event) -> None:
        """One paging pass per group: all first pages, then every remaining page."""
        for g in groups:
            g.rows, g.done_at = {}, None
        firsts = {pool.submit(self._get_page, g, 1, cancel): g for g in groups}
        rest: list[tuple[_Group, Future]] = []
        for future in as_completed(firsts):
            g, first = firsts[future], future.result()
            g.total = first.page.total
            g.page_size = len(first.page.rows)  # the server's cap, whatever pz we asked
            g.pages = math.ceil(g.total / g.page_size) if g.total and not g.probe else 1
            g.add(first.page, first.requests, first.done_at)
            rest += [(g, pool.submit(self._get_page, g, pn, cancel))
                     for pn in range(2, g.pages + 1)]
        done, _ = wait([f for _, f in rest], return_when=FIRST_EXCEPTION)
        for future in done:  # fail fast: don't sit on slow pages when another one failed
            if future.exception() is not None:
                raise future.exception()
        for g, future in rest:  # in submission order: rows stay sorted by code
            result = future.result()
            g.add(result.page, result.requests, result.done_at)

    def _get_page(self, g: _Group, pn: int, cancel: threading.Event) -> _PageResult:
        params = {**g.params, "pn": str(pn), "_": str(int(time.time() * 1000))}
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            if cancel.is_set():
                raise _Cancelled()
            try:
                page = self._request(g, pn, params)
                return _PageResult(page, attempt, datetime.now(SHANGHAI))
            except httpx.UnsupportedProtocol:
                raise EastmoneyError(f"{g.label}: unsupported URL {self.safe_url}") from None
            except RETRYABLE as exc:
                last = exc
                if attempt == self.max_attempts:
                    break
                delay = self._backoff(attempt, exc)
                self._count("retries")
                log.warning("%s page %d: attempt %d/%d failed (%s); retrying in %.2fs",
                            g.label, pn, attempt, self.max_attempts, _describe(exc), delay)
                if cancel.wait(delay):
                    raise _Cancelled() from None
        self._count("failures")
        raise RetriesExhaustedError(f"{self.safe_url} (page {pn})", g.label, self.max_attempts,
                                    _describe(last))

    def _request(self, g: _Group, pn: int, params: dict) -> parsing.Page:
        with _GATE.slot(self.concurrency, self.min_interval_s):
            self._count("requests")
            response = self._http.get(self.base_url, params=params)
        if SYNTHETIC_HEADER in response.headers and not self.synthetic:
            self.synthetic = True
            log.warning("%s serves SYNTHETIC data (%s: %s), not market data", self.safe_url,
                        SYNTHETIC_HEADER, response.headers[SYNTHETIC_HEADER])
        status = response.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            raise _RetryableStatus(response)
        if status >= 400:  # 403/404: a blocked client or a wrong URL; retrying won't help soon
            raise EastmoneyError(f"{g.label}: HTTP {status} from {self.safe_url}")
        page = parsing.parse_page(parsing.decode_body(response.text), g.label)
        if pn == 1 and page.total and not page.rows:
            raise BadResponseError(f"first page empty although total={page.total}")
        parsing.check_required(page.rows, g.required)
        return page

    def _backoff(self, attempt: int, exc: BaseException) -> float:
        """Exponential with jitter (0.5x-1.5x), so retrying clients do not march in step."""
        delay = self.backoff_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return min(delay, self.max_backoff_s)

    def _snapshots(self, tables: list[_Table]) -> dict[str, Snapshot]:
        served_by: dict[int, list[str]] = {}  # pass -> the tables it served
        for t in tables:
            for g in t.sources:
                served_by.setdefault(id(g), []).append(t.spec.name)
        out = {}
        for t in tables:
            spec, rows = t.spec, t.rows()
            latest = parsing.latest_update(rows, spec.name)
            done_at = max(g.done_at for g in t.passes)
            trade_date, fallback = parsing.trade_date_for(latest, done_at)
            if fallback:
                log.warning("%s: no row carries f124; trade date %s taken from the fetch time",
                            spec.name, trade_date)
            shared = {n for g in t.sources for n in served_by[id(g)]} - {spec.name}
            fields = spec.period.fields
            out[spec.name] = Snapshot(
                table=spec.name, kind=spec.kind, group_key=spec.group.key,
                period_key=spec.period.key, url=self.safe_url,
                params={**t.sources[0].params, "fs": spec.group.fs, "pn": "1"},
                fetched_at=done_at, updated_at=latest, trade_date=trade_date, total=t.total,
                page_size=t.sources[0].page_size, pages=sum(g.pages for g in t.passes),
                requests=sum(g.requests for g in t.passes), shared_with=sorted(shared),
                rows=[{f: r[f] for f in fields if f in r} for r in rows],
                trade_date_fallback=fallback, fetched_by=[g.params["fs"] for g in t.sources],
                synthetic=self.synthetic)
            log.info("%s: %d rows, %d pages, %d requests", spec.name, len(rows),
                     out[spec.name].pages, out[spec.name].requests)
        return out

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._stats[key] += 1


def _plan(specs: Iterable[TableSpec]) -> list[_Table]:
    """The paging passes behind each table (see the module docstring, step 1)."""
    specs = list({s.name: s for s in specs}.values())
    by_group: dict[tuple[str, str], list[TableSpec]] = {}
    for spec in specs:
        by_group.setdefault((spec.kind, spec.group.key), []).append(spec)
    # A term of a group's fs shared with another requested group: page the terms, not the groups.
    term_users: dict[tuple[str, str], int] = {}
    for kind, key in by_group:
        for term in catalog.groups(kind)[key].terms:
            term_users[kind, term] = term_users.get((kind, term), 0) + 1
    by_terms = {gk for gk in by_group
                if any(term_users[gk[0], t] > 1 for t in catalog.groups(gk[0])[gk[1]].terms)}

    wanted: dict[tuple[str, str], list[TableSpec]] = {}  # (kind, fs) -> tables it serves
    for (kind, key), members in by_group.items():
        group = catalog.groups(kind)[key]
        for fs in (group.terms if (kind, key) in by_terms else (group.fs,)):
            wanted.setdefault((kind, fs), []).extend(members)
    passes = {}
    for (kind, fs), members in wanted.items():
        fields = list(dict.fromkeys(f for s in members for f in s.period.fields))
        required = {}
        for s in members:
            for f in s.required_fields():
                required.setdefault(f, s.name)
        params = {**STATIC_PARAMS, "fs": fs, "fields": ",".join(fields)}
        passes[kind, fs] = _Group(_label(members, fs), params, required)

    tables, probes = [], {}
    for (kind, key), members in by_group.items():
        group = catalog.groups(kind)[key]
        if (kind, key) in by_terms:
            sources = [passes[kind, t] for t in group.terms]
            probe = None
            if len(sources) > 1:
                probe = probes.get((kind, key))
                if probe is None:
                    params = {**STATIC_PARAMS, "fs": group.fs, "pz": "1",
                              "fields": catalog.CODE_FIELD}
                    probe = probes[kind, key] = _Group(
                        f"{kind} total of {key}", params, {catalog.CODE_FIELD: key}, probe=True)
        else:
            sources, probe = [passes[kind, group.fs]], None
        tables += [_Table(spec, sources, probe) for spec in members]
    return tables


def _label(members: list[TableSpec], fs: str) -> str:
    """Names the tables a pass serves, for logs and errors: `stock_flow_all_1d` or
    `stock_flow_{all,sh_a}_{1d,5d} (fs=m:1+t:2+f:!2)`."""
    names = sorted({s.name for s in members})
    if len(names) == 1:
        return names[0]
    groups = ",".join(dict.fromkeys(s.group.key for s in members))
    periods = ",".join(dict.fromkeys(s.period.key for s in members))
    return f"{members[0].kind}_flow_{{{groups}}}_{{{periods}}} (fs={fs})"


def safe_url(url: str) -> str:
    """The URL without user:password or query, fit for logs and error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


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


def _env_number(env: Mapping[str, str], name: str, default, kind):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < 0 or (name == ENV_CONCURRENCY and value < 1):
        raise ValueError(f"{name} out of range: {raw!r}")
    return value
