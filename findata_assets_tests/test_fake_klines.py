"""The fake's per-security daily fund-flow klines (`stock/fflow/daykline/get`) and its IP ban,
over real HTTP.

What /work/shared/eastmoney-api.md says the real endpoint does: the envelope and line format,
lines oldest first on trading days only, up to 120 ending at the last session, whose line equals
the 1d ranking; shorter series for suspended, halted and recently listed stocks and new boards;
`data: null` for an unknown or wrongly prefixed secid; the market pair as the sum of the stocks;
the identities between order classes; `lmt`; JSONP; and a ban that drops connections after too
many requests, until a cool-down passes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from zoneinfo import ZoneInfo

import httpx
import pytest

from findata_assets import trading_calendar
from findata_assets.eastmoney import catalog
from findata_assets.fake_eastmoney import FakeEastmoneyServer
from findata_assets.fake_eastmoney.klines import MARKET_SECID, kline_params

TRADE_DATE = dt.date(2025, 10, 27)
IN_SESSION = dt.datetime(2025, 10, 27, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
SCALE, SEED = 0.05, 11
FIELDS1, FIELDS2 = "f1,f2,f3,f7", ",".join(f"f{n}" for n in range(51, 66))
TODAY = catalog.PERIODS["1d"]
# a line's fields after the date, by the ranking's 1d field they equal (the facts' cross-walk)
LINE_FIELDS = ("f62", "f84", "f78", "f72", "f66", "f184", "f87", "f81", "f75", "f69", "f2", "f3")
RANKED_FS = [catalog.MARKETS["all"].fs, *(group.fs for group in catalog.BOARDS.values())]
WINDOW = trading_calendar.trading_days(TRADE_DATE - dt.timedelta(days=400), TRADE_DATE)[-120:]


def request(http: httpx.Client, srv: FakeEastmoneyServer, secid: str, **params) -> httpx.Response:
    query = {"lmt": 0, "klt": 101, "fields1": FIELDS1, "fields2": FIELDS2,
             "ut": "b2884a393a59ad64002292a3e90d46a5", "_": 1761550782000,
             **kline_params(secid), **params}
    return http.get(srv.kline_url, params=query)


def klines(http, srv, secid: str, **params) -> dict | None:
    r = request(http, srv, secid, **params)
    assert r.status_code == 200, (r.status_code, r.text[:200])
    body = r.json()
    assert body["rc"] == 0
    return body["data"]


def parse(line: str) -> tuple[dt.date, list[float]]:
    date, *values = line.split(",")
    return dt.date.fromisoformat(date), [float(v) for v in values]


def ranking(http, srv) -> dict[str, dict]:
    """Every ranked security's 1d row (fltt=2), by secid, paged by code."""
    rows = {}
    for fs in RANKED_FS:
        pn, total = 1, 1
        while (pn - 1) * 100 < total:
            data = http.get(srv.url, params=dict(fs=fs, fields=",".join(TODAY.fields) + ",f13",
                                                 fid="f12", po=0, pz=100, pn=pn, np=1,
                                                 fltt=2)).json()["data"]
            total, pn = data["total"], pn + 1
            rows.update({f"{r['f13']}.{r['f12']}": r for r in data["diff"]})
    return rows


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def fake():
    """A frozen server shared by the read-only tests: no test may change it."""
    with FakeEastmoneyServer("127.0.0.1", 0, seed=SEED, scale=SCALE, frozen=True,
                             trade_date=TRADE_DATE) as srv:
        yield srv


@pytest.fixture
def make_fake(start_fake_eastmoney):
    return lambda **kw: start_fake_eastmoney(
        **(dict(seed=SEED, scale=SCALE, frozen=True, trade_date=TRADE_DATE) | kw))


@pytest.fixture(scope="module")
def every_line(http, fake) -> dict[str, list[str]]:
    """The lines of every secid the fake serves, fetched over HTTP."""
    return {secid: klines(http, fake, secid)["klines"] for secid in fake.klines.secids()}


# --- format -----------------------------------------------------------------------------------

def test_envelope_and_line_format(http, fake):
    stock = fake.klines.of_kind("normal")[0]
    r = request(http, fake, stock)
    assert r.status_code == 200 and "synthetic" in r.headers["X-Fake-Data"]
    body = r.json()
    assert {"rc", "rt", "svr", "lt", "full", "dlmkts", "data"} <= set(body) and body["rc"] == 0
    data = body["data"]
    assert list(data) == ["code", "market", "name", "tradePeriods", "klines"]
    assert f"{data['market']}.{data['code']}" == stock and isinstance(data["market"], int)
    assert data["name"] == ranking(http, fake)[stock]["f14"]
    two = r"-?\d+\.\d\d"
    amount = r"-?\d+\.\d{1,2}"  # Python's repr of a float rounded to cents: 5.0, 5.1, 5.12
    pattern = re.compile(rf"\d{{4}}-\d\d-\d\d(,{amount}){{5}}(,{two}){{7}},0\.00,0\.00")
    for line in data["klines"]:
        assert pattern.fullmatch(line), line
    assert data["klines"] == fake.daily_lines(stock)


