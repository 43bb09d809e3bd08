"""The history fetcher over real HTTP on loopback: pacing, retries, the URL's faults, bans, stops.

Bans, answers and the synthetic mark run against the project's fake (`FakeEastmoneyServer`: its
daily klines and its ban). What needs arrival times or a scripted answer per request uses
`KlineStub`, a tiny instrumented http.server below.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from findata_assets import cancellation
from findata_assets.eastmoney import klines
from findata_assets.eastmoney.errors import EndpointError, RetriesExhaustedError
from findata_assets.eastmoney.kline_fetch import HistoryFetcher
from findata_assets.fake_eastmoney.klines import MARKET_SECID as FAKE_MARKET_KEY
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.settings.history import HistorySettings

LINE = ("2023-12-18,-58234405.0,47874618.0,10359788.0,-13362003.0,-44872402.0,-9.72,7.99,1.73,"
        "-2.23,-7.49,8.41,-0.94,0.00,0.00")
FAST = EastmoneySettings(max_attempts=4, page_deadline_s=5)


def answer(secid: str) -> bytes:
    data = {"code": secid[2:], "name": "n", "klines": [LINE]}
    return json.dumps({"rc": 0, "data": data}).encode()


class KlineStub:
    """Serves `script(secid, n)` -> (status, body): body None drops the connection, b"" is an
    empty answer; n counts that secid's requests from 0. Records arrival times, the peak of
    requests in flight, and requests per secid ("1.000001+0.399001" for the market pair)."""

    def __init__(self, script=lambda secid, n: (200, answer(secid)), latency_s: float = 0.0):
        self.script, self.latency_s = script, latency_s
        self.arrivals: list[float] = []
        self.requests: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0
        lock, stub = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                secid = "+".join(filter(None, (q.get("secid"), q.get("secid2"))))
                with lock:
                    n = stub.requests.get(secid, 0)
                    stub.requests[secid] = n + 1
                    stub.arrivals.append(time.monotonic())
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    time.sleep(stub.latency_s)
                    status, body = stub.script(secid, n)
                finally:
                    with lock:
                        stub.in_flight -= 1
                if body is None:  # no answer at all: the API's ban
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/api/qt/stock/fflow/daykline/get"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class Calls:
    """The fetch's callbacks, recorded."""

    def __init__(self, fail_on: str | None = None):
        self.answers: dict[str, list[bytes]] = {}
        self.failures: dict[str, BaseException] = {}
        self.events: list[tuple[str, str, float]] = []
        self.fail_on = fail_on

    def on_answer(self, secid: str, body: bytes) -> None:
        self.answers.setdefault(secid, []).append(body)
        if secid == self.fail_on:
            raise OSError("the archive is full")

    def on_failure(self, secid: str, exc: BaseException) -> None:
        self.failures[secid] = exc

    def on_event(self, kind: str, text: str) -> None:
        self.events.append((kind, text, time.monotonic()))

    def fetch(self, fetcher: HistoryFetcher, secids, **kw):
        return fetcher.fetch(secids, self.on_answer, self.on_failure, self.on_event, **kw)


def fetcher(url: str, eastmoney: EastmoneySettings = FAST, **kw) -> HistoryFetcher:
    settings = HistorySettings(url=url, **({"min_interval_ms": 0} | kw))
    return HistoryFetcher(settings, eastmoney, backoff_base_s=0.02, max_backoff_s=0.1)


def stocks(n: int) -> list[str]:
    return [klines.secid_for(f"{600000 + i}") for i in range(n)]


def fake_secids(fake, n: int) -> list[str]:
    """n stocks the fake serves, and the market pair (our key)."""
    traded = [s for s in fake.klines.secids() if s.startswith(("0.", "1."))]
    return traded[:n] + [klines.MARKET_SECID]


def fake_key(secid: str) -> str:
    return FAKE_MARKET_KEY if secid == klines.MARKET_SECID else secid


# --- pacing -----------------------------------------------------------------------------------

def test_one_in_flight_and_starts_spaced_by_the_minimum_interval():
    secids = stocks(6)
    with KlineStub(latency_s=0.03) as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url, concurrency=1, min_interval_ms=200), secids)
    assert sorted(calls.answers) == sorted(secids) and not calls.failures
    assert stats.elapsed_s >= 5 * 0.2  # the gate spaces the starts exactly
    # at the server, an arrival delayed by the loaded machine (the first one's connect, say)
    # shortens the gap after it: each gap gets slack, the sequence after the first little
    gaps = [b - a for a, b in zip(stub.arrivals, stub.arrivals[1:])]
    assert len(stub.arrivals) == 6 and min(gaps) >= 0.15, gaps
    assert stub.arrivals[-1] - stub.arrivals[1] >= 4 * 0.2 - 0.03, gaps
    assert stub.max_in_flight == 1
    assert stats.requests == stats.answers == 6 and stats.retries == 0


