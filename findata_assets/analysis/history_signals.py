"""What the daily history (`daily_flow`) says about a trading day D that D's own rankings cannot.

- windows: the 5- and 20-day main-inflow leaders and laggards: the sum of main_net over the last
  N days the history holds up to D (D included); a stock ranks only with a main_net on all N days;
- streaks (连续N日主力净流入 / 净流出): per stock, the consecutive days ending at D with
  main_net > 0 (< 0); a day the stock lacks ends its run: no row, a NULL main_net, or a trading
  day the history lacks altogether (the run is then marked `at_least`, as is one reaching the
  first day read: it may be longer);
- market: the MARKET row's main_net over its last 20 days up to D, their sum, and the Shanghai
  Composite's (close / change_pct) and Shenzhen Component's (close_2 / change_pct_2) change over
  the window;
- coverage: the history's first day, the days it holds up to D, the trading days it lacks.

Conventions, as the digest's: plain JSON-safe data, money in yuan, shares in percent, dates ISO;
ties broken by code; sums with math.fsum (independent of row order). A change over a window
compounds the daily change_pct ((1 + c1/100) x ... x (1 + cN/100) - 1): the last close against
the close before the window, to the rounding of the daily shares. A section the history is too
short for is {"missing": sentence, "need": n, "have": k}; a day without any history up to it is
{"missing": sentence}.

No Dagster: `load` reads the warehouse (the held days, then one range read of the last READ_DAYS
of them for the stocks and the market, without names: the driver decodes every value in Python,
~130,000 rows here, so the names come with the day's rows the digest has anyway), `compute` is
pure.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import sqlalchemy as sa

from findata_assets import trading_calendar
from findata_assets.storage.daily_flow import MARKET_CODE, TABLE, DailyFlowStore

WINDOWS = (5, 20)  # days of the leaders' sums
MARKET_DAYS = 20
READ_DAYS = 25  # held days read: the longest window, and room for the streaks
TOP_N = 10
MIN_STREAK = 2  # a "run" of one day says nothing
HINT = "run `python -m findata_assets.run history` to backfill"
COLUMNS = ("trade_date", "code", "main_net", "change_pct", "close", "close_2", "change_pct_2")


@dataclass
class HistoryInputs:
    """The history rows a day's signals need (COLUMNS tuples of the stocks and the market)."""

    trade_date: dt.date
    first_day: Optional[dt.date] = None  # the first day daily_flow holds
    days_held: int = 0  # days it holds up to trade_date (D counted when taken from the snapshot)
    rows: list[tuple] = field(default_factory=list)
    names: dict[str, Optional[str]] = field(default_factory=dict)  # code -> name on D
    gaps: list[dt.date] = field(default_factory=list)  # trading days read that lack stock rows
    today_from: str = TABLE  # where D's stock rows come from


def held_days(warehouse, trade_date: dt.date) -> list[dt.date]:
    """The days daily_flow holds up to trade_date (a group-by on its key's first column)."""
    t = DailyFlowStore(warehouse).table
    query = (sa.select(t.c.trade_date).where(t.c.trade_date <= trade_date)
             .group_by(t.c.trade_date).order_by(t.c.trade_date))
    with warehouse.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def load(warehouse, trade_date: dt.date, today_rows: Sequence[Mapping[str, Any]] = (),
         today_table: Optional[str] = None) -> HistoryInputs:
    """The last READ_DAYS held days up to trade_date. `today_rows`: the day's stock rows the
    digest read (catalog columns: code, name, main_net, change_pct), which name the stocks; from
    `today_table` (a 1d snapshot) they also stand in for D's stock rows when daily_flow does not
    hold them yet (it files a day after the close), if the history holds some earlier day."""
    inputs = HistoryInputs(trade_date)
    inputs.names = {r["code"]: r.get("name") for r in today_rows}
    days = held_days(warehouse, trade_date)
    if not days:
        return inputs
    inputs.first_day, inputs.days_held = days[0], len(days)
    start = days[-READ_DAYS:][0]
    inputs.rows = DailyFlowStore(warehouse).read(kinds=("stock", "market"), start=start,
                                                 end=trade_date, columns=COLUMNS)
    stock_days = {r[0] for r in inputs.rows if r[1] != MARKET_CODE}
    if trade_date not in stock_days and today_rows and today_table:
        inputs.rows += [(trade_date, r["code"], r.get("main_net"), r.get("change_pct"),
                         None, None, None) for r in today_rows]
        inputs.today_from = today_table
        inputs.days_held += trade_date not in days
        stock_days.add(trade_date)
    inputs.gaps = [d for d in trading_calendar.trading_days(start, trade_date)
                   if d not in stock_days]
    return inputs


# --- the signals ---------------------------------------------------------------------------------

def _missing(what: str, need: int, have: int, day: dt.date) -> dict:
    return {"missing": f"{what} {need} days of history up to {day}; the history holds {have} "
                       f"— {HINT}", "need": need, "have": have}


def compound(shares: Iterable[Optional[float]]) -> Optional[float]:
    """The change (percent) of consecutive daily changes; None when one is unknown."""
    product = 1.0
    for share in shares:
        if share is None:
            return None
        product *= 1 + share / 100
    return (product - 1) * 100


Series = Mapping[str, list]  # code -> one value per day of `days` (None: no row, or NULL)