def test_days_are_the_last_120_trading_days_oldest_first(every_line):
    stock = next(s for s, lines in every_line.items() if s.startswith("0.") and len(lines) == 120)
    days = [parse(line)[0] for line in every_line[stock]]
    assert days == WINDOW and days[-1] == TRADE_DATE
    assert all(trading_calendar.is_trading_day(d) for d in days)
    for secid, lines in every_line.items():
        days = [parse(line)[0] for line in lines]
        assert days == sorted(set(days)) and set(days) <= set(WINDOW), secid
        assert 0 < len(days) <= 120, secid


# --- consistency with the ranking -------------------------------------------------------------

def assert_line_is_row(line: str, row: dict, secid: str) -> None:
    day, values = parse(line)
    assert day == TRADE_DATE, secid
    for field, value in zip(LINE_FIELDS, values):
        assert value == row[field], (secid, field, value, row[field])  # exactly the same float


def test_last_line_equals_the_1d_ranking_row(http, make_fake):
    srv = make_fake()
    rows = ranking(http, srv)
    traded = [s for s in srv.klines.secids() if s != MARKET_SECID
              and srv.klines.profile(s)["kind"] != "suspended"]
    assert any(s.startswith("90.") for s in traded) and len(traded) > 250
    for secid in traded:  # every stock and board that trades
        assert_line_is_row(klines(http, srv, secid)["klines"][-1], rows[secid], secid)
    before = {secid: klines(http, srv, secid)["klines"] for secid in traded[::25]}
    srv.advance(3)  # the ranking moves on a step: so does the last line, and only it
    moved = ranking(http, srv)
    for secid, old in before.items():
        lines = klines(http, srv, secid)["klines"]
        assert_line_is_row(lines[-1], moved[secid], secid)
        assert moved[secid]["f62"] != rows[secid]["f62"] and lines[:-1] == old[:-1], secid


def test_an_earlier_day_is_what_a_frozen_ranking_served_that_day(http, fake, make_fake):
    day = WINDOW[-30]
    then = ranking(http, make_fake(trade_date=day))
    for secid in fake.klines.of_kind("normal")[::20]:
        line = next(x for x in klines(http, fake, secid)["klines"] if x.startswith(str(day)))
        values = parse(line)[1]
        for field, value in zip(LINE_FIELDS[:10] + ("f3",), values[:10] + values[11:]):
            assert value == then[secid][field], (secid, field)


def test_live_session_line_is_served_only_with_the_flag(http, make_fake):
    closed_yesterday = trading_calendar.previous_trading_day(TRADE_DATE)
    srv = make_fake(trade_date=None, now=IN_SESSION)
    assert srv.trading()
    stock = srv.klines.of_kind("normal")[0]
    assert parse(klines(http, srv, stock)["klines"][-1])[0] == closed_yesterday
    live = make_fake(trade_date=None, now=IN_SESSION, kline_live_day=True, frozen=False)
    for _ in range(2):  # each ranking request moves a trading market a step on, klines do not
        page = http.get(live.url, params=dict(fs=catalog.MARKETS["sh_a"].fs.split(",")[0],
                                              fields=",".join(TODAY.fields) + ",f13",
                                              fid="f12", po=0, pz=100, np=1, fltt=2)).json()
        row = next(r for r in page["data"]["diff"] if f"{r['f13']}.{r['f12']}" == stock)
        assert_line_is_row(klines(http, live, stock)["klines"][-1], row, stock)
    assert live.stats()["step"] == 2


# --- shorter series ---------------------------------------------------------------------------

def test_suspended_stock_lacks_its_last_sessions(http, fake, every_line):
    rows = ranking(http, fake)
    suspended = fake.klines.of_kind("suspended")
    assert suspended
    for secid in suspended:
        k = fake.klines.profile(secid)["missing_last"]
        assert 1 <= k <= 15
        assert [parse(x)[0] for x in every_line[secid]] == WINDOW[:-k]
        assert rows[secid]["f62"] == "-"  # the ranking shows it suspended


