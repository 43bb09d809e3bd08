"""The fake's HTTP side: a threading server that closes keep-alive connections on stop, and the
request handler that maps GET/POST onto a FakeEastmoneyServer (the ranking and the daily klines,
faults and the ban included)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from findata_assets.fake_eastmoney.klines import kline_key

API_PATH = "/api/qt/clist/get"
KLINE_PATH = "/api/qt/stock/fflow/daykline/get"  # per-security daily fund-flow history
SYNTHETIC_HEADER = ("X-Fake-Data", "synthetic: findata fake Eastmoney API, not market data")


class HttpServer(ThreadingHTTPServer):
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


def handler_for(server):
    """The request handler class for `server` (a FakeEastmoneyServer; not imported here: the
    server module builds this one)."""
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
            if parts.path not in (API_PATH, KLINE_PATH):
                return self._send(404, b'{"error":"not found"}')
            with server._lock:
                server._in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server._in_flight)
            try:
                self._serve_api(parts.path, query)
            finally:
                with server._lock:
                    server._in_flight -= 1

        def _serve_api(self, path: str, query: dict[str, str]) -> None:
            step, ban = server._admit(path, query)
            if server.latency_ms:
                time.sleep(server.latency_ms / 1000)
            fault = ban or server._pick_fault()  # a banned request draws no fault
            if fault == "empty":  # the ban's other face: an answer without a body
                return self._send(200, b"")
            if fault in ("500", "502", "503", "429"):
                return self._send(int(fault), b"<html>error</html>", "text/html")
            if fault == "timeout":
                time.sleep(server.fault_timeout_s)
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            try:
                payload = (server.respond(query, step) if path == API_PATH
                           else server.klines.respond(query))
            except Exception as exc:  # a bug in the fake: say so loudly rather than drop the line
                traceback.print_exc()
                return self._send(500, json.dumps({"error": f"fake server bug: {exc!r}"}).encode())
            if fault == "null":
                payload["data"] = None
            if fault == "rc":
                payload.update(rc=100, data=None)
            raw = orjson.dumps(payload)  # compact UTF-8, what the real API sends
            if query.get("cb"):
                raw = query["cb"].encode() + b"(" + raw + b");"
            if fault == "trickle":
                return self._trickle(raw)
            if fault == "truncate":
                self._send(200, raw[: len(raw) // 2], declared_length=len(raw))
                self.close_connection = True
                return
            self._send(200, raw,
                       "application/javascript" if query.get("cb") else "application/json")
            if path == KLINE_PATH:  # a whole answer sent: what "fetched twice" counts
                key = kline_key(query.get("secid", ""), query.get("secid2"))
                with server._lock:
                    server.kline_answers[key] = server.kline_answers.get(key, 0) + 1

        def _trickle(self, raw: bytes) -> None:
            """Headers at once, then the body one byte every `trickle_interval_s` for
            `fault_trickle_s`, then the rest: a stalled proxy or CDN connection. A client that
            gives up closes the connection; the fake stops writing then."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header(*SYNTHETIC_HEADER)
            self.end_headers()
            until = time.monotonic() + server.fault_trickle_s
            sent = 0
            try:
                self.wfile.flush()
                while sent < len(raw) - 1 and time.monotonic() < until:
                    self.wfile.write(raw[sent:sent + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(server.trickle_interval_s)
                self.wfile.write(raw[sent:])
            except OSError:  # the client cut the connection: what a deadline is for
                self.close_connection = True

        def do_POST(self) -> None:
            # Read the body whatever the path: left unread, it would be parsed as the next request
            # on this keep-alive connection.
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if urlsplit(self.path).path != "/_fake/control":
                return self._send(404, b'{"error":"not found"}')
            try:
                control = json.loads(body or b"{}")
                if "trade_date" in control:
                    day = control["trade_date"]
                    server.set_trade_date(dt.date.fromisoformat(day) if day else None)
                if "now" in control:
                    now = control["now"]
                    server.set_now(dt.datetime.fromisoformat(now) if now else None)
                if "overrides" in control:
                    server.set_overrides(control["overrides"])
                if "null_filters" in control:
                    server.null_filters = set(control["null_filters"])
                if "frozen" in control:
                    server.freeze(bool(control["frozen"]))
                if "fault_rate" in control:
                    server.set_faults(float(control["fault_rate"]), control.get("fault_kinds"))
                if "trickle_s" in control:
                    server.fault_trickle_s = float(control["trickle_s"])
                if "latency_ms" in control:
                    server.set_latency(float(control["latency_ms"]))
                if "ban" in control:
                    server.set_ban(**(control["ban"] or {"max_requests": None}))
                if control.get("advance"):
                    server.advance(int(control["advance"]))
            except (ValueError, TypeError, AttributeError) as exc:
                return self._send(400, json.dumps({"error": str(exc)}).encode())
            self._send(200, json.dumps(server.stats()).encode())

    return Handler