def test_concurrency_four_is_reached_and_never_exceeded():
    with KlineStub(latency_s=0.2) as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url, concurrency=4), stocks(16))
    assert stub.max_in_flight == 4
    assert stats.answers == 16 and len(calls.answers) == 16


# --- retries and the URL's faults -------------------------------------------------------------

def test_a_503_is_retried_with_backoff_then_answered():
    flaky = "1.600001"

    def script(secid, n):
        return (503, b"busy") if secid == flaky and n < 2 else (200, answer(secid))

    with KlineStub(script) as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url), stocks(3))
    assert stub.requests[flaky] == 3 and set(calls.answers) == set(stocks(3))
    assert len(calls.answers[flaky]) == 1
    assert stats.retries == 2 and stats.outcomes["http_status"] == 2 and stats.failures == 0


def test_a_malformed_secid_fails_without_a_request_and_a_repeated_one_is_asked_once():
    with KlineStub() as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url), ["1.600000", "600001", "1.600000"])
    assert list(calls.failures) == ["600001"] and "is not <market>.<code>" in str(
        calls.failures["600001"])
    assert stub.requests == {"1.600000": 1} and list(calls.answers) == ["1.600000"]
    assert stats.requests == 1 and stats.failures == 1


def test_a_security_that_keeps_failing_is_reported_and_the_others_are_answered():
    with KlineStub(lambda s, n: (500, b"x") if s == "1.600000" else (200, answer(s))) as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url), stocks(3))
    assert isinstance(calls.failures["1.600000"], RetriesExhaustedError)
    assert "HTTP 500" in str(calls.failures["1.600000"]) and "4 attempts" in str(
        calls.failures["1.600000"])
    assert stub.requests["1.600000"] == 4 and set(calls.answers) == {"1.600001", "1.600002"}
    assert stats.failures == 1


def test_a_404_fails_at_once_naming_the_history_setting(fake_eastmoney):
    wrong = fake_eastmoney.kline_url.replace("daykline", "dayklines")
    calls = Calls()
    started = time.monotonic()
    with pytest.raises(EndpointError) as err:
        calls.fetch(fetcher(wrong), fake_secids(fake_eastmoney, 5))
    assert time.monotonic() - started < 1.0
    assert "HTTP 404" in str(err.value) and "FINDATA_HISTORY_URL" in str(err.value)
    assert "FINDATA_EASTMONEY_URL" not in str(err.value)
    assert not calls.answers and not calls.failures


def test_a_refused_port_is_blamed_on_the_url_after_a_few_seconds():
    with KlineStub() as stub:
        url = stub.url  # the port is free again once the stub is gone
    started = time.monotonic()
    with pytest.raises(EndpointError, match="cannot connect .*FINDATA_HISTORY_URL"):
        Calls().fetch(fetcher(url, EastmoneySettings(max_attempts=60)), stocks(2))
    assert 2.5 < time.monotonic() - started < 6


# --- answers from the fake --------------------------------------------------------------------

def test_every_answer_parses_and_obeys_the_identities_and_is_marked_synthetic(fake_eastmoney):
    secids = fake_secids(fake_eastmoney, 20)
    calls = Calls()
    stats = calls.fetch(fetcher(fake_eastmoney.kline_url), secids)
    assert stats.synthetic and stats.answers == 21 and not calls.failures
    for secid in secids:
        [body] = calls.answers[secid]
        series = klines.parse_daily(body, secid)
        assert len(series.lines) == len(fake_eastmoney.daily_lines(fake_key(secid))) > 0
        report = klines.check_identities(series)
        assert report.ok and report.checked[klines.MAIN_SPLIT] == len(series.lines), report


def test_on_answer_raising_fails_that_security_only(fake_eastmoney):
    secids = fake_secids(fake_eastmoney, 5)
    calls = Calls(fail_on=secids[2])
    stats = calls.fetch(fetcher(fake_eastmoney.kline_url), secids)
    assert list(calls.failures) == [secids[2]] and isinstance(calls.failures[secids[2]], OSError)
    assert set(calls.answers) == set(secids) and all(len(b) == 1 for b in calls.answers.values())
    assert stats.failures == 1 and stats.outcomes["on_answer_error"] == 1


