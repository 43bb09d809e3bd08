"""The Eastmoney client over real HTTP on loopback.

Completeness, drift, faults and request counts run against the project's fake server
(`FakeEastmoneyServer`). Behaviour the fake cannot be asked for (a field dropped, a total that
never adds up, a scripted sequence of failures, counting requests in flight) uses `Stub`, a tiny
instrumented http.server below.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from findata_assets.defs.eastmoney.resources import EastmoneyResource
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.client import EastmoneyClient
from findata_assets.eastmoney.errors import (
    EastmoneyError, IncompleteTableError, RetriesExhaustedError, SchemaDriftError)
from findata_assets.eastmoney.parsing import SHANGHAI, typed_rows
from findata_assets.eastmoney.snapshot import Snapshot
from findata_assets.fake_eastmoney import FakeEastmoneyServer
from findata_assets.fake_eastmoney.server import FAULT_KINDS
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.trading_calendar import latest_trading_day

STOCK_1D = catalog.table("stock", "star", "1d")
F124 = int(datetime(2025, 10, 27, 15, 0, 1, tzinfo=SHANGHAI).timestamp())


def fast_client(url: str, **kw) -> EastmoneyClient:
    """Short timeouts and backoff so fault tests stay quick."""
    opts = dict(concurrency=4, max_attempts=4, connect_timeout_s=5, read_timeout_s=1,
                backoff_base_s=0.01, max_backoff_s=0.05)
    return EastmoneyClient(url, **(opts | kw))


# --- a tiny instrumented server --------------------------------------------------------------

class Stub:
    """Serves `respond(params, n)` -> (status, body | None); None drops the connection.

    Records every request's params, arrival time and headers, and the peak requests in flight.
    """

    def __init__(self, respond, latency_s: float = 0.0):
        self.respond, self.latency_s = respond, latency_s
        self.requests: list[dict] = []
        self.arrivals: list[float] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        lock, stub = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with lock:
                    n = len(stub.requests)
                    stub.requests.append(params)
                    stub.arrivals.append(time.monotonic())
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    time.sleep(stub.latency_s)
                    status, body = stub.respond(params, n)
                finally:
                    with lock:
                        stub.in_flight -= 1
                if body is None:  # RemoteDisconnected on the client side
                    self.close_connection = True
                    return
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/api/qt/clist/get"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def universe(n: int, prefix: str = "688") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def page_body(params: dict, codes: list[str], total: int | None = None, drop: str | None = None,
              np2: bool = False, jsonp: bool = False) -> str:
    """The page `params` asks for out of `codes`, 100 rows a page (the server's cap)."""
    size = min(int(params["pz"]), 100)
    start = (int(params["pn"]) - 1) * size
    rows = []
    for i, code in enumerate(codes[start:start + size], start=start):
        row = {f: round((i - 37) * 1e6 + int(f[1:]), 2) for f in params["fields"].split(",")}
        row.update(f12=code, f14=f"name{code}", f124=F124 + i)
        row.pop(drop, None)
        rows.append(row)
    diff = {str(i): r for i, r in enumerate(rows)} if np2 else rows
    body = json.dumps({"rc": 0, "data": {"total": len(codes) if total is None else total,
                                         "diff": diff}})
    return f"jQuery1124_1761550782({body});" if jsonp else body


def serve(codes, **kw):
    return lambda params, n: (200, page_body(params, codes, **kw))


# --- stub-based tests ------------------------------------------------------------------------

def test_jsonp_and_np2_pages_over_http_give_complete_sorted_tables():
    codes = universe(250)
    with Stub(serve(codes, np2=True, jsonp=True)) as stub, fast_client(stub.url) as client:
        snap = client.fetch_tables([STOCK_1D])[STOCK_1D.name]
    assert [r["f12"] for r in snap.rows] == codes
    assert (snap.total, snap.page_size, snap.pages, snap.requests) == (250, 100, 3, 3)
    assert snap.trade_date == date(2025, 10, 27) and not snap.trade_date_fallback
    assert not snap.synthetic  # a server that does not say its data is fake
    assert snap.updated_at == datetime.fromtimestamp(F124 + 249, SHANGHAI)
    assert all(set(r) == set(STOCK_1D.period.fields) for r in snap.rows)
    # the client asked for a stable order and the capped page size
    assert {(p["fid"], p["po"], p["pz"]) for p in stub.requests} == {("f12", "0", "100")}
    assert sorted(int(p["pn"]) for p in stub.requests) == [1, 2, 3]
    ranked = typed_rows(STOCK_1D, snap)
    assert [r["rank"] for r in ranked] == list(range(1, 251))
    assert ranked[0]["code"] == codes[-1]  # the stub's main net grows with the code


def test_browser_headers_and_referer_are_sent():
    with Stub(serve(universe(3))) as stub, fast_client(stub.url) as client:
        client.fetch_tables([STOCK_1D])
    headers = {k.lower(): v for k, v in stub.headers[0].items()}
    assert headers["referer"] == "https://data.eastmoney.com/zjlx/detail.html"
    assert headers["user-agent"].startswith("Mozilla/5.0")


def test_one_fetch_serves_all_periods_of_a_group():
    codes = universe(150)
    specs = [catalog.table("stock", "star", p) for p in catalog.STOCK_PERIODS]
    with Stub(serve(codes)) as stub, fast_client(stub.url) as client:
        snaps = client.fetch_tables(specs + specs[:1])  # a repeated spec costs nothing
    assert len(stub.requests) == 2  # one paging pass (2 pages) for four tables
    requested = set(stub.requests[0]["fields"].split(","))
    assert requested == {f for s in specs for f in s.period.fields}
    for spec in specs:
        snap = snaps[spec.name]
        assert all(set(r) == set(spec.period.fields) for r in snap.rows), spec.name
        assert sorted(snap.shared_with) == sorted(s.name for s in specs if s != spec)
        assert snap.requests == 2 and len(snap.rows) == 150


SCRIPTED_FAULTS = [
    (503, "busy"), (429, "slow down"), (200, '{"rc":100,"data":null}'),
    (200, '{"rc":0,"data":null}'), (200, '{"rc":0,"data":{"total":150,"di'),
    (200, ""), (200, None),  # None: connection dropped
    ("sleep", None),  # slower than the read timeout
]


def test_every_retryable_failure_is_retried_with_a_logged_reason(caplog):
    codes = universe(150)

    def respond(params, n):
        if n < len(SCRIPTED_FAULTS):
            status, body = SCRIPTED_FAULTS[n]
            if status == "sleep":
                time.sleep(0.6)
                return 200, page_body(params, codes)
            return status, body
        return 200, page_body(params, codes)

    caplog.set_level(logging.WARNING, logger="findata.eastmoney")
    with Stub(respond) as stub, fast_client(stub.url, concurrency=1, max_attempts=12,
                                             read_timeout_s=0.3) as client:
        snap = client.fetch_tables([STOCK_1D])[STOCK_1D.name]
        stats = client.stats
    assert [r["f12"] for r in snap.rows] == codes
    assert stats["retries"] == len(SCRIPTED_FAULTS) and stats["failures"] == 0
    assert len(stub.requests) == stats["requests"] == len(SCRIPTED_FAULTS) + 2
    assert snap.requests == len(SCRIPTED_FAULTS) + 2
    log = "\n".join(r.getMessage() for r in caplog.records if r.name == "findata.eastmoney")
    for reason in ("HTTP 503", "HTTP 429", "rc=100", "data: null", "not JSON", "empty body",
                   "RemoteProtocolError", "ReadTimeout"):
        assert reason in log, reason


def test_missing_required_field_is_schema_drift_and_not_retried():
    with Stub(serve(universe(120), drop="f184")) as stub, fast_client(stub.url) as client:
        with pytest.raises(SchemaDriftError) as info:
            client.fetch_tables([STOCK_1D])
    assert info.value.field == "f184" and info.value.table == STOCK_1D.name
    assert "'f184'" in str(info.value) and STOCK_1D.name in str(info.value)
    assert len(stub.requests) == 1  # not retried


def test_unexpected_envelope_is_a_clear_error_not_retried():
    body = json.dumps({"rc": 0, "result": {"total": 1, "rows": []}})
    with Stub(lambda p, n: (200, body)) as stub, fast_client(stub.url) as client:
        with pytest.raises(SchemaDriftError, match="'data'"):
            client.fetch_tables([STOCK_1D])
    assert len(stub.requests) == 1


def test_always_incomplete_table_refetches_then_names_the_missing_rows():
    codes = universe(230)
    with Stub(serve(codes, total=237)) as stub, \
            fast_client(stub.url, max_group_attempts=3) as client:
        with pytest.raises(IncompleteTableError) as info:
            client.fetch_tables([STOCK_1D])
        assert client.stats["refetches"] == 2
    err = info.value
    assert (err.expected, err.got, err.missing) == (237, 230, 7)
    assert "7 rows missing" in str(err) and STOCK_1D.name in str(err)
    assert len(stub.requests) == 3 * math.ceil(237 / 100)  # the whole group, three times


def test_transiently_short_table_is_refetched_and_completes():
    codes = universe(230)

    def respond(params, n):  # the first pass loses page 2 rows (an edge cache, say)
        if n < 3 and params["pn"] == "2":
            return 200, page_body(params, codes[:150], total=230)
        return 200, page_body(params, codes)

    with Stub(respond) as stub, fast_client(stub.url, concurrency=1) as client:
        snap = client.fetch_tables([STOCK_1D])[STOCK_1D.name]
        assert client.stats["refetches"] == 1
    assert [r["f12"] for r in snap.rows] == codes
    assert snap.requests == 6 == len(stub.requests)


def test_exhausted_retries_name_url_table_attempts_and_last_error():
    with Stub(lambda p, n: (503, "down")) as stub, \
            fast_client(stub.url, max_attempts=3) as client:
        with pytest.raises(RetriesExhaustedError) as info:
            client.fetch_tables([STOCK_1D])
        assert client.stats["failures"] == 1
    err = info.value
    assert err.attempts == 3 and len(stub.requests) == 3
    assert stub.url in str(err) and STOCK_1D.name in str(err)
    assert "3 attempts" in str(err) and "HTTP 503" in str(err)


def test_credentials_in_the_url_go_to_an_auth_header_never_to_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    with Stub(lambda p, n: (503, "down")) as stub:
        url = stub.url.replace("http://", "http://user:s3cr3t@")
        with fast_client(url, max_attempts=2) as client, pytest.raises(RetriesExhaustedError) as e:
            client.fetch_tables([STOCK_1D])
    assert "s3cr3t" not in str(e.value) and "s3cr3t" not in caplog.text
    assert stub.headers[0]["Authorization"].startswith("Basic ")


def test_settings_come_from_the_environment_with_clear_errors():
    env = {"FINDATA_EASTMONEY_URL": "http://127.0.0.1:1/x", "FINDATA_EASTMONEY_CONCURRENCY": "7",
           "FINDATA_EASTMONEY_MIN_INTERVAL_MS": "250"}
    with EastmoneyResource.from_settings(EastmoneySettings.from_env(env)).get_client() as client:
        assert (client.base_url, client.concurrency, client.min_interval_s) == (
            "http://127.0.0.1:1/x", 7, 0.25)
    with EastmoneyResource.from_settings(EastmoneySettings.from_env({})).get_client() as client:
        assert (client.base_url, client.concurrency, client.min_interval_s) == (
            catalog.API_URL, 4, 0)
    for name, bad in (("FINDATA_EASTMONEY_CONCURRENCY", "four"),
                      ("FINDATA_EASTMONEY_CONCURRENCY", "0"),
                      ("FINDATA_EASTMONEY_MIN_INTERVAL_MS", "-5")):
        with pytest.raises(ValueError, match=name):
            EastmoneySettings.from_env({name: bad})


def _two_threads(url: str, specs_a, specs_b, **kw) -> list:
    """fetch_tables from two threads at once, each with its own client (as the CLI does)."""
    results, errors = [], []

    def run(specs):
        try:
            with fast_client(url, **kw) as client:
                results.append(client.fetch_tables(specs))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (specs_a, specs_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_concurrency_limit_is_process_wide_across_threads():
    codes = universe(450)
    stocks = [catalog.table("stock", m, "1d") for m in ("star", "chinext", "sh_a")]
    sectors = [catalog.table("sector", b, "1d") for b in catalog.BOARDS]
    with Stub(serve(codes), latency_s=0.05) as stub:
        results = _two_threads(stub.url, stocks, sectors, concurrency=3)
    # star is a term of sh_a: passes over SH main, STAR, ChiNext and the 3 boards, 5 pages
    # each, plus one pz=1 request for sh_a's own total
    assert len(stub.requests) == 6 * 5 + 1 and all(len(r) == 3 for r in results)
    # each client alone would allow 3; together they must still stay at 3
    assert stub.max_in_flight == 3


def test_minimum_interval_is_process_wide_across_threads():
    stocks = [catalog.table("stock", m, "1d") for m in ("star", "chinext")]
    sectors = [catalog.table("sector", b, "1d") for b in ("industry", "region")]
    with Stub(serve(universe(250))) as stub:
        _two_threads(stub.url, stocks, sectors, concurrency=4, min_interval_s=0.04)
    gaps = [b - a for a, b in zip(stub.arrivals, stub.arrivals[1:])]
    assert len(stub.arrivals) == 12
    # the gate spaces the starts; an arrival delayed by the loaded machine shortens the next gap
    # (seen: 29.9 ms), so each gap gets slack and the whole sequence none to speak of
    assert min(gaps) >= 0.02, gaps
    assert stub.arrivals[-1] - stub.arrivals[0] >= 11 * 0.04 * 0.97, gaps


def test_trade_date_falls_back_to_fetch_date_without_timestamps(caplog):
    def respond(params, n):
        payload = json.loads(page_body(params, universe(5)))
        for row in payload["data"]["diff"]:
            row["f124"] = "-"
        return 200, json.dumps(payload)

    caplog.set_level(logging.WARNING, logger="findata.eastmoney")
    with Stub(respond) as stub, fast_client(stub.url) as client:
        snap = client.fetch_tables([STOCK_1D])[STOCK_1D.name]
    assert snap.trade_date_fallback and snap.updated_at is None
    # not the fetch date: the latest trading day at the fetch (a weekend run: the Friday)
    assert snap.trade_date == latest_trading_day(snap.fetched_at)
    assert snap.fetched_at.tzinfo is not None
    assert "no row carries a usable f124" in caplog.text
    assert Snapshot.from_json(json.loads(json.dumps(snap.to_json()))) == snap


def test_http_403_is_not_retried():
    with Stub(lambda p, n: (403, "forbidden")) as stub, fast_client(stub.url) as client:
        with pytest.raises(EastmoneyError, match="HTTP 403"):
            client.fetch_tables([STOCK_1D])
    assert len(stub.requests) == 1


# --- against the project's fake server -------------------------------------------------------

FAKE_TRADE_DATE = date(2025, 10, 27)
PAGE_CAP = 100  # what the fake (like the real API) serves per page


def _groups(specs):
    by_group = {}
    for spec in specs:
        by_group.setdefault((spec.kind, spec.group.key), spec)
    return list(by_group.values())


def expected_requests(srv, specs) -> int:
    """The full catalog's plan, from the fake's own row counts: the 8 stock markets overlap, so
    each of the 7 board terms is paged once, plus one pz=1 total per multi-term market (4);
    each of the 3 sector types is paged once."""
    assert {s.name for s in specs} == {s.name for s in catalog.ALL_TABLES}
    stock_terms = {t for m in catalog.MARKETS.values() for t in m.fs.split(",")}
    assert len(stock_terms) == 7
    pages = sum(max(1, math.ceil(len(srv.universe.select(t)) / PAGE_CAP)) for t in stock_terms)
    probes = sum(1 for m in catalog.MARKETS.values() if "," in m.fs)
    assert probes == 4
    pages += sum(max(1, math.ceil(len(srv.universe.select(b.fs)) / PAGE_CAP))
                 for b in catalog.BOARDS.values())
    return pages + probes


def by_code(rows):
    return {r["f12"]: r for r in rows}


def assert_equal_to_fake(srv, snaps, specs):
    for spec in specs:
        snap, expected = snaps[spec.name], srv.expected_rows(spec)
        assert len(snap.rows) == snap.total == len(expected), spec.name
        assert by_code(snap.rows) == by_code(expected), spec.name
        assert snap.trade_date == FAKE_TRADE_DATE and not snap.trade_date_fallback, spec.name


@pytest.fixture
def fake(request):
    kw = dict(seed=7, scale=0.1, frozen=True, trade_date=FAKE_TRADE_DATE)
    kw |= getattr(request, "param", {})
    with FakeEastmoneyServer(host="127.0.0.1", port=0, **kw) as srv:
        yield srv


def test_all_41_tables_complete_and_equal_to_the_fake(fake):
    with fast_client(fake.url, concurrency=8) as client:
        snaps = client.fetch_tables(catalog.ALL_TABLES)
        stats = client.stats
    assert set(snaps) == {s.name for s in catalog.ALL_TABLES}
    assert_equal_to_fake(fake, snaps, catalog.ALL_TABLES)
    expected = expected_requests(fake, catalog.ALL_TABLES)
    assert fake.request_count == expected
    # a connect retry never reaches the server; the client still counts it as an attempt
    assert stats["requests"] - stats["retries"] == expected
    for spec in catalog.ALL_TABLES:
        rows = typed_rows(spec, snaps[spec.name])
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(r["trade_date"] == FAKE_TRADE_DATE for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("fake", [{"scale": 1.0}], indirect=True)
def test_full_refresh_at_scale_1_is_complete_with_the_expected_request_count(fake):
    started = time.monotonic()
    with fast_client(fake.url, concurrency=8, read_timeout_s=15) as client:
        snaps = client.fetch_tables(catalog.ALL_TABLES)
    elapsed = time.monotonic() - started
    assert_equal_to_fake(fake, snaps, catalog.ALL_TABLES)
    groups = _groups(catalog.ALL_TABLES)
    assert len(groups) == 11
    expected = expected_requests(fake, catalog.ALL_TABLES)
    # exactly the planned pages; on a loaded machine a late page may also get its hedged
    # duplicate (or a retry), which the client counts: CI once saw 68 for 66 planned
    stats = client.stats
    assert fake.request_count == stats["requests"]
    assert fake.request_count - stats["hedges"] - stats["retries"] == expected, stats
    # 全部股票 is every term plus its own total; the other 3 unions' totals are one request each
    union = snaps["stock_flow_all_1d"]
    assert union.fetched_by == catalog.MARKETS["all"].fs.split(",")
    sector_requests = sum(snaps[f"sector_flow_{b}_1d"].requests - snaps[f"sector_flow_{b}_1d"]
                          .hedges for b in catalog.BOARDS)
    assert union.requests - union.hedges == expected - sector_requests - 3
    star = snaps["stock_flow_star_1d"]
    assert star.requests == math.ceil(len(fake.universe.select(catalog.MARKETS["star"].fs)) / PAGE_CAP)
    print(f"scale 1.0: {expected} requests, {elapsed:.2f}s")


def test_data_from_the_bundled_fake_is_marked_synthetic(fake, caplog):
    with fast_client(fake.url) as client:
        snaps = client.fetch_tables([STOCK_1D])
    assert snaps[STOCK_1D.name].synthetic
    assert "SYNTHETIC" in caplog.text


def test_values_moving_during_paging_do_not_change_the_set_of_codes(fake):
    frozen = {s.name: set(by_code(fake.expected_rows(s))) for s in catalog.ALL_TABLES}
    frozen_values = {s.name: by_code(fake.expected_rows(s)) for s in catalog.ALL_TABLES}
    fake.freeze(False)
    fake.set_now(datetime(2025, 10, 27, 10, 30, tzinfo=SHANGHAI))  # in session: values move
    with fast_client(fake.url, concurrency=4) as client:
        snaps = client.fetch_tables(catalog.ALL_TABLES)
    for spec in catalog.ALL_TABLES:
        rows = snaps[spec.name].rows
        assert len(rows) == len(frozen[spec.name]), spec.name
        assert set(by_code(rows)) == frozen[spec.name], spec.name
    # the drift was real: some values differ from the frozen picture
    assert any(by_code(snaps[s.name].rows) != frozen_values[s.name] for s in catalog.ALL_TABLES)


def test_all_41_tables_complete_under_a_20_percent_fault_rate(fake):
    expected = {s.name: by_code(fake.expected_rows(s)) for s in catalog.ALL_TABLES}
    fake.set_faults(0.2)  # every fault kind the fake knows
    with fast_client(fake.url, concurrency=8, max_attempts=10, read_timeout_s=0.5) as client:
        for _ in range(2):  # two refreshes: more requests, more kinds of faults
            snaps = client.fetch_tables(catalog.ALL_TABLES)
            for spec in catalog.ALL_TABLES:
                assert by_code(snaps[spec.name].rows) == expected[spec.name], spec.name
        stats = client.stats
    served = sum(fake.faults_served.values())
    assert served >= 10 and len(fake.faults_served) >= 5, fake.faults_served
    # each fault is retried or overtaken by the hedge of a late page, except a null page on a
    # term that may be empty: that one is taken at its word and caught by the table's total,
    # which refetches the table instead
    nulls = fake.faults_served.get("null", 0)
    handled = stats["retries"] + stats["hedges_won"]
    assert handled >= served - nulls and stats["failures"] == 0, (stats, fake.faults_served)
    assert handled >= served or stats["refetches"] >= 1, (stats, fake.faults_served)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_retried_to_a_complete_table(fake, kind):
    spec = catalog.table("stock", "all", "1d")
    expected = by_code(fake.expected_rows(spec))
    fake.set_faults(0.4, kinds=[kind])
    with fast_client(fake.url, max_attempts=12, read_timeout_s=0.3) as client:
        snap = client.fetch_tables([spec])[spec.name]
        stats = client.stats
    assert by_code(snap.rows) == expected
    assert fake.faults_served.get(kind, 0) >= 1
    assert stats["retries"] + stats["hedges_won"] >= fake.faults_served[kind], stats


def test_concurrency_limit_holds_across_threads_against_the_fake(fake):
    fake.set_latency(40)
    results = _two_threads(fake.url, catalog.STOCK_TABLES, catalog.SECTOR_TABLES, concurrency=3)
    assert len(results[0]) + len(results[1]) == 41
    assert fake.max_in_flight == 3


def test_fault_rate_1_exhausts_the_retry_budget_with_a_clear_error(fake):
    fake.set_faults(1.0)
    with fast_client(fake.url, max_attempts=3, read_timeout_s=0.5) as client:
        with pytest.raises(RetriesExhaustedError) as info:
            client.fetch_tables([STOCK_1D])
    message = str(info.value)
    assert info.value.attempts == 3 and "3 attempts" in message
    assert STOCK_1D.name in message and "127.0.0.1" in message and "last error" in message


def test_the_shared_tls_context_verifies_certificates_and_follows_ssl_cert_file(monkeypatch):
    """One TLS context per process (its CA bundle loads once), still verifying the server."""
    import ssl
    import threading

    import certifi

    from findata_assets.eastmoney.client import tls_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    shared = tls_context()
    assert shared is tls_context()
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # the operator's own CA bundle
    assert tls_context() is not shared and tls_context().verify_mode == ssl.CERT_REQUIRED
    monkeypatch.delenv("SSL_CERT_FILE")
    # another thread (the CLI's side-by-side runs) has its own: httpcore sets ALPN per connection
    other = []
    thread = threading.Thread(target=lambda: other.append(tls_context()))
    thread.start()
    thread.join()
    assert other[0] is not shared and tls_context() is shared


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_unloadable_ca_certificates_fail_at_once_naming_the_setting(monkeypatch, tmp_path,
                                                                    content):
    from findata_assets.eastmoney.client import tls_context
    from findata_assets.eastmoney.errors import PERMANENT, CertificateSettingError

    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    with pytest.raises(CertificateSettingError) as caught:
        tls_context()
    message = str(caught.value)
    assert f"SSL_CERT_FILE={path}" in message and "fix or unset" in message
    assert "\n" not in message and isinstance(caught.value, PERMANENT)  # no crawl retry
