"""Synthetic intraday minutes for the history and retention tests: a day of `codes` x `minutes`
with NULLs where the API had "-" (one cell in 17), stored through IntradayStore as the live feed
stores them."""

from __future__ import annotations

import datetime as dt

from findata_assets.storage.intraday import IntradayStore

VALUES = ("price", "change_pct", "main_net", "main_pct", "super_large_net", "super_large_pct",
          "large_net", "large_pct", "medium_net", "medium_pct", "small_net", "small_pct")


def session_minutes(day: dt.date, count: int) -> list[dt.datetime]:
    start = dt.datetime.combine(day, dt.time(9, 30))
    return [start + dt.timedelta(minutes=m) for m in range(count)]


def minute_rows(day: dt.date, minute: dt.datetime, m: int, codes: list[str]) -> list[dict]:
    salt = day.toordinal() % 7
    return [{"trade_date": day, "code": code, "minute": minute, "board": None,
             "name": f"股票{i}",
             **{v: (None if (i + m + salt) % 17 == 0 and v != "price" else
                    round((i - 350) * 1e5 + m * 1234.5 + j + salt, 2))
                for j, v in enumerate(VALUES)},
             "fetched_at": minute + dt.timedelta(seconds=5)} for i, code in enumerate(codes)]


def store_day(store: IntradayStore, day: dt.date, codes: list[str], minutes: int) -> int:
    """Store a day's minutes; returns the rows stored."""
    for m, minute in enumerate(session_minutes(day, minutes)):
        store.replace_minute("stock", day, minute, None, minute_rows(day, minute, m, codes),
                             replaced=False)
    return len(codes) * minutes