# --- bans -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["drop", "empty"])
def test_a_ban_pauses_the_lane_once_then_every_security_is_answered_once(fake_eastmoney, kind):
    fake = fake_eastmoney
    secids = fake_secids(fake, 11)  # 12 requests: 6 before the ban, 6 after it (no second ban)
    fake.set_ban(max_requests=6, window_s=60, cooldown_s=1.0, kind=kind)
    settings = HistorySettings.from_env({
        "FINDATA_HISTORY_URL": fake.kline_url, "FINDATA_HISTORY_MIN_INTERVAL_MS": "20",
        "FINDATA_HISTORY_BAN_AFTER": "2", "FINDATA_HISTORY_BAN_COOLDOWN_S": "0.5",
        "FINDATA_HISTORY_BAN_MAX_COOLDOWN_S": "2"})
    calls = Calls()
    started = time.monotonic()
    stats = calls.fetch(HistoryFetcher(settings, FAST, backoff_base_s=0.02), secids)
    assert [e[0] for e in calls.events] == ["ban", "resumed"], calls.events
    assert "paused" in calls.events[0][1] and "\n" not in calls.events[0][1]
    assert not calls.failures
    assert {s: len(b) for s, b in calls.answers.items()} == dict.fromkeys(secids, 1)
    banned = fake.ban.stats()["banned"]
    # at the server: one whole answer per security, every other request met the ban, and while
    # paused the lane sent nothing but its probes (2 signals started the ban, then failed probes)
    answered = {fake_key(s): 1 for s in secids}
    deadline = time.monotonic() + 2  # the fake counts an answer just after sending it
    while fake.kline_answers != answered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.kline_answers == answered
    assert sum(fake.kline_requests.values()) == len(secids) + banned
    assert all(fake.kline_requests[fake_key(s)] >= 1 for s in secids)
    assert banned == 2 + stats.probes - 1 and stats.probes >= 2
    assert stats.bans == 1 and stats.ban_signals == banned and stats.failures == 0
    assert 1.0 <= stats.ban_seconds < 3.5 and time.monotonic() - started >= 1.0
    assert stats.outcomes[f"ban_{'disconnect' if kind == 'drop' else 'empty'}"] == banned


def test_a_security_whose_connection_alone_closes_fails_without_a_ban():
    # others are answered between its drops: no ban, its own attempts run out
    with KlineStub(lambda s, n: (200, None) if s == "1.600000" else (200, answer(s))) as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url, ban_after=2, ban_cooldown_s=30,
                                    ban_max_cooldown_s=30), stocks(4))
    assert isinstance(calls.failures["1.600000"], RetriesExhaustedError)
    assert set(calls.answers) == set(stocks(4)) - {"1.600000"}
    assert stats.bans == 0 and not calls.events and stub.requests["1.600000"] <= 1 + 4


# --- waiting and stopping ---------------------------------------------------------------------

def test_wait_allowed_holds_the_lane_and_says_so_once():
    answers = iter([0.3, 0.2, None])
    with KlineStub() as stub:
        calls = Calls()
        stats = calls.fetch(fetcher(stub.url), stocks(3),
                            wait_allowed=lambda: next(answers, None))
    assert [e[0] for e in calls.events] == ["waiting"]
    assert stats.waited_s >= 0.45 and len(calls.answers) == 3
    assert stub.arrivals[0] >= calls.events[0][2] + 0.45


def test_a_stop_cancels_the_request_in_flight_and_raises_cancelled(fake_eastmoney):
    fake_eastmoney.set_latency(5000)
    outcome: dict = {}
    calls = Calls()

    def run():
        try:
            calls.fetch(fetcher(fake_eastmoney.kline_url), fake_secids(fake_eastmoney, 5))
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            outcome["error"] = exc
        outcome["at"] = time.monotonic()

    worker = threading.Thread(target=run)
    cancellation.clear()
    worker.start()
    try:
        until = time.monotonic() + 10
        while not fake_eastmoney.kline_requests and time.monotonic() < until:
            time.sleep(0.01)  # the request is out (a loaded machine may take a while)
        time.sleep(0.1)
        asked = time.monotonic()
        cancellation.request("a test")
        worker.join(5)
    finally:
        cancellation.clear()
    assert isinstance(outcome.get("error"), cancellation.Cancelled), outcome
    assert outcome["at"] - asked < 2.0  # POLL_S is 0.2 s; slack for a loaded machine
    assert sum(fake_eastmoney.kline_requests.values()) == 1 and not calls.answers
