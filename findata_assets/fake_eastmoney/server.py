"""The fake Eastmoney `clist/get` server: the real protocol over real HTTP, on loopback.

Pages, the `pz` cap, `fid`/`po` sorting on any field, `np` 1/2, `fltt`, `fs`, `fields`, JSONP `cb`,
the real envelope, "-" for unknown values; plus latency, drift and fault injection for tests and
benchmarks. Every response carries `X-Fake-Data: synthetic...`: this is not market data.

Fault kinds (`set_faults(rate, kinds)`): "500", "502", "503", "429" (that HTTP status), "timeout"
(the answer comes only after `fault_timeout_s`, 3 s by default: longer than a test client's 1-2 s
read timeout; raise it to ~20 s to beat a production client), "drop" (socket closed, no answer),
"truncate" (Content-Length larger than the body sent), "null" (`{"rc":0,"data":null}`), "rc"
(rc=100, data null).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
import threading
import time
import traceback
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from findata_assets.eastmoney import catalog
from findata_assets.fake_eastmoney.universe import (
    SHANGHAI, TOP_FIELDS, TOP_GROUPS, VALUE_FIELDS, Universe, View)

API_PATH = "/api/qt/clist/get"
PAGE_CAP = 100  # rows per page since March 2025, whatever `pz` asks
PRECISION = 2  # f1: decimals; without fltt=2 numbers are integers scaled by 10**f1
FAULT_KINDS = ("500", "502", "503", "429", "timeout", "drop", "truncate", "null", "rc")
SYNTHETIC_HEADER = ("X-Fake-Data", "synthetic: findata fake Eastmoney API, not market data")
SESSION = (dt.time(9, 15), dt.time(11, 30), dt.time(13, 0), dt.time(15, 0))
DEFAULT_FIELDS = "f1,f2,f3,f12,f13,f14"
_ENVELOPE = {"rc": 0, "rt": 6, "svr": 181669432, "lt": 1, "full": 1, "dlmkts": ""}
_SORT_CACHE_SIZE = 64


def default_trade_date(now: dt.datetime | None = None) -> dt.date:
    """The latest weekday whose call auction has begun (the fake knows no holidays).

    Before 09:15 "today" still holds the previous session, as on the real API."""
    now = (now or dt.datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    day = now.date() if now.time() >= SESSION[0] else now.date() - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


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


def _previous_weekday(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _field_number(field: str) -> int | None:
    return int(field[1:]) if field[:1] == "f" and field[1:].isdigit() else None


class FakeEastmoneyServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0,
                 fault_rate: float = 0.0, seed: int = 0, scale: float = 1.0, frozen: bool = False,
                 trade_date: dt.date | None = None, fault_timeout_s: float = 3.0) -> None:
        self.universe = Universe(seed=seed, scale=scale)
        self.trade_date = trade_date or default_trade_date()
        self.latency_ms, self.frozen = latency_ms, frozen
        self.fault_rate, self.fault_kinds = fault_rate, FAULT_KINDS
        self.fault_timeout_s = fault_timeout_s
        self._rng = random.Random(seed)  # faults: a seeded sequence, one draw per request
        self._frozen_at = dt.datetime.now(SHANGHAI)
        self._lock = threading.Lock()
        self._step = 0
        self._orders: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.request_count = 0
        self.faults_served: dict[str, int] = {}
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None
        self.universe.day(self.trade_date)  # draw the day now, not in the first request

    # -- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API_PATH}"

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

    def freeze(self, frozen: bool = True) -> None:
        """Frozen: values and the f124 clock stand still, so pages can be compared row for row."""
        self.frozen = frozen
        self._frozen_at = dt.datetime.now(SHANGHAI)

    def advance(self, steps: int = 1) -> None:
        """Move the values on, as trading does between two refreshes (also while frozen)."""
        with self._lock:
            self._step += steps

    def set_trade_date(self, day: dt.date) -> None:
        self.universe.day(day)  # values are seeded by the trade date: two days differ
        self.trade_date = day

    def set_faults(self, rate: float, kinds=None) -> None:
        unknown = set(kinds or ()) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected {FAULT_KINDS}")
        if not 0 <= rate <= 1:
            raise ValueError(f"fault rate {rate} is not within [0, 1]")
        self.fault_rate, self.fault_kinds = rate, tuple(kinds or FAULT_KINDS)

    def set_latency(self, ms: float) -> None:
        self.latency_ms = ms

    def stats(self) -> dict:
        return {"requests": self.request_count, "max_in_flight": self.max_in_flight,
                "faults": dict(self.faults_served), "trade_date": self.trade_date.isoformat(),
                "frozen": self.frozen, "step": self._step, "latency_ms": self.latency_ms,
                "fault_rate": self.fault_rate, "fault_kinds": list(self.fault_kinds),
                "securities": len(self.universe), "synthetic": True}

    # -- data ----------------------------------------------------------------------------
    def view(self, step: int | None = None) -> View:
        """The universe now (frozen: at the freeze) for the trade date and a drift step."""
        now = self._frozen_at if self.frozen else dt.datetime.now(SHANGHAI)
        day = self.trade_date
        earlier = update_stamp(_previous_weekday(day), now)
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
        return total, [dict(zip(wanted, values)) for values in zip(*columns)]

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
            if not self.frozen:
                self._step += 1  # every request sees the market a little later
            return self._step

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
        total, page = self.rows(query.get("fs", ""), fields, query.get("fid") or None,
                                query.get("po", "1") != "0", self.view(step),
                                scaled=query.get("fltt") != "2", start=(pn - 1) * pz, stop=pn * pz)
        data = None  # an empty selection or a page past the end
        if page:
            diff = {str(k): r for k, r in enumerate(page)} if query.get("np") == "2" else page
            data = {"total": total, "diff": diff}
        return {**_ENVELOPE, "data": data}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the stdlib's 5 drops connections under 8+ concurrent clients
    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self):
        conn, addr = super().get_request()
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads waiting on keep-alive connections: they see EOF and end."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away (or a stop mid-request) is not worth a traceback


def _handler_for(server: FakeEastmoneyServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, a keep-alive client's delayed ACK
        # added ~40 ms to every response, whatever latency_ms said.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # keep test output readable
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json",
                  declared_length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(declared_length or len(body)))
            self.send_header(*SYNTHETIC_HEADER)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path == "/_fake/stats":
                return self._send(200, json.dumps(server.stats()).encode())
            if parts.path != API_PATH:
                return self._send(404, b'{"error":"not found"}')
            with server._lock:
                server._in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server._in_flight)
            try:
                self._serve_api(query)
            finally:
                with server._lock:
                    server._in_flight -= 1

        def _serve_api(self, query: dict[str, str]) -> None:
            step = server._next_step()
            if server.latency_ms:
                time.sleep(server.latency_ms / 1000)
            fault = server._pick_fault()
            if fault in ("500", "502", "503", "429"):
                return self._send(int(fault), b"<html>error</html>", "text/html")
            if fault == "timeout":
                time.sleep(server.fault_timeout_s)
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            try:
                payload = server.respond(query, step)
            except Exception as exc:  # a bug in the fake: say so loudly rather than drop the line
                traceback.print_exc()
                return self._send(500, json.dumps({"error": f"fake server bug: {exc!r}"}).encode())
            if fault == "null":
                payload["data"] = None
            if fault == "rc":
                payload.update(rc=100, data=None)
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            if query.get("cb"):
                body = f"{query['cb']}({body});"
            raw = body.encode("utf-8")
            if fault == "truncate":
                self._send(200, raw[: len(raw) // 2], declared_length=len(raw))
                self.close_connection = True
                return
            self._send(200, raw,
                       "application/javascript" if query.get("cb") else "application/json")

        def do_POST(self) -> None:
            # Read the body whatever the path: left unread, it would be parsed as the next request
            # on this keep-alive connection.
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if urlsplit(self.path).path != "/_fake/control":
                return self._send(404, b'{"error":"not found"}')
            try:
                control = json.loads(body or b"{}")
                if "trade_date" in control:
                    server.set_trade_date(dt.date.fromisoformat(control["trade_date"]))
                if "frozen" in control:
                    server.freeze(bool(control["frozen"]))
                if "fault_rate" in control:
                    server.set_faults(float(control["fault_rate"]), control.get("fault_kinds"))
                if "latency_ms" in control:
                    server.set_latency(float(control["latency_ms"]))
                if control.get("advance"):
                    server.advance(int(control["advance"]))
            except (ValueError, TypeError, AttributeError) as exc:
                return self._send(400, json.dumps({"error": str(exc)}).encode())
            self._send(200, json.dumps(server.stats()).encode())

    return Handler
