"""Daily history rows (storage/daily_flow.py) for the history tests: a few hand-shaped stocks
whose sums and streaks are known, seeded noise around them, the market and some boards."""

from __future__ import annotations

import datetime as dt
import random
from typing import Optional

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney import catalog
from findata_assets.storage.daily_flow import COLUMNS, MARKET_CODE

D = dt.date(2026, 11, 27)  # a Friday well in the past: the partitions reach it
DAYS = tc.trading_days(dt.date(2026, 10, 1), D)[-25:]  # 25 real trading days up to D
N = len(DAYS)
STEADY_IN, PATTERN, HOLE, NULL_DAY, STEADY_OUT = "600001", "600002", "600003", "600004", "000005"
SHAPED = {  # main_net per day of DAYS (None: the row is absent; "null": main_net NULL)
    STEADY_IN: [(i + 1) * 5e7 for i in range(N)],
    PATTERN: [-2e7] * (N - 6) + [3e7, 4e7, -1e7, 5e7, 6e7, 7e7],  # +,+,-,+,+,+ -> 3
    HOLE: [2e9 if i != 10 else None for i in range(N)],  # no row on DAYS[10]: no 20-day rank
    NULL_DAY: [8e8 if i != N - 2 else "null" for i in range(N)],  # NULL the day before D
    STEADY_OUT: [-(i + 1) * 1e8 for i in range(N)],
}
NOISE = [f"{p}{i:03d}" for p in ("601", "002") for i in range(20)]
BOARDS = {key: [f"BK{k}{i:03d}" for i in range(4)] for k, key in enumerate(catalog.BOARDS, 1)}


def market_net(i: int) -> float:
    return (-1) ** i * (i + 1) * 1e9 + 2.5e8


def market_change(i: int) -> float:
    return round(((i * 7) % 11 - 5) / 10, 2)  # -0.5% .. +0.5%


def row(day: dt.date, code: str, main_net, kind: str = "stock", board: Optional[str] = None,
        name: Optional[str] = None, change_pct: Optional[float] = 0.5, **extra) -> dict:
    r = dict.fromkeys(COLUMNS)
    value = None if main_net == "null" else main_net
    r.update(trade_date=day, code=code, kind=kind, board=board, name=name or f"股{code}",
             main_net=value, change_pct=change_pct, close=10.0, source="kline",
             fetched_at=dt.datetime.combine(day, dt.time(16, 0)))
    if value is not None:
        r.update(super_large_net=round(value * 0.6, 2), large_net=value - round(value * 0.6, 2),
                 medium_net=round(value * 0.1, 2), small_net=round(-value * 0.8, 2),
                 main_pct=round(value / 1e9, 2))
    r.update(extra)
    return r


def rows_of(day: dt.date, market: bool = True, boards: bool = True,
            stocks: bool = True) -> list[dict]:
    """Every daily row of one of DAYS."""
    i = DAYS.index(day)
    out = []
    if stocks:
        for code, values in SHAPED.items():
            if values[i] is not None:
                out.append(row(day, code, values[i], change_pct=1.0))
        for code in NOISE:
            rng = random.Random(f"{code}-{day}")
            out.append(row(day, code, round(rng.gauss(0, 1) * 3e8, 2),
                           change_pct=round(rng.uniform(-5, 5), 2)))
    if market:
        out.append(row(day, MARKET_CODE, market_net(i), kind="market", name="沪深两市",
                       change_pct=market_change(i), close=3000.0 + i, close_2=10000.0 + i,
                       change_pct_2=round(market_change(i) / 2, 2)))
    if boards:
        for key, codes in BOARDS.items():
            for j, code in enumerate(codes):
                out.append(row(day, code, (j - 1.5) * 1e8 + i * 1e6, kind="board", board=key))
    return out


def store_days(store, days=DAYS, **kw) -> None:
    for day in days:
        store.upsert(rows_of(day, **kw))


def snapshot_rows(day: dt.date) -> list[dict]:
    """The day's stocks as the 全部股票 1d table holds them (the figures of `rows_of(day)`)."""
    from findata_assets.storage.daily_flow import FLOW_COLUMNS

    out = []
    for rank, r in enumerate(rows_of(day, market=False, boards=False), 1):
        row = dict.fromkeys(catalog.COLUMN_NAMES)
        row.update(trade_date=day, code=r["code"], name=r["name"], rank=rank, price=r["close"],
                   change_pct=r["change_pct"], updated_at=dt.datetime.combine(day, dt.time(15)),
                   fetched_at=dt.datetime.combine(day, dt.time(15, 5)),
                   **{c: r[c] for c in FLOW_COLUMNS})
        out.append(row)
    return out
