"""The fake Eastmoney fund-flow API: the real protocol over real HTTP, on loopback.

Serves the ranking `GET /api/qt/clist/get` and each security's daily fund-flow history
`GET /api/qt/stock/fflow/daykline/get` (klines.py: up to `history_days` lines ending at the last
session, whose line equals the 1d ranking; `secid` of a stock, a board or the market pair), plus
`GET /_fake/stats` and `POST /_fake/control` for tests.

Ranking: pages, the `pz` cap, `fid`/`po` sorting on any field, `np` 1/2, `fltt`, `fs`, `fields`,
JSONP `cb`, the real envelope, "-" for unknown values; plus latency, drift and fault injection for
tests and benchmarks. Every response carries `X-Fake-Data: synthetic...`: this is not market data.

The market follows the XSHG calendar at the fake's clock (`now`, or the real clock): from the
09:15 auction of a trading day "today" is that day, before it and on weekends and holidays the
last session, whose values stand still with that session's f124 (as on the real API). Values
drift between requests only while that session trades. The board layout (`board_layout`, see
universe.BOARD_LAYOUTS) decides where the 002xxx stocks are listed. `set_overrides` puts raw
values into chosen cells ("NaN", "--", an f124 in milliseconds or in the future) to model a
dirty feed.

Fault kinds (`set_faults(rate, kinds)`): "500", "502", "503", "429" (that HTTP status), "timeout"
(the answer comes only after `fault_timeout_s`, 3 s by default: longer than a test client's 1-2 s
read timeout; raise it to ~20 s to beat a production client), "drop" (socket closed, no answer),
"truncate" (Content-Length larger than the body sent), "null" (`{"rc":0,"data":null}`), "rc"
(rc=100, data null). Asked for by name only: "trickle" (headers at once, then the body one byte
every `trickle_interval_s` for `fault_trickle_s`, 90 s by default, then the rest: a stalled proxy
or CDN connection that never trips a per-read timeout). Faults and latency apply to both paths.

The ban (`set_ban`, ban.py): after more than `max_requests` API requests within `window_s`
seconds, every API request for `cooldown_s` seconds is dropped (or answered with an empty body).
Counters: `request_count` counts ranking requests (each one moves a trading market on a step),
`kline_requests` kline requests per secid; both count a request as it arrives, banned or not.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import OrderedDict

import numpy as np

from findata_assets import trading_calendar
from findata_assets.eastmoney import catalog
from findata_assets.fake_eastmoney.http_server import (  # noqa: F401 (part of the fake's API)
    API_PATH, KLINE_PATH, SYNTHETIC_HEADER, HttpServer, handler_for)
from findata_assets.fake_eastmoney.ban import Ban
from findata_assets.fake_eastmoney.klines import HISTORY_DAYS, KlineHistory, kline_key
from findata_assets.fake_eastmoney.universe import (
    SHANGHAI, TOP_FIELDS, TOP_GROUPS, VALUE_FIELDS, Universe, View)

PAGE_CAP = 100  # rows per page since March 2025, whatever `pz` asks
PRECISION = 2  # f1: decimals; without fltt=2 numbers are integers scaled by 10**f1
FAULT_KINDS = ("500", "502", "503", "429", "timeout", "drop", "truncate", "null", "rc")
EXTRA_FAULT_KINDS = ("trickle",)  # never drawn unless named: it holds a connection for minutes
SESSION = (dt.time(9, 15), dt.time(11, 30), dt.time(13, 0), dt.time(15, 0))
DEFAULT_FIELDS = "f1,f2,f3,f12,f13,f14"
_ENVELOPE = {"rc": 0, "rt": 6, "svr": 181669432, "lt": 1, "full": 1, "dlmkts": ""}
_SORT_CACHE_SIZE = 64


def default_trade_date(now: dt.datetime | None = None) -> dt.date:
    """The session "today" holds at `now`: a trading day from its 09:15 auction on, else the
    last trading day before (weekends and exchange holidays, from the XSHG calendar)."""
    now = (now or dt.datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    day = now.date()
    if trading_calendar.is_trading_day(day) and now.time() >= SESSION[0]:
        return day
    return trading_calendar.previous_trading_day(day)


def in_session(trade_date: dt.date, now: dt.datetime) -> bool:
    """True while `trade_date`'s session trades (auction included, lunch excluded)."""
    now = now.astimezone(SHANGHAI)
    t = now.time()
    return now.date() == trade_date and (SESSION[0] <= t <= SESSION[1]
                                         or SESSION[2] <= t <= SESSION[3])


