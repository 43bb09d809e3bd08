"""The fake's per-security daily fund-flow klines (`stock/fflow/daykline/get`), consistent with
its own ranking.

One security per request (`secid` = `<m>.<code>`, `90.BKxxxx` for boards, the whole market as
`secid=1.000001&secid2=0.399001`), up to `history_days` lines (120 by default), oldest first,
one per XSHG trading day, ending at the fake's last session. A line is
`date,main,small,medium,large,super,main%,small%,medium%,large%,super%,close,change%,f64,f65`
whatever `fields2` asks (inferred from the minute endpoint, where that is a fact).

Values:
- The last session's line (once closed) equals the 1d ranking at the server's current step
  (f62,f84,f78,f72,f66,f184,f87,f81,f75,f69,f2,f3): the same `_Flows` / `View` computations.
- An earlier day's line is that day's draws at step 0 (what a frozen ranking pinned to that day
  serves), computed here without touching the universe's two-day cache that the ranking uses.
  The fake keeps no record of past closes: once a newer session is served, the older one's line
  is its step-0 value, whatever step its ranking closed at.
- Close: the trade date's line has f2; the last line before it the ranking's previous close
  (prev_close of the trade date's draws: a suspension keeps the price), then back through each
  day's change (close[d-1] = close[d] / (1 + change[d] / 100)), so closes and changes agree and
  past lines do not move with the step. Boards: the board level and f3. f64/f65 are "0.00"
  for stocks and boards.
- The market pair: per day the sums over the stocks (m 0 and 1) that have a line that day of the
  five amounts, the percents as those sums over their summed turnover; f62/f63 a seeded walk of
  the Shanghai Composite (~3,000-3,500), f64/f65 of the Shenzhen Component (~9,000-11,000).

Who lacks lines (seeded by the universe seed and the code; `profile(secid)` tells):
- a stock suspended in the ranking (universe `inactive`): no line for its last k sessions up to
  the trade date, k = 1..15;
- ~1% of the other stocks ("halted"): no line on a stretch of 1-5 weekdays (sessions, unless a
  holiday falls in it) that recurs every HALT_CYCLE weekdays counted from EPOCH, so it stays on
  its dates as the trade date moves; never on the trade date itself;
- ~2% ("listed"): lines only from a listing day that recurs every LISTING_CYCLE weekdays, the
  latest on or before the trade date (so fewer than 120 lines whatever the date; an earlier
  listing's lines vanish when the next one passes: the universe is fixed, dates are not);
- the new board of each sector type (universe `inactive` boards): its last 1 or 2 sessions only.

While the trade date's session trades, its live line is not served (`live_day=False`): the series
ends at the previous session. Whether the real API shows it is unknown; `live_day=True` serves it
at the current step. `secid=1.000001` without `secid2` answers `data: null` (inferred).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass

import numpy as np

from findata_assets import trading_calendar
from findata_assets.fake_eastmoney.universe import View, _Flows, _seed

MARKET_PAIR = ("1.000001", "0.399001")
MARKET_SECID = f"{MARKET_PAIR[0]}&secid2={MARKET_PAIR[1]}"  # the key of the market pair
HISTORY_DAYS = 120
EPOCH = dt.date(2000, 1, 4)  # weekday ordinals count from here: stable across trade dates
HALT_CYCLE, LISTING_CYCLE = 120, 110  # weekdays
SUSPENDED_MAX, HALT_MAX = 15, 5
LISTED_SHARE, HALTED_SHARE = 0.02, 0.01
ENVELOPE = {"rc": 0, "rt": 21, "svr": 181669432, "lt": 1, "full": 0, "dlmkts": ""}
NETS = ("main_net", "small_net", "medium_net", "large_net", "super_large_net")  # a line's order
_TURNOVER, _CHANGE, _CLOSE = 5, 6, 7  # columns after the five amounts
# index -> (name, level at the centre, daily sigma and clip of the log deviation)
INDEXES = {"sh": ("上证指数", 3250.0, 0.006, 0.07), "sz": ("深证成指", 10000.0, 0.008, 0.09)}
KINDS = ("normal", "suspended", "halted", "listed", "new_board")
_NORMAL, _SUSPENDED, _HALTED, _LISTED, _NEW_BOARD = range(len(KINDS))
_CHUNK = 1024  # index noise comes in seeded chunks: a longer series keeps its start


def kline_key(secid: str, secid2: str | None = None) -> str:
    """The key a request is counted and looked up under: secid, or the market pair's both."""
    return f"{secid}&secid2={secid2}" if secid2 is not None and secid == MARKET_PAIR[0] else secid


