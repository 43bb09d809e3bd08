"""When the history lane may ask the source, and which days the source still serves."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from findata_assets import trading_calendar as tc

SOURCE_DAYS = 120  # about how many sessions the source keeps (shared/eastmoney-api.md)


def last_closed_session(now: Optional[dt.datetime] = None) -> dt.date:
    """The newest session whose 15:00 close has passed: where the source's daily lines end."""
    now = (now or dt.datetime.now(tc.TZ)).astimezone(tc.TZ)
    today = now.date()
    if tc.is_trading_day(today) and now.time() >= dt.time(15, 0):
        return today
    return tc.previous_trading_day(today)


def in_session(now: Optional[dt.datetime] = None) -> bool:
    """Between the 09:15 auction and the 15:00 close of a trading day (lunch included: the
    every-minute lane's day, when the source's patience belongs to it)."""
    now = (now or dt.datetime.now(tc.TZ)).astimezone(tc.TZ)
    return tc.is_trading_day(now.date()) and dt.time(9, 15) <= now.time() < dt.time(15, 0)


def seconds_to_close(now: Optional[dt.datetime] = None) -> Optional[float]:
    """None outside the session, else the seconds until a minute after the close."""
    now = (now or dt.datetime.now(tc.TZ)).astimezone(tc.TZ)
    if not in_session(now):
        return None
    close = dt.datetime.combine(now.date(), dt.time(15, 1), tc.TZ)
    return max(1.0, (close - now).total_seconds())


def source_first_day(as_of: Optional[dt.date] = None, sessions: int = SOURCE_DAYS) -> dt.date:
    """The oldest session the source's daily series still holds (about SOURCE_DAYS back)."""
    day = as_of or last_closed_session()
    for _ in range(sessions - 1):
        day = tc.previous_trading_day(day)
    return day