def update_stamp(trade_date: dt.date, now: dt.datetime) -> int:
    """f124 of a trading security: the clock while the trade date's session runs, else 15:00."""
    at = lambda t: dt.datetime.combine(trade_date, t, SHANGHAI)  # noqa: E731
    now = now.astimezone(SHANGHAI)
    if now.date() != trade_date or now >= at(SESSION[3]):
        latest = at(SESSION[3])
    elif at(SESSION[1]) < now < at(SESSION[2]):
        latest = at(SESSION[1])  # the lunch break: the morning's last update
    else:
        latest = now
    return int(latest.timestamp())


def _field_number(field: str) -> int | None:
    return int(field[1:]) if field[:1] == "f" and field[1:].isdigit() else None


class FakeEastmoneyServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0,
                 fault_rate: float = 0.0, seed: int = 0, scale: float = 1.0, frozen: bool = False,
                 trade_date: dt.date | None = None, fault_timeout_s: float = 3.0,
                 now: dt.datetime | None = None, board_layout: str = "current",
                 fault_trickle_s: float = 90.0, trickle_interval_s: float = 2.0,
                 history_days: int = HISTORY_DAYS, kline_live_day: bool = False) -> None:
        self.universe = Universe(seed=seed, scale=scale, layout=board_layout)
        # kline_live_day: serve the trading session's own daily line (unknown on the real API)
        self.klines = KlineHistory(self, history_days, kline_live_day)
        self.ban = Ban()
        self.kline_requests: dict[str, int] = {}  # secid (klines.kline_key) -> requests
        self.kline_answers: dict[str, int] = {}  # ... -> whole answers sent (http_server)
        # trade_date pins the session served, whatever the calendar says (a test of a wrong
        # date); None follows the calendar at the clock. now: a fixed clock (None: real time).
        self.pinned_trade_date, self.now = trade_date, now
        self.overrides: dict[str, dict[str, object]] = {}  # code ("*": every row) -> field -> raw
        # fs filters answered `data: null` although they select rows (a throttled client sees
        # that on the real API), while every other filter still counts those rows
        self.null_filters: set[str] = set()
        self.latency_ms, self.frozen = latency_ms, frozen
        self.fault_rate, self.fault_kinds = fault_rate, FAULT_KINDS
        self.fault_timeout_s = fault_timeout_s
        self.fault_trickle_s, self.trickle_interval_s = fault_trickle_s, trickle_interval_s
        self._rng = random.Random(seed)  # faults: a seeded sequence, one draw per request
        self._frozen_at = dt.datetime.now(SHANGHAI)
        self._lock = threading.Lock()
        self._step = 0
        self._orders: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.request_count = 0
        self.faults_served: dict[str, int] = {}
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd = HttpServer((host, port), handler_for(self))
        self._thread: threading.Thread | None = None
        self.universe.day(self.trade_date)  # draw the day now, not in the first request

    # -- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API_PATH}"

    @property
    def kline_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{KLINE_PATH}"

    def start(self) -> "FakeEastmoneyServer":
        # A short poll interval: stop() waits for the loop to notice, and tests stop many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-eastmoney")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every open (keep-alive) connection."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> "FakeEastmoneyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.request_count, self.max_in_flight, self.faults_served = 0, 0, {}
            self.kline_requests, self.kline_answers = {}, {}
        self.ban.reset_counts()

    def clock(self) -> dt.datetime:
        """The fake's now: fixed, frozen at the freeze, or the real clock (Asia/Shanghai)."""
        if self.now is not None:
            return self.now.astimezone(SHANGHAI)
        return self._frozen_at if self.frozen else dt.datetime.now(SHANGHAI)

    @property
    def trade_date(self) -> dt.date:
        return self.pinned_trade_date or default_trade_date(self.clock())

    def trading(self) -> bool:
        """True while the served session trades at the clock: only then do values drift."""
        return in_session(self.trade_date, self.clock())

    def set_now(self, now: dt.datetime | None) -> None:
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=SHANGHAI)  # naive: Shanghai wall time
        self.now = now
        self.universe.day(self.trade_date)

    def set_overrides(self, cells) -> None:
        """Raw values for chosen cells: [(code or "*", field, value), ...]; [] clears them."""
        overrides: dict[str, dict[str, object]] = {}
        for code, field, value in cells:
            if _field_number(field) is None:
                raise ValueError(f"override field {field!r} is not a field code like f62")
            overrides.setdefault(str(code), {})[field] = value
        self.overrides = overrides

    def freeze(self, frozen: bool = True) -> None:
        """Frozen: values and the f124 clock stand still, so pages can be compared row for row."""
        self.frozen = frozen
        self._frozen_at = dt.datetime.now(SHANGHAI)

    def advance(self, steps: int = 1) -> None:
        """Move the values on, as trading does between two refreshes (also while frozen)."""
        with self._lock:
            self._step += steps

    def set_trade_date(self, day: dt.date | None) -> None:
        if day is not None:
            self.universe.day(day)  # values are seeded by the trade date: two days differ
        self.pinned_trade_date = day

    def set_faults(self, rate: float, kinds=None) -> None:
        known = FAULT_KINDS + EXTRA_FAULT_KINDS
        unknown = set(kinds or ()) - set(known)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected {known}")
        if not 0 <= rate <= 1:
            raise ValueError(f"fault rate {rate} is not within [0, 1]")
        self.fault_rate, self.fault_kinds = rate, tuple(kinds or FAULT_KINDS)

    def set_latency(self, ms: float) -> None:
        self.latency_ms = ms

    def set_ban(self, max_requests: int | None, window_s: float = 10.0, cooldown_s: float = 60.0,
                kind: str = "drop") -> None:
        """Ban the client for `cooldown_s` once more than `max_requests` API requests arrived
        within `window_s` seconds ("drop": no answer, "empty": 200 without a body; ban.py);
        None: never. Starts with an empty window and no ban in force."""
        self.ban.configure(max_requests, window_s, cooldown_s, kind)

    def daily_lines(self, secid: str) -> list[str] | None:
        """The kline lines a request for `secid` (or klines.MARKET_SECID) gets now."""
        return self.klines.lines(secid)

    def stats(self) -> dict:
        return {"requests": self.request_count, "max_in_flight": self.max_in_flight,
                "in_flight": self._in_flight,
                "faults": dict(self.faults_served), "trade_date": self.trade_date.isoformat(),
                "frozen": self.frozen, "step": self._step, "latency_ms": self.latency_ms,
                "fault_rate": self.fault_rate, "fault_kinds": list(self.fault_kinds),
                "securities": len(self.universe), "board_layout": self.universe.layout,
                "now": self.clock().isoformat(), "trading": self.trading(),
                "overrides": sum(map(len, self.overrides.values())), "synthetic": True,
                "kline_requests": sum(self.kline_requests.values()),
                "kline_secids": len(self.kline_requests), "history_days": self.klines.history_days,
                "kline_live_day": self.klines.live_day, **self.ban.stats()}

    # -- data ----------------------------------------------------------------------------
    def view(self, step: int | None = None) -> View:
        """The universe at the clock for the trade date and a drift step."""
        now, day = self.clock(), self.trade_date
        earlier = update_stamp(trading_calendar.previous_trading_day(day), now)
        return self.universe.view(day, self._step if step is None else step,
                                  update_stamp(day, now), earlier)

    def _page(self, fs: str, fid: str | None, descending: bool, view: View, start: int,
              stop: int | None) -> tuple[int, np.ndarray]:
        """(total, indices of rows[start:stop]) of an `fs` selection sorted as the API sorts
        ("-" last in both directions)."""
        selection = self.universe.select(fs)
        if not fid or not len(selection):
            return len(selection), selection[start:stop]
        if self.frozen or fid not in VALUE_FIELDS:
            order = self._sorted(fs, fid, descending, view, selection)
            return len(order), order[start:stop]
        # Drifting values: every request has its own step, so nothing is worth caching; sort
        # just this page (argpartition is O(n); a full sort of 85k rows took ~10 ms).
        key = view.sort_key(fid, selection)
        key = -key if descending else key
        n = len(selection)
        lo, hi = min(start, n), min(n if stop is None else stop, n)
        if lo >= hi:
            return n, selection[:0]
        chosen = np.argpartition(key, [lo, hi - 1])[lo:hi]
        return n, selection[chosen[np.argsort(key[chosen], kind="stable")]]

    def _sorted(self, fs: str, fid: str, descending: bool, view: View,
                selection: np.ndarray) -> np.ndarray:
        """The whole selection in order, cached per (fs, fid, po, what the field depends on)."""
        key = (fs, fid, descending, view.version(fid))
        with self._lock:
            if key in self._orders:
                self._orders.move_to_end(key)
                return self._orders[key]
        values = view.sort_key(fid, selection)
        # Stable sort of the (negated) key: ties and "-" (NaN) stay in code-list order.
        order = selection[np.argsort(-values if descending else values, kind="stable")]
        with self._lock:
            self._orders[key] = order
            while len(self._orders) > _SORT_CACHE_SIZE:
                self._orders.popitem(last=False)
        return order

    def rows(self, fs: str, fields: list[str], fid: str | None, descending: bool, view: View,
             scaled: bool = False, start: int = 0,
             stop: int | None = None) -> tuple[int, list[dict]]:
        """(total, rows[start:stop]) of what an `fs` filter selects, sorted as the API sorts."""
        total, idx = self._page(fs, fid, descending, view, start, stop)
        wanted = sorted({f for f in fields if _field_number(f) is not None}, key=_field_number)
        numbers = view.numbers([f for f in wanted if f in VALUE_FIELDS], idx)
        columns = [self._column(f, idx, view, numbers, scaled) for f in wanted]
        if not wanted:
            return total, [{} for _ in idx]
        rows = [dict(zip(wanted, values)) for values in zip(*columns)]
        if self.overrides:
            self._override(rows, self.universe.securities.codes[idx].tolist(), set(wanted))
        return total, rows

    def _override(self, rows: list[dict], codes: list[str], wanted: set[str]) -> None:
        every = self.overrides.get("*", {})
        for row, code in zip(rows, codes):
            for field, value in {**every, **self.overrides.get(code, {})}.items():
                if field in wanted:
                    row[field] = value

    def _column(self, field: str, idx: np.ndarray, view: View, numbers: dict,
                scaled: bool) -> list:
        sec = self.universe.securities
        if field in numbers:
            values = numbers[field]
            dash = np.isnan(values).tolist()
            if scaled:  # without fltt=2: integers scaled by 10**f1
                values = np.rint(np.nan_to_num(values) * 10 ** PRECISION).astype(np.int64)
            return ["-" if d else v for d, v in zip(dash, values.tolist())]
        if field == "f12":
            return sec.codes[idx].tolist()
        if field == "f14":
            return sec.names[idx].tolist()
        if field == "f13":
            return sec.m[idx].tolist()
        if field == "f1":
            return [PRECISION] * len(idx)
        if field == "f124":
            return view.stamps(idx).tolist()
        if field in TOP_FIELDS:
            return view.top(field, idx)
        return ["-"] * len(idx)  # a field the fake does not model

    def expected_rows(self, spec: catalog.TableSpec) -> list[dict]:
        """Exactly the rows (fields of spec.period.fields, fltt=2 values) a frozen server serves
        for a table, every row, in code order."""
        return self.rows(spec.group.fs, list(spec.period.fields), catalog.CODE_FIELD, False,
                         self.view())[1]

    # -- one request ---------------------------------------------------------------------
    def _next_step(self) -> int:
        with self._lock:
            self.request_count += 1
            if not self.frozen and self.trading():
                self._step += 1  # every request sees the trading market a little later
            return self._step

    def _admit(self, path: str, query: dict[str, str]) -> tuple[int, str | None]:
        """Count an API request as it arrives: (its step, the ban's answer or None)."""
        if path == API_PATH:
            step = self._next_step()
        else:  # klines do not move the market on: the ranking's requests clock its drift
            key = kline_key(query.get("secid", ""), query.get("secid2"))
            with self._lock:
                self.kline_requests[key] = self.kline_requests.get(key, 0) + 1
            step = self._step
        return step, self.ban.admit()

    def _pick_fault(self) -> str | None:
        with self._lock:
            if self.fault_rate and self._rng.random() < self.fault_rate:
                kind = self._rng.choice(self.fault_kinds)
                self.faults_served[kind] = self.faults_served.get(kind, 0) + 1
                return kind
        return None

    def respond(self, query: dict[str, str], step: int) -> dict:
        """The JSON envelope the real server sends for a query (before any fault)."""
        try:
            pn, pz = max(1, int(query.get("pn", 1))), max(1, int(query.get("pz", 20)))
        except ValueError:
            return {**_ENVELOPE, "rc": 102, "data": None}
        pz = min(pz, PAGE_CAP)
        fields = [f for f in query.get("fields", DEFAULT_FIELDS).split(",") if f]
        # The API adds a board's top-stock market next to its name/code (f204/f205 -> f206, ...),
        # asked for or not: akshare names its columns by position and counts on it.
        fields += [m for n, (c, m) in TOP_GROUPS.items() if n in fields or c in fields]
        if query.get("fs", "") in self.null_filters:
            return {**_ENVELOPE, "data": None}
        total, page = self.rows(query.get("fs", ""), fields, query.get("fid") or None,
                                query.get("po", "1") != "0", self.view(step),
                                scaled=query.get("fltt") != "2", start=(pn - 1) * pz, stop=pn * pz)
        data = None  # an empty selection or a page past the end
        if page:
            diff = {str(k): r for k, r in enumerate(page)} if query.get("np") == "2" else page
            data = {"total": total, "diff": diff}
        return {**_ENVELOPE, "data": data}