def _window(net: Series, change: Series, days: list[dt.date], n: int, day: dt.date,
            names: Mapping[str, Any]) -> dict:
    if len(days) < n:
        return _missing(f"{n}-day leaders need", n, len(days), day)
    entries = []
    for code in sorted(net):
        values = net[code][-n:]
        if any(v is None for v in values):
            continue  # not on every day of the window: not ranked
        entries.append({"code": code, "name": names.get(code), "main_net_sum": math.fsum(values),
                        "days": n, "change_pct": compound(change[code][-n:])})
    return {"days": n, "start": days[-n].isoformat(), "end": days[-1].isoformat(),
            "ranked": len(entries),
            "leaders": sorted(entries, key=lambda e: (-e["main_net_sum"], e["code"]))[:TOP_N],
            "laggards": sorted(entries, key=lambda e: (e["main_net_sum"], e["code"]))[:TOP_N]}


def _sign(value: Optional[float]) -> int:
    return 0 if value is None or value == 0 else (1 if value > 0 else -1)


def streak(values: Sequence[Optional[float]], breaks: Iterable[int] = ()) -> tuple[int, bool]:
    """(length, at_least) of the run of same-signed values ending with the last one; `breaks`:
    indexes i where the history lacks trading days between value i-1 and value i."""
    if not values or not _sign(values[-1]):
        return 0, False
    stops, sign, i = set(breaks), _sign(values[-1]), len(values) - 1
    while i > 0 and i not in stops and _sign(values[i - 1]) == sign:
        i -= 1
    return len(values) - i, i == 0 or i in stops


def _streaks(net: Series, days: list[dt.date], gaps: Sequence[dt.date], day: dt.date,
             names: Mapping[str, Any]) -> dict:
    if len(days) < MIN_STREAK:
        return _missing("inflow and outflow streaks need", MIN_STREAK, len(days), day)
    breaks = [i for i in range(1, len(days)) if any(days[i - 1] < g < days[i] for g in gaps)]
    runs: dict[str, list] = {"inflow": [], "outflow": []}
    for code in sorted(net):
        values = net[code]
        length, at_least = streak(values, breaks)
        if length >= MIN_STREAK:
            run = values[-length:]
            runs["inflow" if run[-1] > 0 else "outflow"].append({
                "code": code, "name": names.get(code), "days": length,
                "main_net_sum": math.fsum(run), "since": days[-length].isoformat(),
                "at_least": at_least})
    return {"window_start": days[0].isoformat(), "window_days": len(days),
            "min_days": MIN_STREAK,
            "inflow_stocks": len(runs["inflow"]), "outflow_stocks": len(runs["outflow"]),
            "inflow": sorted(runs["inflow"], key=lambda e: (-e["days"], -e["main_net_sum"],
                                                            e["code"]))[:TOP_N],
            "outflow": sorted(runs["outflow"], key=lambda e: (-e["days"], e["main_net_sum"],
                                                              e["code"]))[:TOP_N]}


def _market(market: Mapping[dt.date, dict], day: dt.date) -> dict:
    days = sorted(d for d, r in market.items() if r["main_net"] is not None)
    if len(days) < MARKET_DAYS:
        return _missing("the market's 20-day main flow needs", MARKET_DAYS, len(days), day)
    window = days[-MARKET_DAYS:]
    rows = [market[d] for d in window]
    out = {"days": MARKET_DAYS, "start": window[0].isoformat(), "end": window[-1].isoformat(),
           "series": [[d.isoformat(), market[d]["main_net"]] for d in window],
           "main_net_sum": math.fsum(r["main_net"] for r in rows),
           "inflow_days": sum(1 for r in rows if r["main_net"] > 0),
           "sh_close": rows[-1]["close"], "sh_change_pct": compound(r["change_pct"] for r in rows),
           "sh_closes": [r["close"] for r in rows],
           "sz_close": rows[-1]["close_2"],
           "sz_change_pct": compound(r["change_pct_2"] for r in rows)}
    if window[-1] != day:
        out["note"] = (f"daily_flow holds no market row for {day} yet (the daily history files "
                       f"it after the close): the window ends at {window[-1]}")
    return out


def compute(h: Optional[HistoryInputs], trade_date: Optional[dt.date] = None) -> dict:
    """The `history` section of a day's digest (JSON-safe)."""
    day = h.trade_date if h is not None else trade_date
    if h is None or not h.days_held:
        return {"missing": f"no daily history up to {day}: {TABLE} holds no day up to it — "
                           f"{HINT}"}
    market = {r[0]: dict(zip(COLUMNS, r)) for r in h.rows if r[1] == MARKET_CODE}
    days = sorted({r[0] for r in h.rows if r[1] != MARKET_CODE and r[0] <= day})
    index = {d: i for i, d in enumerate(days)}
    net: dict[str, list] = {}
    change: dict[str, list] = {}
    for d, code, main_net, change_pct, *_ in h.rows:  # ~130,000 rows: plain lists, no dicts
        i = index.get(d)
        if i is None or code == MARKET_CODE:
            continue
        if code not in net:
            net[code], change[code] = [None] * len(days), [None] * len(days)
        net[code][i], change[code][i] = main_net, change_pct
    coverage = {"first_day": h.first_day.isoformat(), "until": day.isoformat(),
                "days": h.days_held, "read_from": days[0].isoformat() if days else None,
                "read_days": len(days), "gaps": [g.isoformat() for g in h.gaps],
                "today_from": h.today_from}
    out = {"source": TABLE, "coverage": coverage, "market": _market(market, day)}
    if not days or days[-1] != day:
        none = {"missing": f"{TABLE} holds no stock rows for {day} (the daily history files a "
                           f"day after the close) — {HINT}"}
        return {**out, "windows": {f"{n}d": dict(none) for n in WINDOWS}, "streaks": dict(none)}
    net = {code: values for code, values in net.items() if values[-1] is not None}  # on D
    out["windows"] = {f"{n}d": _window(net, change, days, n, day, h.names) for n in WINDOWS}
    out["streaks"] = _streaks(net, days, h.gaps, day, h.names)
    return out
