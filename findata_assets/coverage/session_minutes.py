"""The minutes a trading day's session should hold, as the refresh lanes run them: a tick every
`every` minutes (the cron's `*/N`) from the 09:25 auction result to 11:30 and from 13:00 to the
15:00 close, on trading days only (trading_calendar)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from findata_assets import trading_calendar as tc

# the lanes tick from the auction's result (09:25) to the close, lunch excluded
SEGMENTS = ((tc.AUCTION_RESULT, tc.MORNING[1]), tc.AFTERNOON)
# minutes between a family's ticks: the quick lane's `*` for stocks, the incremental lane's `*/5`
# for boards (defs/intraday/attempts.cadence derives the same from the policies' crons; a test
# holds the two together)
CADENCE_MINUTES = {"stock": 1, "sector": 5}
# a minute counts as due once its tick has had this long to store it (a quick run takes seconds)
DUE_AFTER = dt.timedelta(seconds=60)


def session_minutes(day: dt.date, every: int = 1) -> list[dt.datetime]:
    """Every tick minute of `day`'s session (naive Asia/Shanghai), [] on a closed day."""
    if not tc.is_trading_day(day):
        return []
    out = []
    for start, end in SEGMENTS:
        minute = dt.datetime.combine(day, start)
        last = dt.datetime.combine(day, end)
        while minute <= last:
            if minute.minute % every == 0:
                out.append(minute)
            minute += dt.timedelta(minutes=1)
    return out


def due_minutes(day: dt.date, every: int = 1,
                now: Optional[dt.datetime] = None) -> list[dt.datetime]:
    """The session minutes that should be stored by `now` (naive Asia/Shanghai; None: the whole
    day): on the live day, those whose tick is at least DUE_AFTER old."""
    minutes = session_minutes(day, every)
    if now is None:
        return minutes
    return [m for m in minutes if m + DUE_AFTER <= now]


def segment_start(now: dt.datetime) -> Optional[dt.datetime]:
    """The start of the session segment `now` (naive Asia/Shanghai) lies in; None outside the
    session (before 09:25, at lunch, after 15:00, a closed day)."""
    if not tc.is_trading_day(now.date()):
        return None
    for start, end in SEGMENTS:
        begin = dt.datetime.combine(now.date(), start)
        if begin <= now < dt.datetime.combine(now.date(), end) + dt.timedelta(minutes=1):
            return begin
    return None