def test_recently_listed_halted_and_new_boards_have_fewer_lines(fake, every_line):
    listed, halted = fake.klines.of_kind("listed"), fake.klines.of_kind("halted")
    boards = fake.klines.of_kind("new_board")
    assert listed and halted and boards
    for secid in listed:  # every session from its listing on
        days = [parse(x)[0] for x in every_line[secid]]
        assert len(days) < 120 and days == WINDOW[-len(days):]
    for secid in halted:  # one stretch of 1-5 sessions missing, never the last session
        days = [parse(x)[0] for x in every_line[secid]]
        missing = [WINDOW.index(d) for d in WINDOW if d not in days]
        assert days[-1] == TRADE_DATE and len(missing) <= fake.klines.profile(secid)["length"]
        assert missing == list(range(min(missing, default=0), max(missing, default=-1) + 1))
    assert any(len(every_line[s]) < 120 for s in halted)
    for secid in boards:
        days = [parse(x)[0] for x in every_line[secid]]
        assert days == WINDOW[-fake.klines.profile(secid)["sessions"]:] and len(days) <= 2
    assert all(len(every_line[s]) == 120 for s in fake.klines.of_kind("normal"))
    assert fake.klines.listed_days(listed[0]) == [parse(x)[0] for x in every_line[listed[0]]]


def test_halts_stay_on_their_dates_and_never_hide_the_trade_date(http, fake, every_line,
                                                                  make_fake):
    srv = make_fake()
    checked = 0
    for secid in fake.klines.of_kind("halted"):
        missing = [d for d in WINDOW if d not in {parse(x)[0] for x in every_line[secid]}]
        if not missing:
            continue
        srv.set_trade_date(missing[-1])  # a trade date inside the stretch: it trades that day
        days = [parse(x)[0] for x in klines(http, srv, secid)["klines"]]
        assert days[-1] == missing[-1] and not set(missing[:-1]) & set(days), secid
        checked += 1
    assert checked


def test_unknown_or_wrongly_prefixed_secid_answers_data_null(http, fake):
    sh_stock = next(s for s in fake.klines.secids() if s.startswith("1."))
    board = next(s for s in fake.klines.secids() if s.startswith("90."))
    for secid in ("0." + sh_stock[2:], "1." + board[3:], "0." + board[3:], "1.999999",
                  "0.920001", "90.BK9999", "600000", "", "1.000001"):
        assert klines(http, fake, secid) is None, secid
    assert klines(http, fake, "1.000001", secid2="0.399002") is None
    assert klines(http, fake, sh_stock) is not None


# --- the market pair and the identities -------------------------------------------------------

def test_market_pair_is_the_sum_of_the_stocks(fake, every_line):
    market = every_line[MARKET_SECID]
    assert [parse(x)[0] for x in market] == WINDOW
    stocks = [s for s in every_line if s[:2] in ("0.", "1.") and s != MARKET_SECID]
    for k in (0, 60, 119):  # a day of its own draws, and the last session (the ranking's)
        day, values = parse(market[k])
        lines = [parse(x)[1] for s in stocks for x in every_line[s] if x.startswith(str(day))]
        assert len(lines) >= len(stocks) - 20
        for c in range(5):
            assert math.isclose(values[c], sum(v[c] for v in lines), abs_tol=0.05), (day, c)
    closes = [parse(x)[1] for x in market]
    for prev, cur in zip(closes, closes[1:]):
        assert 2900 < cur[10] < 3600 and 8500 < cur[12] < 11500  # SH composite, SZ component
        assert abs(cur[11] - (cur[10] / prev[10] - 1) * 100) <= 0.006
        assert abs(cur[13] - (cur[12] / prev[12] - 1) * 100) <= 0.006


def test_order_class_identities_hold_in_every_line(every_line):
    count = 0
    for secid, lines in every_line.items():
        # the market's amounts are sums of rounded cents: its identity holds to a few yuan
        cents = 2.0 if secid == MARKET_SECID else 0.011
        for line in lines:
            _, v = parse(line)
            main, small, medium, large, super_ = v[:5]
            assert abs(main - (large + super_)) < cents, (secid, line)  # 主力 = 大单 + 超大单
            assert abs(v[5] - (v[8] + v[9])) < 0.021, (secid, line)
            assert abs(v[5] + v[6] + v[7]) < 1.5, (secid, line)  # the classes net to about 0
            assert all(-100 <= p <= 100 for p in v[5:10]) and v[10] > 0
            count += 1
    assert count > 250 * 100


def test_closes_follow_the_changes(every_line):
    for secid in [s for s in every_line if s != MARKET_SECID][::10]:
        values = [parse(x)[1] for x in every_line[secid]]
        for prev, cur in zip(values, values[1:]):
            assert abs(cur[10] / (1 + cur[11] / 100) - prev[10]) <= 0.007, secid


# --- parameters -------------------------------------------------------------------------------

