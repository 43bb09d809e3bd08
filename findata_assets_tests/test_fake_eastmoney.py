"""The fake Eastmoney fund-flow API, over real HTTP on loopback.

What /work/shared/eastmoney-api.md says the real `clist/get` does, the fake must do: page cap,
paging, `np`, JSONP, `fields`, `fs`, `fltt`, `fid`/`po`, an empty page, the identities between
order classes, "-" for unknown values, determinism, trade date, drift, each fault kind, latency,
the admin endpoints and the CLI. Last, akshare's own fund-flow functions run against the fake.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from findata_assets.eastmoney import catalog
from findata_assets.fake_eastmoney import FakeEastmoneyServer
from findata_assets.fake_eastmoney.server import FAULT_KINDS, default_trade_date, update_stamp

SHANGHAI = ZoneInfo("Asia/Shanghai")
TRADE_DATE = dt.date(2025, 10, 27)
IN_SESSION = dt.datetime(2025, 10, 27, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # values drift
SCALE = 0.1
PAGE_CAP = 100  # the real API's page size since March 2025
ALL_FS = catalog.MARKETS["all"].fs
TODAY = catalog.PERIODS["1d"]
BOARD_FS = {key: group.fs for key, group in catalog.BOARDS.items()}
# Every period's value fields (price, change, the ten flow fields), for rows asked with all of them.
VALUE_FIELDS = {key: ["f2", *(p.columns[c] for c in p.columns if not c.startswith("top_"))]
                for key, p in catalog.PERIODS.items()}
ALL_FIELDS = sorted({f for p in catalog.PERIODS.values() for f in p.fields}, key=lambda f: int(f[1:]))

# One `fs` term per board: (term, allowed code prefixes, f13)
STOCK_TERMS = {
    "sh_main": ("m:1+t:2+f:!2", ("600", "601", "603", "605"), 1),
    "star": ("m:1+t:23+f:!2", ("688", "689"), 1),
    "sh_b": ("m:1+t:3+f:!2", ("900",), 1),
    "sz_main": ("m:0+t:6+f:!2", ("000", "001", "003"), 0),
    "sme": ("m:0+t:13+f:!2", ("002",), 0),
    "chinext": ("m:0+t:80+f:!2", ("300", "301"), 0),
    "sz_b": ("m:0+t:7+f:!2", ("200",), 0),
}


# --- helpers ----------------------------------------------------------------------------------

def num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def get(http: httpx.Client, srv: FakeEastmoneyServer, **params) -> dict:
    r = http.get(srv.url, params=params)
    assert r.status_code == 200, (r.status_code, r.text[:200])
    return r.json()


def fetch_all(http, srv, fs=ALL_FS, fields=TODAY.fields, fid="f12", po="0", pz=PAGE_CAP) -> tuple[int, list[dict]]:
    """Every page, the way a client pages: size from page 1, ceil(total / size) pages."""
    params = dict(fs=fs, fields=",".join(fields), fid=fid, po=po, pz=pz, np=1, fltt=2, invt=2)
    first = get(http, srv, pn=1, **params)["data"]
    if first is None:  # nothing selected
        return 0, []
    rows, size = list(first["diff"]), len(first["diff"])
    for pn in range(2, math.ceil(first["total"] / size) + 1):
        rows += get(http, srv, pn=pn, **params)["data"]["diff"]
    return first["total"], rows


def codes_of(rows) -> list[str]:
    return [r["f12"] for r in rows]


def by_code(rows) -> dict[str, dict]:
    return {r["f12"]: r for r in rows}


def shanghai_date(stamp: int) -> dt.date:
    return dt.datetime.fromtimestamp(stamp, SHANGHAI).date()


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def fake():
    """A frozen server shared by the read-only tests: no test may change it."""
    with FakeEastmoneyServer("127.0.0.1", 0, seed=11, scale=SCALE, frozen=True,
                             trade_date=TRADE_DATE) as srv:
        yield srv


@pytest.fixture
def make_fake(start_fake_eastmoney):
    """Fresh servers for tests that change settings; stopped afterwards."""
    return lambda **kw: start_fake_eastmoney(
        **(dict(seed=11, scale=SCALE, frozen=True, trade_date=TRADE_DATE) | kw))


# --- paging -----------------------------------------------------------------------------------

def test_pz_is_capped_at_100_while_total_counts_every_row(http, fake):
    total, rows = fetch_all(http, fake)
    assert total > 3 * PAGE_CAP and len(rows) == total
    for pz in (500, 101, 10_000):
        data = get(http, fake, fs=ALL_FS, fields="f12", fid="f12", po=0, pz=pz, pn=1, fltt=2)["data"]
        assert len(data["diff"]) == PAGE_CAP and data["total"] == total
    small = get(http, fake, fs=ALL_FS, fields="f12", fid="f12", po=0, pz=37, pn=1, fltt=2)["data"]
    assert len(small["diff"]) == 37 and small["total"] == total
    # the last page holds the remainder
    last = get(http, fake, fs=ALL_FS, fields="f12", fid="f12", po=0, pz=PAGE_CAP,
               pn=math.ceil(total / PAGE_CAP), fltt=2)["data"]
    assert len(last["diff"]) == total - PAGE_CAP * (math.ceil(total / PAGE_CAP) - 1)


def test_paging_by_code_visits_every_code_exactly_once(http, fake):
    total, rows = fetch_all(http, fake, po="0")
    codes = codes_of(rows)
    assert len(codes) == total == len(set(codes))
    assert codes == sorted(codes)
    _, other = fetch_all(http, fake, po="0", pz=37)  # any page size: the same codes, same order
    assert codes_of(other) == codes
    _, desc = fetch_all(http, fake, po="1")
    assert codes_of(desc) == codes[::-1]


def test_page_past_the_end_has_data_null(http, fake):
    total, _ = fetch_all(http, fake)
    for pn in (math.ceil(total / PAGE_CAP) + 1, 1000):
        body = get(http, fake, fs=ALL_FS, fields="f12", fid="f12", po=0, pz=PAGE_CAP, pn=pn, fltt=2)
        assert body["rc"] == 0 and body["data"] is None
    assert get(http, fake, fs="m:5+t:99", fields="f12", pn=1, pz=10, fltt=2)["data"] is None


# --- response shape ---------------------------------------------------------------------------

def test_np2_gives_a_dict_keyed_by_position(http, fake):
    params = dict(fs=ALL_FS, fields=",".join(TODAY.fields), fid="f12", po=0, pz=100, pn=2, fltt=2)
    listed = get(http, fake, np=1, **params)["data"]
    keyed = get(http, fake, np=2, **params)["data"]
    assert isinstance(listed["diff"], list) and isinstance(keyed["diff"], dict)
    assert list(keyed["diff"]) == [str(i) for i in range(len(listed["diff"]))]
    assert list(keyed["diff"].values()) == listed["diff"]
    assert keyed["total"] == listed["total"]


def test_cb_wraps_the_json_as_jsonp(http, fake):
    params = dict(fs=BOARD_FS["industry"], fields=",".join(TODAY.fields), fid="f62", po=1,
                  pz=20, pn=1, np=1, fltt=2, ut="b2884a393a59ad64002292a3e90d46a5", invt=2)
    plain = http.get(fake.url, params=params)
    cb = "jQuery112309866508824573834_1761550782123"
    wrapped = http.get(fake.url, params=params | {"cb": cb, "_": "1761550782124"})
    assert wrapped.status_code == 200
    match = re.fullmatch(re.escape(cb) + r"\((.*)\);", wrapped.text, re.S)
    assert match, wrapped.text[:80]
    assert json.loads(match.group(1)) == plain.json()
    assert not plain.text.startswith(cb)


def test_fields_returns_exactly_the_asked_fields_in_ascending_numeric_order(http, fake):
    for asked in (["f62", "f3", "f124", "f12", "f2", "f184", "f14"],
                  ["f14", "f13", "f1", "f12", "f109", "f2", "f276", "f160"],
                  ["f183", "f12"]):
        rows = get(http, fake, fs=ALL_FS, fields=",".join(asked), fid="f12", po=0, pz=50, pn=1,
                   fltt=2)["data"]["diff"]
        expected = sorted(asked, key=lambda f: int(f[1:]))
        assert rows and all(list(r) == expected for r in rows), list(rows[0])


def test_top_stock_fields_bring_their_market_field_as_the_real_api_does(http, fake):
    """f204/f205 come with f206, f257/f258 with f259, f260/f261 with f262 (akshare relies on it)."""
    stocks = by_code(fetch_all(http, fake, fields=["f12", "f13", "f14"])[1])
    for period, extra in (("1d", "f206"), ("5d", "f259"), ("10d", "f262")):
        p = catalog.PERIODS[period]
        name_f, code_f = p.columns["top_stock_name"], p.columns["top_stock_code"]
        for fs in (BOARD_FS["industry"], ALL_FS):
            rows = get(http, fake, fs=fs, fields=",".join(p.fields), fid="f12", po=0, pz=100, pn=1,
                       fltt=2)["data"]["diff"]
            expected = sorted({*p.fields, extra}, key=lambda f: int(f[1:]))
            assert rows and all(list(r) == expected for r in rows), (period, list(rows[0]))
            boards_with_top = 0
            for r in rows:
                new_board = r[p.fid] == "-"  # too new for a multi-day figure: no top stock either
                if r["f12"].startswith("BK") and not new_board:  # its top stock is a real stock
                    top = stocks[r[code_f]]
                    assert (r[name_f], r[extra]) == (top["f14"], top["f13"])
                    assert top["f14"] and top["f13"] in (0, 1)
                    boards_with_top += 1
                else:
                    assert r[name_f] == r[code_f] == r[extra] == "-"
            assert boards_with_top > 0 or fs == ALL_FS


# --- fs ---------------------------------------------------------------------------------------

def test_fs_terms_select_the_right_boards_and_code_prefixes(http, make_fake):
    fake = make_fake(board_layout="legacy")  # every term selects its own board
    seen = {}
    for key, (term, prefixes, market) in STOCK_TERMS.items():
        total, rows = fetch_all(http, fake, fs=term, fields=["f12", "f13"])
        assert total == len(rows) > 0, key
        assert all(r["f12"].startswith(prefixes) and r["f13"] == market for r in rows), key
        assert {r["f12"][:3] for r in rows} == set(prefixes), key  # every prefix is used
        seen[key] = set(codes_of(rows))
    for key, fs in BOARD_FS.items():
        total, rows = fetch_all(http, fake, fs=fs, fields=["f12", "f13"])
        assert total == len(rows) > 0, key
        assert all(re.fullmatch(r"BK\d{4}", r["f12"]) and r["f13"] == 90 for r in rows), key
        seen[key] = set(codes_of(rows))
    sets = list(seen.values())
    assert sum(map(len, sets)) == len(set().union(*sets))  # no code in two boards


def test_board_layouts_t13_empty_by_default_old_layout_and_overlapping_terms(http, make_fake):
    sme, sz_main = STOCK_TERMS["sme"][0], STOCK_TERMS["sz_main"][0]
    sz_a = catalog.MARKETS["sz_a"].fs
    markets = {}
    for layout in ("current", "legacy", "overlap"):
        srv = make_fake(board_layout=layout)
        body = get(http, srv, fs=sme, fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
        t13 = set(codes_of(fetch_all(http, srv, fs=sme, fields=["f12"])[1]))
        t6 = set(codes_of(fetch_all(http, srv, fs=sz_main, fields=["f12"])[1]))
        total, rows = fetch_all(http, srv, fs=sz_a, fields=["f12"])
        assert total == len(rows) == len(set(codes_of(rows))), layout  # a code counts once
        markets[layout] = set(codes_of(rows))
        if layout == "current":  # today's real layout: 002xxx under t:6, t:13 selects nothing
            assert body == {**body, "rc": 0, "data": None}
            assert not t13 and any(c.startswith("002") for c in t6)
        elif layout == "legacy":
            assert t13 and all(c.startswith("002") for c in t13) and not t13 & t6
        else:  # the same 002xxx codes under both terms
            assert t13 and t13 <= t6 and all(c.startswith("002") for c in t13)
    assert markets["current"] == markets["legacy"] == markets["overlap"]


def test_fs_is_the_union_of_its_terms_and_plus_equals_space(http, fake):
    for group in catalog.MARKETS.values():
        union = set()
        for term in group.fs.split(","):
            union |= set(codes_of(fetch_all(http, fake, fs=term, fields=["f12"])[1]))
        plus = codes_of(fetch_all(http, fake, fs=group.fs, fields=["f12"])[1])
        space = codes_of(fetch_all(http, fake, fs=group.fs.replace("+", " "), fields=["f12"])[1])
        assert set(plus) == union and len(plus) == len(union), group.key
        assert space == plus, group.key
    # a literal '+' left unencoded in the URL is a space once decoded: the same rows again
    raw = http.get(f"{fake.url}?fs=m:0+t:80+f:!2&fields=f12&fid=f12&po=0&pz=100&pn=1&fltt=2")
    chinext = get(http, fake, fs="m:0+t:80+f:!2", fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
    assert raw.json()["data"] == chinext["data"] and chinext["data"]["total"] > 0
    # the all-stocks filter is every stock of the seven boards and no board
    everything = set(codes_of(fetch_all(http, fake, fs=ALL_FS, fields=["f12"])[1]))
    per_board = set().union(*(codes_of(fetch_all(http, fake, fs=t, fields=["f12"])[1])
                              for t, _, _ in STOCK_TERMS.values()))
    assert everything == per_board and not any(c.startswith("BK") for c in everything)


def test_filters_the_fake_does_not_know_select_nothing(http, fake):
    for fs in ("b:BK0477+f:!50", "m:1+t:2+x:9", "m:one", "", ","):
        body = get(http, fake, fs=fs, fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
        assert body["rc"] == 0 and body["data"] is None, fs
    # while the exclusion flag alone is accepted: it does not change what a term selects
    plain = get(http, fake, fs="m:0+t:7", fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
    flagged = get(http, fake, fs="m:0+t:7+f:!2", fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
    assert plain["data"] == flagged["data"] and plain["data"]["total"] > 0


# --- numbers ----------------------------------------------------------------------------------

def test_without_fltt2_numbers_are_integers_scaled_by_ten_to_f1(http, fake):
    fields = ["f1", *TODAY.fields, *VALUE_FIELDS["10d"]]
    params = dict(fs=ALL_FS, fields=",".join(fields), fid="f12", po=0, pz=100, pn=1, np=1)
    real = get(http, fake, fltt=2, **params)["data"]["diff"]
    scaled = get(http, fake, **params)["data"]["diff"]
    assert codes_of(real) == codes_of(scaled)
    compared = 0
    for r, s in zip(real, scaled):
        assert isinstance(s["f1"], int) and s["f1"] > 0 and s["f124"] == r["f124"]
        for f in VALUE_FIELDS["1d"] + VALUE_FIELDS["10d"]:
            if r[f] == "-":
                assert s[f] == "-"
                continue
            assert isinstance(s[f], int), (f, s[f])
            assert s[f] == round(r[f] * 10 ** s["f1"]), (f, r[f], s[f])
            compared += 1
    assert compared > 500
    # and with fltt=2 they are real decimals (a share of 1.88 means 1.88 %)
    assert any(isinstance(r["f184"], float) and r["f184"] != int(r["f184"]) for r in real)


def test_po_orders_by_fid_f62_descending_or_ascending_with_dashes_last(http, fake):
    fields = ["f12", "f62"]
    _, desc = fetch_all(http, fake, fields=fields, fid="f62", po="1")
    _, asc = fetch_all(http, fake, fields=fields, fid="f62", po="0")
    for rows, sign in ((desc, -1), (asc, 1)):
        values = [r["f62"] for r in rows]
        known = [v for v in values if v != "-"]
        assert values[:len(known)] == known, "'-' rows come last"
        assert len(known) < len(values)  # there are '-' rows to place
        assert known == sorted(known, key=lambda v: sign * v)
        assert len(set(codes_of(rows))) == len(rows)
    assert [r["f62"] for r in desc if r["f62"] != "-"] == \
        [r["f62"] for r in asc if r["f62"] != "-"][::-1]
    assert set(codes_of(desc)) == set(codes_of(asc))


@pytest.mark.parametrize("fid", ["f12", "f14", "f13", "f2", "f3", "f124", "f184", "f275", "f205"])
def test_fid_sorts_on_any_field(http, fake, fid):
    """Strings (code, name, top stock) in string order, numbers numerically; "-" last."""
    fs = ALL_FS + "," + ",".join(BOARD_FS.values())
    fields = ["f12", fid]
    for po, reverse in (("0", False), ("1", True)):
        total, rows = fetch_all(http, fake, fs=fs, fields=fields, fid=fid, po=po)
        assert len(rows) == total == len(set(codes_of(rows)))
        values = [r[fid] for r in rows]
        known = [v for v in values if v != "-"]
        assert values[:len(known)] == known, "'-' rows come last"
        assert known == sorted(known, reverse=reverse), (fid, po)
        assert len(set(map(str, known))) > 1, fid  # there was something to sort


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "drifting"])
def test_order_classes_add_up_and_shares_are_percentages(http, make_fake, frozen):
    srv = make_fake(frozen=frozen, seed=23, now=IN_SESSION)
    srv.advance(3)
    checked = {p: 0 for p in catalog.PERIODS}
    not_exact = {p: 0 for p in catalog.PERIODS}
    rows = fetch_all(http, srv, fields=ALL_FIELDS)[1]
    for fs in BOARD_FS.values():
        rows += fetch_all(http, srv, fs=fs, fields=ALL_FIELDS)[1]
    for r in rows:
        for key, p in catalog.PERIODS.items():
            c = {name: r[code] for name, code in p.columns.items() if not name.startswith("top_")}
            if c["main_net"] == "-":
                continue
            assert all(num(v) for v in c.values()), (r["f12"], key, c)
            assert all(round(v, 2) == v for v in c.values()), (r["f12"], key, c)  # 2 decimals
            assert abs(c["main_net"] - (c["super_large_net"] + c["large_net"])) <= 0.011, (r["f12"], key)
            classes = (c["super_large_net"], c["large_net"], c["medium_net"], c["small_net"])
            shares = (c["super_large_pct"], c["large_pct"], c["medium_pct"], c["small_pct"])
            # about zero, not exactly: a real row nets out to a fraction of a percent of its
            # turnover (-29 M yuan on 2.9 B of super-large orders in the recorded row)
            assert abs(sum(shares)) <= 1.2, (r["f12"], key, classes, shares)
            not_exact[key] += abs(sum(classes)) > 1.0
            for name in ("main_pct", "super_large_pct", "large_pct", "medium_pct", "small_pct"):
                assert -100 <= c[name] <= 100, (r["f12"], key, name, c[name])
            # a share has the sign of its amount (both are the same flow over the same turnover)
            assert c["main_pct"] * c["main_net"] >= 0, (r["f12"], key)
            checked[key] += 1
    assert all(n > 300 for n in checked.values()), checked
    assert all(not_exact[p] > 0.9 * checked[p] for p in checked), (not_exact, checked)


def test_suspended_stocks_are_dash_in_every_value_field(http, fake):
    total, rows = fetch_all(http, fake, fields=ALL_FIELDS)
    value_fields = sorted({f for fs in VALUE_FIELDS.values() for f in fs})
    dashed = [r for r in rows if r["f62"] == "-"]
    assert 0 < len(dashed) < 0.1 * total, len(dashed)
    for r in dashed:
        assert all(r[f] == "-" for f in value_fields), r
        assert r["f12"] and r["f14"] and num(r["f124"])  # code, name, update time stay
    for r in rows:
        if r["f62"] != "-":
            assert all(num(r[f]) for f in value_fields), r


def test_new_boards_have_today_but_no_multi_day_values(http, fake):
    rows = []
    for fs in BOARD_FS.values():
        rows += fetch_all(http, fake, fs=fs, fields=ALL_FIELDS)[1]
    multi_day = [f for key in ("3d", "5d", "10d") for f in VALUE_FIELDS[key] if f != "f2"]
    new = [r for r in rows if r["f164"] == "-"]
    assert 0 < len(new) < 0.15 * len(rows), len(new)
    for r in new:
        assert all(num(r[f]) for f in VALUE_FIELDS["1d"]) and num(r["f124"]), r
        assert num(r["f204"]) is False and r["f204"] != "-", r  # today's top stock is known
        assert all(r[f] == "-" for f in multi_day + ["f257", "f258", "f260", "f261"]), r
    assert all(r["f62"] != "-" for r in rows)  # a board is never suspended


def test_expected_rows_are_what_every_table_serves_and_f124_is_the_trade_date(http, fake):
    for spec in catalog.ALL_TABLES:
        expected = fake.expected_rows(spec)
        total, served = fetch_all(http, fake, fs=spec.group.fs, fields=spec.period.fields)
        assert total == len(expected) > 0, spec.name
        # the HTTP rows also carry the top stock's market field the API adds (f206/f259/f262)
        assert [{f: r[f] for f in spec.period.fields} for r in served] == expected, spec.name
        assert all(list(r) == sorted(spec.period.fields, key=lambda f: int(f[1:])) for r in expected)
        assert shanghai_date(max(r["f124"] for r in expected)) == TRADE_DATE, spec.name


def test_a_tiny_scale_keeps_every_board_and_a_trading_stock_in_each(make_fake):
    srv = make_fake(scale=0.001, seed=3)
    for spec in catalog.ALL_TABLES:
        rows = srv.expected_rows(spec)
        assert rows, spec.name
        assert shanghai_date(max(r["f124"] for r in rows)) == TRADE_DATE, spec.name
        assert any(r[spec.period.fid] != "-" for r in rows) or spec.period.key != "1d", spec.name


# --- determinism, trade date, drift -----------------------------------------------------------

def test_same_seed_same_rows_different_seed_different_rows(http, make_fake):
    a, b, c = make_fake(seed=5), make_fake(seed=5), make_fake(seed=6)
    fields = ALL_FIELDS
    rows_a, rows_b, rows_c = (fetch_all(http, s, fields=fields)[1] for s in (a, b, c))
    boards_a, boards_b = (fetch_all(http, s, fs=BOARD_FS["concept"], fields=fields)[1] for s in (a, b))
    assert rows_a == rows_b and boards_a == boards_b
    assert rows_a != rows_c
    assert codes_of(rows_a) != codes_of(rows_c)  # a different universe, not just other values


def test_set_trade_date_changes_f124_date_and_the_values(http, make_fake):
    srv = make_fake()
    before = by_code(fetch_all(http, srv, fields=ALL_FIELDS)[1])
    other = dt.date(2025, 9, 12)
    srv.set_trade_date(other)
    assert srv.trade_date == other
    after = by_code(fetch_all(http, srv, fields=ALL_FIELDS)[1])
    assert set(after) == set(before)  # the same securities, other values
    for rows, day in ((before, TRADE_DATE), (after, other)):
        traded = [r for r in rows.values() if r["f62"] != "-"]
        assert traded and all(shanghai_date(r["f124"]) == day for r in traded), day
        # a suspended stock's last update is older than the session
        assert all(shanghai_date(r["f124"]) < day for r in rows.values() if r["f62"] == "-")
    changed = [c for c in before if before[c]["f62"] != "-" and before[c]["f62"] != after[c]["f62"]]
    assert len(changed) > 0.9 * len([c for c in before if before[c]["f62"] != "-"])
    srv.set_trade_date(TRADE_DATE)  # and back: the same values again
    assert by_code(fetch_all(http, srv, fields=ALL_FIELDS)[1]) == before


def test_f124_follows_the_session_clock_and_the_default_trade_date_follows_the_calendar():
    monday = dt.date(2025, 10, 27)

    def at(day, hh, mm):
        return dt.datetime.combine(day, dt.time(hh, mm), SHANGHAI)

    def stamp(day, now):
        return dt.datetime.fromtimestamp(update_stamp(day, now), SHANGHAI)

    assert stamp(monday, at(monday, 10, 30)) == at(monday, 10, 30)  # in session: the clock
    assert stamp(monday, at(monday, 14, 59)) == at(monday, 14, 59)
    assert stamp(monday, at(monday, 12, 10)) == at(monday, 11, 30)  # lunch: the morning's last
    assert stamp(monday, at(monday, 18, 0)) == at(monday, 15, 0)  # after the close: 15:00
    tuesday = monday + dt.timedelta(days=1)
    assert stamp(monday, at(tuesday, 10, 0)) == at(monday, 15, 0)  # an earlier trade date
    assert stamp(tuesday, at(monday, 10, 0)) == at(tuesday, 15, 0)
    friday = dt.date(2025, 10, 24)
    assert default_trade_date(at(dt.date(2025, 10, 26), 12, 0)) == friday  # Sunday
    assert default_trade_date(at(monday, 8, 0)) == friday  # before the auction: last session
    assert default_trade_date(at(monday, 9, 20)) == monday
    assert default_trade_date(at(tuesday, 23, 59)) == tuesday
    # exchange holidays, not just weekends: National Day 2025 closed Oct 1-8
    assert default_trade_date(at(dt.date(2025, 10, 3), 10, 0)) == dt.date(2025, 9, 30)
    assert default_trade_date(at(dt.date(2025, 10, 9), 8, 0)) == dt.date(2025, 9, 30)
    assert default_trade_date(at(dt.date(2025, 10, 9), 9, 15)) == dt.date(2025, 10, 9)


@pytest.mark.parametrize("now,trade_date,stamp", [
    ((2025, 10, 27, 10, 30), (2025, 10, 27), (2025, 10, 27, 10, 30)),  # trading morning
    ((2025, 10, 27, 12, 0), (2025, 10, 27), (2025, 10, 27, 11, 30)),   # lunch
    ((2025, 10, 27, 16, 0), (2025, 10, 27), (2025, 10, 27, 15, 0)),    # after the close
    ((2025, 10, 28, 8, 0), (2025, 10, 27), (2025, 10, 27, 15, 0)),     # before the open
    ((2025, 10, 25, 10, 0), (2025, 10, 24), (2025, 10, 24, 15, 0)),    # Saturday
    ((2025, 10, 3, 10, 0), (2025, 9, 30), (2025, 9, 30, 15, 0)),       # National Day
])
def test_the_served_session_follows_the_clock_and_the_calendar(http, make_fake, now, trade_date,
                                                               stamp):
    srv = make_fake(trade_date=None, frozen=False, now=dt.datetime(*now, tzinfo=SHANGHAI))
    trading = dt.date(*trade_date) == dt.date(*now[:3]) and stamp == now
    assert srv.trade_date == dt.date(*trade_date) and srv.trading() == trading
    first = by_code(fetch_all(http, srv, fields=["f12", "f62", "f124"])[1])
    active = [r for r in first.values() if r["f62"] != "-"]
    assert {r["f124"] for r in active} == {int(dt.datetime(*stamp, tzinfo=SHANGHAI).timestamp())}
    again = by_code(fetch_all(http, srv, fields=["f12", "f62", "f124"])[1])
    # closed: the last session's values stand still; trading: they move between requests
    assert (again != first) == trading


def test_unfrozen_the_same_page_differs_between_requests(http, make_fake):
    srv = make_fake(frozen=False, now=IN_SESSION)
    params = dict(fs=ALL_FS, fields="f12,f62", fid="f12", po=0, pz=100, pn=1, fltt=2)
    one, two = (get(http, srv, **params)["data"]["diff"] for _ in range(2))
    assert codes_of(one) == codes_of(two)
    assert any(x["f62"] != y["f62"] for x, y in zip(one, two) if x["f62"] != "-")
    srv.freeze()
    three, four = (get(http, srv, **params)["data"]["diff"] for _ in range(2))
    assert three == four


def test_drift_breaks_paging_by_f62_but_not_paging_by_code(http, make_fake):
    srv = make_fake(now=IN_SESSION)
    frozen_total, frozen_rows = fetch_all(http, srv, fields=["f12"])
    frozen_codes = set(codes_of(frozen_rows))
    assert len(frozen_codes) == frozen_total
    srv.freeze(False)
    broken = []
    for _ in range(5):
        total, rows = fetch_all(http, srv, fields=["f12", "f62"], fid="f62", po="1")
        codes = codes_of(rows)
        assert total == frozen_total
        duplicated = len(codes) - len(set(codes))
        missing = frozen_codes - set(codes)
        broken.append(duplicated > 0 or len(missing) > 0)
    assert any(broken), "paging by f62 under drift never repeated or missed a code"
    for _ in range(3):
        total, rows = fetch_all(http, srv, fields=["f12", "f62"], fid="f12", po="0")
        codes = codes_of(rows)
        assert len(codes) == len(set(codes)) == total and set(codes) == frozen_codes


# --- faults, latency, headers, admin ----------------------------------------------------------

@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_observable(make_fake, kind):
    srv = make_fake(scale=0.05, fault_timeout_s=1)
    srv.set_faults(1.0, [kind])
    params = dict(fs=ALL_FS, fields=",".join(TODAY.fields), fid="f12", po=0, pz=100, pn=1, fltt=2)
    with httpx.Client(timeout=0.3 if kind == "timeout" else 5) as client:
        if kind in ("500", "502", "503", "429"):
            assert client.get(srv.url, params=params).status_code == int(kind)
        elif kind == "timeout":
            with pytest.raises(httpx.ReadTimeout):
                client.get(srv.url, params=params)
        elif kind == "drop":
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                client.get(srv.url, params=params)
        elif kind == "truncate":
            with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
                client.get(srv.url, params=params)
        elif kind == "null":
            body = client.get(srv.url, params=params).json()
            assert body["rc"] == 0 and body["data"] is None
        elif kind == "rc":
            body = client.get(srv.url, params=params).json()
            assert body["rc"] != 0 and body["data"] is None
        else:
            pytest.fail(f"no check for fault kind {kind}")
    assert srv.faults_served == {kind: 1}
    srv.set_faults(0.0)
    with httpx.Client(timeout=5) as client:  # faults off: a normal page again
        r = client.get(srv.url, params=params)
        assert r.status_code == 200 and len(r.json()["data"]["diff"]) > 0
    with pytest.raises(ValueError):
        srv.set_faults(1.0, ["no-such-kind"])


def test_fault_rate_and_kinds_mix_as_asked(http, make_fake):
    srv = make_fake(seed=4)
    srv.set_faults(0.5, ["500", "null"])
    params = dict(fs=BOARD_FS["region"], fields="f12", fid="f12", po=0, pz=100, pn=1, fltt=2)
    statuses = [http.get(srv.url, params=params).status_code for _ in range(60)]
    assert set(srv.faults_served) == {"500", "null"}
    assert statuses.count(500) == srv.faults_served["500"]
    assert 15 <= sum(srv.faults_served.values()) <= 45


def test_latency_is_honoured(http, make_fake):
    srv = make_fake(latency_ms=200)
    params = dict(fs=BOARD_FS["region"], fields="f12", pz=10, pn=1, fltt=2)
    for expected_ms in (200, 350):
        srv.set_latency(expected_ms)
        started = time.perf_counter()
        get(http, srv, **params)
        assert time.perf_counter() - started >= expected_ms / 1000
    srv.set_latency(0)
    fastest = float("inf")
    for _ in range(3):  # the best of three, so a busy machine does not fail the test
        started = time.perf_counter()
        get(http, srv, **params)
        fastest = min(fastest, time.perf_counter() - started)
    assert fastest < 0.15


def test_every_response_says_its_data_is_synthetic(http, fake, make_fake):
    ok = http.get(fake.url, params=dict(fs=ALL_FS, fields="f12", pz=1, pn=1))
    missing = http.get(fake.url.replace("/api/qt/clist/get", "/nope"))
    stats = http.get(fake.url.split("/api/")[0] + "/_fake/stats")
    failing = make_fake(scale=0.05)
    failing.set_faults(1.0, ["503"])
    error = http.get(failing.url, params=dict(fs=ALL_FS, fields="f12"))
    for r in (ok, missing, stats, error):
        assert "synthetic" in r.headers.get("X-Fake-Data", "").lower(), r.url


def test_unknown_paths_are_404(http, fake):
    base = fake.url.split("/api/")[0]
    for path in ("/", "/api/qt/clist/gets", "/api/qt/stock/get", "/_fake/nothing"):
        assert http.get(base + path).status_code == 404, path
    assert http.post(base + "/api/qt/clist/get", content=b"{}").status_code == 404
    assert http.post(base + "/_fake/stats", content=b"{}").status_code == 404


def test_admin_stats_and_control(http, make_fake):
    srv = make_fake()
    base = srv.url.split("/api/")[0]
    srv.reset_counts()
    params = dict(fs=BOARD_FS["industry"], fields="f12,f62", fid="f12", po=0, pz=100, pn=1, fltt=2)
    before = get(http, srv, **params)["data"]["diff"]
    stats = http.get(base + "/_fake/stats").json()
    assert stats["requests"] == srv.request_count == 1  # admin calls are not API requests
    assert stats["trade_date"] == TRADE_DATE.isoformat() and stats["frozen"] is True
    assert stats["securities"] == len(srv.universe)

    r = http.post(base + "/_fake/control", json={
        "trade_date": "2025-09-12", "latency_ms": 25, "fault_rate": 0.25,
        "fault_kinds": ["502", "rc"], "advance": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["trade_date"] == "2025-09-12" and body["step"] == stats["step"] + 2
    assert srv.trade_date == dt.date(2025, 9, 12) and srv.latency_ms == 25
    assert srv.fault_rate == 0.25 and set(srv.fault_kinds) == {"502", "rc"}

    r = http.post(base + "/_fake/control", json={"fault_rate": 0, "trade_date": TRADE_DATE.isoformat(),
                                                 "latency_ms": 0})
    assert r.status_code == 200
    after = get(http, srv, **params)["data"]["diff"]  # advanced while frozen: values moved
    assert codes_of(after) == codes_of(before) and after != before
    r = http.post(base + "/_fake/control", json={"frozen": False})
    assert r.status_code == 200 and r.json()["frozen"] is False and srv.frozen is False

    for bad in ({"trade_date": "not a date"}, {"fault_rate": 1, "fault_kinds": ["boom"]},
                {"latency_ms": "slow"}):
        r = http.post(base + "/_fake/control", json=bad)
        assert r.status_code == 400 and "error" in r.json(), bad
    assert http.post(base + "/_fake/control", content=b"{not json").status_code == 400


def test_request_count_max_in_flight_and_reset(make_fake):
    srv = make_fake(latency_ms=300)
    params = dict(fs=BOARD_FS["region"], fields="f12", pz=10, pn=1, fltt=2)
    barrier = threading.Barrier(4)
    statuses = []

    def one():
        with httpx.Client(timeout=10) as client:
            barrier.wait()
            statuses.append(client.get(srv.url, params=params).status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 4
    assert srv.request_count == 4 and 2 <= srv.max_in_flight <= 4
    assert srv.stats()["requests"] == 4 and srv.stats()["max_in_flight"] == srv.max_in_flight
    srv.reset_counts()
    assert srv.request_count == 0 and srv.max_in_flight == 0 and srv.faults_served == {}


def test_sixteen_concurrent_requests_are_served_at_once(make_fake):
    srv = make_fake(latency_ms=400)
    params = dict(fs=ALL_FS, fields=",".join(TODAY.fields), fid="f12", po=0, pz=100, pn=1, fltt=2)
    barrier = threading.Barrier(16)
    results = []

    def one(pn):
        with httpx.Client(timeout=10) as client:
            barrier.wait()
            r = client.get(srv.url, params=params | {"pn": pn % 3 + 1})
            results.append((r.status_code, len(r.json()["data"]["diff"])))

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert results == [(200, 100)] * 16
    assert srv.max_in_flight == 16 and elapsed < 4 * 0.4, (srv.max_in_flight, elapsed)


def test_stop_closes_keep_alive_connections_and_the_port():
    srv = FakeEastmoneyServer("127.0.0.1", 0, scale=0.05, frozen=True, trade_date=TRADE_DATE)
    srv.start()
    before = {t.ident for t in threading.enumerate()}
    client = httpx.Client(timeout=2)
    try:
        assert client.get(srv.url, params=dict(fs=ALL_FS, fields="f12", pz=5)).status_code == 200
        handlers = [t for t in threading.enumerate() if t.ident not in before]
        assert handlers, "a keep-alive connection keeps a handler thread"
        srv.stop()
        for t in handlers:  # woken by the stop, not left waiting for the client's next request
            t.join(timeout=2)
            assert not t.is_alive(), t.name
        with pytest.raises(httpx.TransportError):
            client.get(srv.url, params=dict(fs=ALL_FS, fields="f12", pz=5))
    finally:
        client.close()


# --- the CLI ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_until_terminated():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "findata_assets.fake_eastmoney", "--port", str(port),
         "--scale", "0.05", "--frozen", "--trade-date", TRADE_DATE.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once serving
        assert f"127.0.0.1:{port}" in line and "SYNTHETIC" in line, (line, proc.poll())
        url = f"http://127.0.0.1:{port}/api/qt/clist/get"
        with httpx.Client(timeout=10) as client:
            r = client.get(url, params=dict(fs=ALL_FS, fields=",".join(TODAY.fields), fid="f12",
                                            po=0, pz=100, pn=1, fltt=2))
            assert r.status_code == 200 and r.headers.get("X-Fake-Data")
            data = r.json()["data"]
            assert data["total"] > 100 and len(data["diff"]) == 100
            assert shanghai_date(data["diff"][0]["f124"]) <= TRADE_DATE
            assert client.get(f"http://127.0.0.1:{port}/_fake/stats").json()["frozen"] is True
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.ConnectError):  # and the port is closed
        httpx.get(url, timeout=2)


# --- sizes at scale 1 -------------------------------------------------------------------------

def test_universe_at_scale_1_has_real_sizes(http, make_fake):
    srv = make_fake(scale=1.0)

    def total(fs):
        return get(http, srv, fs=fs, fields="f12", pz=1, pn=1, fltt=2)["data"]["total"]

    # the facts file's latest figures: 全部股票 5,280-5,300 with B shares, 沪市A股 about 2,390
    assert 5280 <= total(ALL_FS) <= 5300
    assert 2380 <= total(catalog.MARKETS["sh_a"].fs) <= 2395
    assert total(BOARD_FS["industry"]) == 86
    assert 460 <= total(BOARD_FS["concept"]) <= 500
    assert total(BOARD_FS["region"]) == 31
    # the markets roughly as the reference sizes (within 15 %)
    for key, size in (("sh_a", 2390), ("sz_a", 3000), ("star", 590), ("chinext", 1400)):
        assert abs(total(catalog.MARKETS[key].fs) - size) <= 0.15 * size, key
    b_shares = total(catalog.MARKETS["sh_b"].fs) + total(catalog.MARKETS["sz_b"].fs)
    assert abs(b_shares - 110) <= 0.15 * 110
    assert len(srv.universe) == total(ALL_FS) + 86 + total(BOARD_FS["concept"]) + 31


@pytest.mark.parametrize("fs", [ALL_FS, *BOARD_FS.values()])
def test_names_are_unique_within_a_table_and_boards_have_ordinary_names(http, make_fake, fs):
    srv = make_fake(scale=1.0)
    names = [r["f14"] for r in fetch_all(http, srv, fs=fs, fields=["f12", "f14"])[1]]
    assert len(names) == len(set(names)) > 30
    if fs in BOARD_FS.values() and fs != BOARD_FS["region"]:
        endings = {name[-2:] for name in names}
        assert len(endings) >= 10 and "板块" not in endings  # 电子元件, 通信设备, ...


@pytest.mark.slow
def test_scale_16_builds_in_seconds_and_serves_a_page_in_milliseconds():
    """The benchmark universe (~85k stocks): built fast, pages served from sorted views."""
    started = time.perf_counter()
    srv = FakeEastmoneyServer("127.0.0.1", 0, scale=16, frozen=True, trade_date=TRADE_DATE)
    built = time.perf_counter() - started
    try:
        assert len(srv.universe) > 85_000
        assert built < 10, built
        timings = {}
        for frozen in (True, False):
            srv.freeze(frozen)
            for fid in ("f12", "f62"):
                query = dict(fs=ALL_FS, fields=",".join(TODAY.fields), fid=fid, po="1", pz="100",
                             np="1", fltt="2")
                srv.respond(query | {"pn": "1"}, 0)  # a frozen view sorts once, then caches
                spent = []
                for pn in range(2, 12):
                    t = time.perf_counter()
                    body = srv.respond(query | {"pn": str(pn)}, 0 if frozen else pn)
                    spent.append(time.perf_counter() - t)
                    assert len(body["data"]["diff"]) == 100
                timings[(frozen, fid)] = sorted(spent)[len(spent) // 2]
        print({k: f"{v * 1000:.1f} ms" for k, v in timings.items()}, f"built in {built:.2f}s")
        assert all(v < 0.1 for v in timings.values()), timings
    finally:
        srv.stop()


# --- akshare against the fake -----------------------------------------------------------------

AKSHARE_WARNINGS = pytest.mark.filterwarnings("ignore:The inplace keyword")  # akshare vs pandas 3


@pytest.fixture(scope="module")
def akshare_fake():
    with FakeEastmoneyServer("127.0.0.1", 0, seed=17, scale=SCALE, frozen=True,
                             trade_date=TRADE_DATE) as srv:
        yield srv


@pytest.fixture
def akshare_to_fake(monkeypatch, akshare_fake):
    """akshare's own HTTP calls, sent to a frozen fake instead of push2.eastmoney.com."""
    pytest.importorskip("akshare")
    import requests

    srv = akshare_fake
    fake = urlsplit(srv.url)
    original = requests.Session.request
    sent = []

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        assert parts.hostname and parts.hostname.endswith("eastmoney.com"), url
        sent.append(dict(kwargs.get("params") or {}))
        return original(self, method, urlunsplit((fake.scheme, fake.netloc, parts.path,
                                                  parts.query, "")), *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return srv, sent


@AKSHARE_WARNINGS
@pytest.mark.parametrize("indicator,period", [("今日", "1d"), ("3日", "3d"), ("5日", "5d"),
                                              ("10日", "10d")], ids=["1d", "3d", "5d", "10d"])
def test_akshare_stock_fund_flow_rank_reads_the_fake(http, akshare_to_fake, indicator, period):
    import akshare as ak

    srv, sent = akshare_to_fake
    p = catalog.PERIODS[period]
    total, rows = fetch_all(http, srv, fields=p.fields)
    expected = by_code(rows)
    srv.reset_counts()
    df = ak.stock_individual_fund_flow_rank(indicator=indicator)
    assert srv.request_count == len(sent) == 1 + math.ceil(total / PAGE_CAP)
    assert {s["fid"] for s in sent} == {p.fid} and {s["fs"] for s in sent} == {ALL_FS}
    assert len(df) == total and set(df["代码"]) == set(expected)
    assert list(df["序号"]) == list(range(1, total + 1))
    column = {"change_pct": "涨跌幅", "main_net": "主力净流入-净额", "main_pct": "主力净流入-净占比",
              "super_large_net": "超大单净流入-净额", "small_pct": "小单净流入-净占比"}
    checked = 0
    for rec in df.to_dict("records"):
        row = expected[rec["代码"]]
        assert rec["名称"] == row["f14"] and rec["最新价"] == row["f2"]
        for name, label in column.items():
            assert rec[f"{indicator}{label}"] == row[p.columns[name]], (rec["代码"], label)
        checked += row[p.fid] != "-"
    assert checked > 0.8 * total
    # akshare keeps the API's order: by the period's main net inflow, largest first
    ranked = [v for v in df[f"{indicator}主力净流入-净额"] if v != "-"]
    assert ranked == sorted(ranked, reverse=True)


@AKSHARE_WARNINGS
@pytest.mark.parametrize("sector_type,board", [("行业资金流", "industry"), ("概念资金流", "concept"),
                                               ("地域资金流", "region")],
                         ids=["industry", "concept", "region"])
@pytest.mark.parametrize("indicator,period", [("今日", "1d"), ("5日", "5d"), ("10日", "10d")],
                         ids=["1d", "5d", "10d"])
def test_akshare_sector_fund_flow_rank_reads_the_fake(http, akshare_to_fake, indicator, period,
                                                      sector_type, board):
    import akshare as ak

    srv, sent = akshare_to_fake
    p = catalog.PERIODS[period]
    total, rows = fetch_all(http, srv, fs=BOARD_FS[board], fields=p.fields)
    srv.reset_counts()
    df = ak.stock_sector_fund_flow_rank(indicator=indicator, sector_type=sector_type)
    assert len(df) == total == len(rows)
    assert srv.request_count == len(sent) == 1 + math.ceil(total / PAGE_CAP)
    assert sent[0]["fs"] == BOARD_FS[board].replace("+", " ")  # akshare's space form
    # akshare drops the code: compare (name, main net, top stock) as multisets
    main, top = p.columns["main_net"], p.columns["top_stock_name"]

    def key(name, value, top_name):  # "-" (fake) and NaN (akshare's to_numeric) are both unknown
        unknown = value == "-" or value != value
        return (name, unknown, 0.0 if unknown else round(float(value), 2), top_name)

    got = sorted(key(r["名称"], r[f"{indicator}主力净流入-净额"], r[f"{indicator}主力净流入最大股"])
                 for r in df.to_dict("records"))
    want = sorted(key(r["f14"], r[main], r[top]) for r in rows)
    assert got == want
    assert sum(not unknown for _, unknown, _, _ in got) >= total / 2  # not a vacuous comparison