def kline_params(key: str) -> dict[str, str]:
    """A key from `secids()` as query parameters (the market pair: secid and secid2)."""
    secid, _, secid2 = key.partition("&secid2=")
    return {"secid": secid, **({"secid2": secid2} if secid2 else {})}


# date, the five amounts as repr (parsed back: exactly the float the ranking serves), the five
# shares, then close and change % (the market: the two indexes' closes and changes)
_LINE = "%s," + "%r," * 5 + "%.2f," * 6 + "%.2f"
_STOCK_LINE, _MARKET_LINE = _LINE + ",0.00,0.00", _LINE + ",%.2f,%.2f"


@dataclass
class _Window:
    last: dt.date  # the trade date
    served_last: bool  # its own line is served (closed, or live_day)
    days: list[dt.date]  # the served days, oldest first
    dates: list[str]
    past: np.ndarray  # [past day, security, column]: the days before the trade date, step 0
    present: np.ndarray  # [day, security]: has a line
    market: np.ndarray  # [past day, 6]: summed amounts and turnover
    index: dict[str, tuple[np.ndarray, np.ndarray]]  # "sh"/"sz" -> (closes, changes) per day


class KlineHistory:
    """The daily klines of every security the fake's universe lists, and of the market."""

    def __init__(self, server, history_days: int = HISTORY_DAYS, live_day: bool = False) -> None:
        if history_days < 1:
            raise ValueError(f"history_days {history_days} is not >= 1")
        self.server, self.u = server, server.universe
        self.history_days, self.live_day = history_days, live_day
        self._stocks = ~self.u.securities.is_board  # all m 0 and m 1 securities
        self._lock = threading.Lock()
        self._window: _Window | None = None
        self._noise: dict[str, np.ndarray] = {}
        self._live_market: tuple[tuple, np.ndarray] | None = None

    # -- who has which days (on first use: a server that serves no kline pays nothing) --------
    @functools.cached_property
    def _secids(self) -> list[str]:
        sec = self.u.securities
        return [f"{m}.{c}" for m, c in zip(sec.m.tolist(), sec.codes.tolist())]

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self._secids)}

    @functools.cached_property
    def _profiles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kind, a, b) per security: suspended a=k; halted a=phase, b=length; listed a=phase;
        new board a=lines."""
        sec, seed = self.u.securities, self.u.seed
        n = len(sec.codes)
        kind, a, b = np.zeros(n, np.int8), np.zeros(n, np.int64), np.zeros(n, np.int64)
        for i, (code, board, inactive) in enumerate(zip(sec.codes.tolist(), sec.is_board.tolist(),
                                                        sec.inactive.tolist())):
            h = _seed("kline", seed, code)
            share = (h % 10_000) / 10_000
            if board:
                if inactive:
                    kind[i], a[i] = _NEW_BOARD, 1 + (h >> 16) % 2
            elif inactive:
                kind[i], a[i] = _SUSPENDED, 1 + (h >> 16) % SUSPENDED_MAX
            elif share < LISTED_SHARE:
                kind[i], a[i] = _LISTED, (h >> 32) % LISTING_CYCLE
            elif share < LISTED_SHARE + HALTED_SHARE:
                kind[i], a[i], b[i] = _HALTED, (h >> 32) % HALT_CYCLE, 1 + (h >> 24) % HALT_MAX
        return kind, a, b

    def _present(self, pos: int, ordinal: int, last_pos: int, last: int) -> np.ndarray:
        """Which securities have a line on the session at window position `pos` (weekday
        ordinal `ordinal`) when the trade date is at `last_pos` (`last`). What follows the
        trade date counts sessions; what stays on its dates counts weekday ordinals."""
        kind, a, b = self._profiles
        absent = ((kind == _SUSPENDED) & (pos > last_pos - a)
                  | (kind == _HALTED) & ((ordinal - a) % HALT_CYCLE < b) & (ordinal < last)
                  | (kind == _LISTED) & (ordinal < last - (last - a) % LISTING_CYCLE)
                  | (kind == _NEW_BOARD) & (pos <= last_pos - a))
        return ~absent

    # -- the window ------------------------------------------------------------------------
    def window(self) -> _Window:
        """The served days at the server's clock; past days' values built once, lazily."""
        last = self.server.trade_date
        served_last = self.live_day or not self.server.trading()
        w = self._window
        if w is not None and w.last == last and w.served_last == served_last:
            return w
        with self._lock:
            w = self._window
            if w is None or w.last != last or w.served_last != served_last:
                self._window = w = self._build(last, served_last, w)
            return w

    def _build(self, last: dt.date, served_last: bool, old: _Window | None) -> _Window:
        end = last if served_last else trading_calendar.previous_trading_day(last)
        span = dt.timedelta(days=2 * self.history_days + 30)
        days = trading_calendar.trading_days(end - span, end)[-self.history_days:]
        ordinals = _ordinals(days).tolist()
        last_pos, last_ordinal = len(days) - served_last, int(_ordinals([last])[0])
        past_days = days[:-1] if served_last else days
        n = len(self.u)
        past = np.empty((len(past_days), n, _CLOSE))  # a past day's close is chained, not kept
        reuse = {d: j for j, d in enumerate(old.days[:len(old.past)])} if old else {}
        everyone = np.arange(n)
        for j, day in enumerate(past_days):
            if day in reuse:  # a day switch shifts the window by one: keep the rest
                past[j] = old.past[reuse[day]]
                continue
            view = View(self.u, day, 0, 0, 0, base=self.u._draw_day(day, only_1d=True))
            flows = _Flows(view, "1d", everyone)
            for c, role in enumerate(NETS + ("turnover",)):
                past[j, :, c] = flows.get(role)
            past[j, :, _CHANGE] = view.change_1d(everyone)
        present = np.stack([self._present(j, o, last_pos, last_ordinal)
                            for j, o in enumerate(ordinals)])
        market = np.stack([past[j][present[j] & self._stocks, :6].sum(axis=0)
                           for j in range(len(past_days))]) if past_days else np.zeros((0, 6))
        before = int(_ordinals([trading_calendar.previous_trading_day(days[0])])[0])
        index = {name: self._index_series(name, np.array([before, *ordinals]))
                 for name in INDEXES}
        return _Window(last, served_last, days, [d.isoformat() for d in days], past, present,
                       market, index)

    def _index_series(self, name: str, ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(closes, changes %) of an index on the sessions of ordinals[1:] (ordinals[0]: the
        session before): a seeded AR(1) walk of the log level around its centre over weekdays,
        so it stays plausible for decades and each date keeps its level."""
        _, centre, sigma, clip = INDEXES[name]
        need = int(ordinals[-1]) + 1
        walk = self._noise.get(name)
        if walk is None or len(walk) < need:
            chunks = -(-need // _CHUNK)
            noise = np.concatenate([np.random.default_rng(
                _seed("index", self.u.seed, name, c)).standard_normal(_CHUNK)
                for c in range(chunks)])
            walk, x = np.empty(len(noise)), 0.0
            for k, e in enumerate(noise.tolist()):
                x = min(clip, max(-clip, 0.98 * x + sigma * e))
                walk[k] = x
            self._noise[name] = walk
        closes = np.round(centre * np.exp(walk[np.clip(ordinals, 0, None)]), 2)  # flat before EPOCH
        return closes[1:], np.round((closes[1:] / closes[:-1] - 1) * 100, 2)

    # -- one security ----------------------------------------------------------------------
    def _live(self, day: dt.date, idx: np.ndarray) -> np.ndarray:
        """The trade date's values at the server's current step, exactly the ranking's: rows
        of (five amounts, turnover, change, close)."""
        view = View(self.u, day, self.server._step, 0, 0)
        flows = _Flows(view, "1d", idx)
        columns = [flows.get(role) for role in NETS + ("turnover",)]
        return np.stack(columns + [view.change_1d(idx), view._price(idx)], axis=1)

    def _values(self, w: _Window, i: int) -> tuple[np.ndarray, np.ndarray, float | None]:
        """(day positions, [line, column] values, the trade date's close when its line is
        served) of security i."""
        rows = np.flatnonzero(w.present[:, i])
        past = rows[rows < len(w.past)]
        values = w.past[past, i, :]
        if len(past) == len(rows):
            return rows, values, None
        live = self._live(w.last, np.array([i]))  # the trade date's own line
        return rows, np.concatenate([values, live[:, :_CLOSE]]), float(live[0, _CLOSE])

    def _market(self, w: _Window) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(w.days))
        if not w.served_last:
            return rows, w.market
        key = (w.last, self.server._step)
        cached = self._live_market
        if cached is None or cached[0] != key:
            idx = np.flatnonzero(w.present[-1] & self._stocks)
            cached = self._live_market = (key, self._live(w.last, idx)[:, :6].sum(axis=0))
        return rows, np.concatenate([w.market, cached[1][None, :]])

    def lines(self, key: str) -> list[str] | None:
        """The lines served now for a secid (or MARKET_SECID); None for an unknown one."""
        w = self.window()
        if key == MARKET_SECID:
            rows, values = self._market(w)
            template, amounts = _MARKET_LINE, np.round(values[:, :5], 2)
            tail = [a[rows] for name in ("sh", "sz") for a in w.index[name]]
        else:
            i = self._index.get(key)
            if i is None:
                return None
            rows, values, close = self._values(w, i)
            template, amounts = _STOCK_LINE, values[:, :5]
            # the ranking's previous close (its f2 / (1 + f3 / 100)): the last past line's close
            before = float(self.u.day(w.last)["prev_close"][i])
            tail = [_closes(values[:, _CHANGE], before, close), values[:, _CHANGE]]
        # as the ranking computes its shares: net / turnover * 100, rounded to 2 decimals
        shares = np.round(values[:, :5] / values[:, _TURNOVER:_TURNOVER + 1] * 100, 2)
        table = np.column_stack([amounts, shares, *tail]).tolist()
        return [template % (w.dates[r], *row) for r, row in zip(rows.tolist(), table)]

    def data(self, key: str, lmt: int = 0) -> dict | None:
        """The `data` object of an answer (None: unknown or wrongly prefixed secid)."""
        lines = self.lines(key)
        if lines is None:
            return None
        if lmt > 0:
            lines = lines[-lmt:]
        if key == MARKET_SECID:
            code, market, name = MARKET_PAIR[0][2:], 1, INDEXES["sh"][0]
        else:
            i = self._index[key]
            sec = self.u.securities
            code, market, name = str(sec.codes[i]), int(sec.m[i]), str(sec.names[i])
        return {"code": code, "market": market, "name": name, "tradePeriods": None,
                "klines": lines}

    def respond(self, query: dict[str, str]) -> dict:
        """The JSON envelope the real server sends for a daykline query (before any fault)."""
        try:
            lmt = int(query.get("lmt") or 0)
        except ValueError:
            return {**ENVELOPE, "rc": 102, "data": None}
        if query.get("klt", "101") != "101":  # the fake models daily lines only
            return {**ENVELOPE, "data": None}
        key = kline_key(query.get("secid", ""), query.get("secid2"))
        return {**ENVELOPE, "data": self.data(key, lmt)}

    # -- expectations for tests and clients --------------------------------------------------
    def secids(self) -> list[str]:
        """Every secid served: stocks, boards, then MARKET_SECID (see kline_params)."""
        return [*self._secids, MARKET_SECID]

    def listed_days(self, key: str) -> list[dt.date]:
        """The days that have a line now, oldest first ([] for an unknown secid)."""
        return [dt.date.fromisoformat(line[:10]) for line in self.lines(key) or []]

    def profile(self, key: str) -> dict:
        """Why a security has the lines it has: {"kind": one of KINDS or "market", ...}."""
        if key == MARKET_SECID:
            return {"kind": "market"}
        i = self._index[key]
        kind, a, b = (KINDS[self._profiles[0][i]], *(int(x[i]) for x in self._profiles[1:]))
        return {"kind": kind, **{"suspended": {"missing_last": a},
                                 "halted": {"phase": a, "length": b, "cycle": HALT_CYCLE},
                                 "listed": {"phase": a, "cycle": LISTING_CYCLE},
                                 "new_board": {"sessions": a}}.get(kind, {})}

    def of_kind(self, kind: str) -> list[str]:
        """The secids of one profile kind, in universe order."""
        return [self._secids[i] for i in np.flatnonzero(self._profiles[0] == KINDS.index(kind))]


def _closes(change: np.ndarray, before: float, last: float | None) -> np.ndarray:
    """The lines' closes: `last` (f2) on the trade date's own line, `before` on the last line
    before it (a suspension keeps the price), then back through each day's change, rounded like
    prices. Past lines so do not move with the ranking's step."""
    change, closes = change.tolist(), [] if last is None else [last]
    if len(change) > len(closes):
        closes.append(before)
    for k in range(len(change) - len(closes), 0, -1):
        closes.append(round(closes[-1] / (1 + change[k] / 100), 2))
    return np.array(closes[::-1])


def _ordinals(days) -> np.ndarray:
    """Weekdays from EPOCH to each day: a numbering that stays with the dates whatever the
    trade date (holidays leave gaps: a cycle counts weekdays, a halt may span a holiday)."""
    return np.busday_count(EPOCH, np.array(days, dtype="datetime64[D]"))