def test_lmt_serves_the_last_n_lines(http, fake):
    stock = fake.klines.of_kind("normal")[3]
    full = klines(http, fake, stock)["klines"]
    assert len(full) == 120
    for lmt, expected in ((1, full[-1:]), (5, full[-5:]), (120, full), (500, full), (0, full)):
        assert klines(http, fake, stock, lmt=lmt)["klines"] == expected, lmt
    assert request(http, fake, stock, lmt="many").json()["data"] is None
    assert klines(http, fake, stock, klt=1) is None  # the fake models daily lines only


def test_jsonp_wraps_the_answer(http, fake):
    stock = fake.klines.of_kind("normal")[1]
    r = request(http, fake, stock, cb="jQuery1123_1761550782000")
    assert r.headers["Content-Type"].startswith("application/javascript")
    assert r.text.startswith("jQuery1123_1761550782000(") and r.text.endswith(");")
    inner = httpx.Response(200, content=r.text[len("jQuery1123_1761550782000("):-2]).json()
    assert inner["data"]["klines"] == fake.daily_lines(stock)


def test_faults_latency_and_unknown_paths(http, make_fake):
    srv = make_fake(latency_ms=150)
    stock = srv.klines.of_kind("normal")[0]
    started = time.perf_counter()
    assert klines(http, srv, stock)["klines"]
    assert time.perf_counter() - started >= 0.15
    srv.set_latency(0)
    srv.set_faults(1.0, ["503"])
    assert request(http, srv, stock).status_code == 503 and srv.faults_served == {"503": 1}
    srv.set_faults(1.0, ["null"])
    assert klines(http, srv, stock) is None
    srv.set_faults(0.0)
    base = srv.url.split("/api/")[0]
    for path in ("/api/qt/stock/fflow/daykline/gets", "/api/qt/stock/fflow/daykline"):
        assert http.get(base + path, params={"secid": stock}).status_code == 404, path


# --- counting and the ban ---------------------------------------------------------------------

def test_kline_requests_are_counted_per_secid(http, make_fake):
    srv = make_fake()
    a, b = srv.klines.of_kind("normal")[:2]
    for secid in (a, a, b, MARKET_SECID, "1.999999"):
        request(http, srv, secid)
    assert srv.kline_requests == {a: 2, b: 1, MARKET_SECID: 1, "1.999999": 1}
    stats = http.get(srv.url.split("/api/")[0] + "/_fake/stats").json()
    assert stats["kline_requests"] == 5 and stats["kline_secids"] == 4
    assert stats["requests"] == srv.request_count == 0  # the ranking's own count
    srv.reset_counts()
    assert srv.kline_requests == {} and srv.stats()["kline_requests"] == 0


def test_ban_drops_connections_until_the_cool_down_passes(make_fake):
    srv = make_fake()
    stock = srv.klines.of_kind("normal")[0]
    srv.set_ban(5, window_s=30, cooldown_s=2.5)
    with httpx.Client(timeout=5) as client:
        for _ in range(3):
            assert request(client, srv, stock).status_code == 200
        assert client.get(srv.url, params=dict(fs="m:90+t:1", fields="f12", pz=5)).is_success
        assert request(client, srv, stock).status_code == 200  # the 5th API request: allowed
        banned_at = time.monotonic()  # just before the ban starts
        for _ in range(3):  # the 6th crosses the limit; the ban holds while it lasts
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                request(client, srv, stock)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # clist too: per IP
            client.get(srv.url, params=dict(fs="m:90+t:1", fields="f12", pz=5))
        stats = srv.stats()
        assert stats["bans_started"] == 1 and stats["banned"] == 4 and stats["banned_now"]
        assert srv.kline_requests == {stock: 7}  # counted as they arrive, answered or not
        time.sleep(max(0.0, banned_at + 3.0 - time.monotonic()))
        assert request(client, srv, stock).status_code == 200  # lifted
        assert srv.stats()["banned"] == 4 and not srv.stats()["banned_now"]


def test_ban_kind_empty_and_control(http, make_fake):
    srv = make_fake()
    stock = srv.klines.of_kind("normal")[0]
    control = srv.url.split("/api/")[0] + "/_fake/control"
    r = http.post(control, json={"ban": {"max_requests": 1, "window_s": 10, "cooldown_s": 30,
                                         "kind": "empty"}})
    assert r.status_code == 200 and r.json()["ban"]["kind"] == "empty"
    assert request(http, srv, stock).status_code == 200
    empty = request(http, srv, stock)
    assert empty.status_code == 200 and empty.content == b""
    assert srv.stats()["bans_started"] == 1
    assert http.post(control, json={"ban": None}).json()["ban"] is None
    assert klines(http, srv, stock)["klines"]  # off: answered at once
    for bad in ({"ban": {"max_requests": 1, "kind": "teapot"}}, {"ban": {"limit": 3}},
                {"ban": "yes"}):
        assert http.post(control, json=bad).status_code == 400, bad
