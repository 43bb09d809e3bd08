"""The client against what the real API does and our first fake did not (issue 10), over real
HTTP with the fake: board terms that select nothing or overlap, the trade date at chosen instants
of the XSHG calendar, stray f124 values, and URLs that are not the API."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from findata_assets.defs.refresh.policies import POLICIES
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.client import EastmoneyClient
from findata_assets.eastmoney.errors import (
    EmptyTermError, EndpointError, RetriesExhaustedError, TradeDateError)
from findata_assets.eastmoney.snapshot import SHANGHAI

SME_TERM = "m:0+t:13+f:!2"
LAYOUTS = ("current", "legacy", "overlap")


def client(url: str, **kw) -> EastmoneyClient:
    opts = dict(concurrency=8, max_attempts=3, read_timeout_s=2, backoff_base_s=0.01,
                max_backoff_s=0.05)
    return EastmoneyClient(url, **(opts | kw))


def policy_tables(name: str) -> list[catalog.TableSpec]:
    policy = POLICIES[name]
    return ([catalog.table_for_partition("stock", k) for k in policy.stock_partitions]
            + [catalog.table_for_partition("sector", k) for k in policy.sector_partitions])


@pytest.fixture
def make_fake(start_fake_eastmoney):
    return lambda **kw: start_fake_eastmoney(**(dict(seed=5, scale=0.1, frozen=True) | kw))


# --- board terms --------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("policy", ["full", "incremental", "quick"])
def test_every_policy_gives_complete_tables_equal_to_the_api_count_in_every_layout(
        make_fake, layout, policy):
    srv = make_fake(board_layout=layout)
    specs = policy_tables(policy)
    with client(srv.url) as c:
        snaps = c.fetch_tables(specs)
    for spec in specs:
        snap, expected = snaps[spec.name], srv.expected_rows(spec)
        codes = [r["f12"] for r in snap.rows]
        # the API's own count for the market's whole fs, each code once
        api_total = len(srv.universe.select(spec.group.fs))
        assert snap.total == api_total == len(codes) == len(set(codes)), spec.name
        assert {r["f12"]: r for r in snap.rows} == {r["f12"]: r for r in expected}, spec.name
    sz_a = snaps.get("stock_flow_sz_a_1d")
    if sz_a is not None:  # paged per term in full/incremental: t:13 empty only today
        assert sz_a.empty_terms == ([SME_TERM] if layout == "current" else [])


def test_a_term_answering_null_while_the_market_counts_its_rows_names_term_and_shortfall(
        make_fake):
    srv = make_fake(board_layout="legacy")  # t:13 lists the 002xxx stocks...
    srv.null_filters = {SME_TERM}  # ...but answers data: null, as a throttled client sees
    missing = len(srv.universe.select(SME_TERM))
    started = time.monotonic()
    with client(srv.url) as c, pytest.raises(EmptyTermError) as info:
        c.fetch_tables(policy_tables("incremental"))
    message = str(info.value)
    assert SME_TERM in message and f"{missing} rows missing" in message
    assert "answered data: null" in message and "after 3 fetch(es)" in message
    assert info.value.missing == missing and "\n" not in message
    assert time.monotonic() - started < 10
    # retried: the term was asked again on every fetch round
    assert c.stats["refetches"] >= 2


def test_a_lone_market_answering_null_is_retried_and_never_stored_as_empty(make_fake):
    srv = make_fake()
    star = catalog.MARKETS["star"].fs
    srv.null_filters = {star}  # no other market's total can vouch for an empty STAR board
    with client(srv.url) as c, pytest.raises(RetriesExhaustedError, match="data: null"):
        c.fetch_tables([catalog.table("stock", "star", "1d")])
    assert c.stats["retries"] >= 2


# --- the trade date at chosen instants ------------------------------------------------------------

@pytest.mark.parametrize("now,expected", [
    ((2026, 11, 30, 10, 30), (2026, 11, 30)),  # a trading morning (Monday)
    ((2026, 11, 30, 12, 10), (2026, 11, 30)),  # lunch
    ((2026, 11, 30, 16, 0), (2026, 11, 30)),   # after the close
    ((2026, 11, 30, 8, 0), (2026, 11, 27)),    # 08:00 before the open: Friday's session
    ((2026, 11, 29, 11, 0), (2026, 11, 27)),   # Sunday
    ((2026, 10, 5, 10, 0), (2026, 9, 30)),     # National Day week
])
def test_the_trade_date_follows_the_fake_calendar_at_chosen_instants(make_fake, now, expected):
    srv = make_fake(trade_date=None, now=dt.datetime(*now, tzinfo=SHANGHAI))
    with client(srv.url) as c:
        snaps = c.fetch_tables(policy_tables("quick"))
    snap = snaps["stock_flow_all_1d"]
    assert snap.trade_date == dt.date(*expected) and not snap.trade_date_fallback
    assert snap.updated_at.date() == dt.date(*expected) and snap.stray_updates == 0


def test_a_holiday_refresh_stores_the_last_session_once_and_a_second_adds_nothing_new(make_fake):
    srv = make_fake(trade_date=None, frozen=False, now=dt.datetime(2026, 10, 5, 10, 0,
                                                                   tzinfo=SHANGHAI))
    with client(srv.url) as c:
        first = c.fetch_tables(policy_tables("quick"))["stock_flow_all_1d"]
        second = c.fetch_tables(policy_tables("quick"))["stock_flow_all_1d"]
    assert first.trade_date == second.trade_date == dt.date(2026, 9, 30)
    assert first.rows == second.rows  # closed: the values stand still although not frozen


def test_a_stray_future_f124_does_not_move_the_date_and_is_counted(make_fake):
    srv = make_fake(trade_date=None, now=dt.datetime(2026, 11, 27, 10, 30, tzinfo=SHANGHAI))
    stock = srv.expected_rows(catalog.table("stock", "all", "1d"))[3]["f12"]
    tomorrow = int((dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).timestamp())
    srv.set_overrides([(stock, "f124", tomorrow)])
    with client(srv.url) as c:
        snap = c.fetch_tables(policy_tables("quick"))["stock_flow_all_1d"]
    assert snap.trade_date == dt.date(2026, 11, 27) and snap.stray_updates == 1
    assert snap.updated_at == dt.datetime(2026, 11, 27, 10, 30, tzinfo=SHANGHAI)


def test_data_dated_on_a_day_without_a_session_is_a_clear_error(make_fake):
    srv = make_fake(trade_date=dt.date(2026, 10, 1))  # the fake pinned to National Day
    with client(srv.url) as c, pytest.raises(TradeDateError) as info:
        c.fetch_tables(policy_tables("quick"))
    message = str(info.value)
    assert message.startswith("stock_flow_all_1d: the data's latest update (f124) is 2026-10-01")
    assert "not an XSHG trading day (National Day)" in message and "Not stored" in message


# --- URLs that are not the API ------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_404_path_fails_at_once_naming_the_setting_and_the_expected_shape(make_fake):
    srv = make_fake()
    wrong = srv.url.replace("/clist/get", "/clist/ge")
    started = time.monotonic()
    with client(wrong, max_attempts=5) as c, pytest.raises(EndpointError) as info:
        c.fetch_tables(policy_tables("full"))
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < 3, elapsed
    assert message == (f"HTTP 404 (not found: a wrong path) at {wrong}: check "
                       "FINDATA_EASTMONEY_URL (it should look like "
                       "https://push2.eastmoney.com/api/qt/clist/get)")
    assert srv.request_count == 0  # the fake counts only its API path: nothing reached it
    assert c.stats["retries"] == 0


def test_a_closed_port_is_retried_briefly_then_names_the_setting():
    url = f"http://127.0.0.1:{_free_port()}/api/qt/clist/get"
    started = time.monotonic()
    with client(url, max_attempts=50, backoff_base_s=0.2, max_backoff_s=10) as c, \
            pytest.raises(EndpointError) as info:
        c.fetch_tables(policy_tables("quick"))
    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 6, elapsed  # a few seconds, not minutes
    message = str(info.value)
    assert message.startswith("cannot connect (connection refused; ")
    assert f"at {url}: check FINDATA_EASTMONEY_URL" in message


def test_an_unknown_host_fails_at_once():
    started = time.monotonic()
    with client("http://no-such-host.invalid/api/qt/clist/get") as c, \
            pytest.raises(EndpointError, match="unknown host 'no-such-host.invalid'"):
        c.fetch_tables(policy_tables("quick"))
    assert time.monotonic() - started < 3


def test_a_page_that_is_not_the_api_fails_at_once(make_fake):
    srv = make_fake()
    stats = srv.url.replace("/api/qt/clist/get", "/_fake/stats")  # JSON, but not clist
    with client(stats) as c, pytest.raises(EndpointError, match="not the Eastmoney clist API"):
        c.fetch_tables(policy_tables("quick"))
    assert c.stats["requests"] == 1


def test_a_base_url_without_the_path_is_completed(make_fake):
    srv = make_fake()
    bare = srv.url.removesuffix("/api/qt/clist/get")
    with client(bare) as c:
        snap = c.fetch_tables(policy_tables("quick"))["stock_flow_all_1d"]
    assert snap.url == srv.url and snap.total == len(srv.universe.select(catalog.MARKETS["all"].fs))
