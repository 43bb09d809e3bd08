"""Which trading day a snapshot belongs to: the data's own clock, checked against XSHG.

- The date is that of the latest f124 (each row's last update): at 08:00, or on a holiday,
  "today" still holds the last session, whose f124 says so. Older f124 values are normal (a
  suspended stock keeps the time of its last trade).
- An f124 later than the fetch (beyond a little clock skew), or on a day without a session while
  other rows are on one, is a stray value: left out of the date, counted and logged. When most
  rows are "in the future", our clock is behind the feed: an error, not yesterday's date.
- The resulting date must be a trading day; otherwise TradeDateError names the table and both
  dates, and nothing is stored under a wrong date.
- Without any usable f124 the date is the latest trading day at the fetch time (Asia/Shanghai).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping

from findata_assets import trading_calendar
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.errors import TradeDateError, ValueParseError
from findata_assets.eastmoney.parsing import updated_at_parser
from findata_assets.eastmoney.snapshot import SHANGHAI

log = logging.getLogger("findata.eastmoney")

# Our clock against the exchange feed's: an f124 this far past the fetch is still believed.
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class DataDate:
    trade_date: date
    updated_at: datetime | None  # latest believable f124; None: no row had one
    fallback: bool  # True: no usable f124, the date comes from the calendar at fetched_at
    stray: int  # rows whose f124 lies after fetched_at (+ skew)


def resolve(rows: Iterable[Mapping], table: str, fetched_at: datetime) -> DataDate:
    stamps: list[tuple[object, datetime]] = []  # (code, f124) of every row that has one
    stamp_of = updated_at_parser(table)  # f124 values repeat: each is parsed once
    for row in rows:
        try:
            stamp = stamp_of(row)
        except ValueParseError:
            continue  # a garbage cell: parse_table reports it with the table
        if stamp is not None:
            stamps.append((row.get(catalog.CODE_FIELD), stamp))
    limit = fetched_at + CLOCK_SKEW
    future = [(code, t) for code, t in stamps if t > limit]
    if future and len(future) * 2 > len(stamps):  # not strays: our clock is behind the feed
        raise TradeDateError(
            f"{table}: {len(future)} of {len(stamps)} rows carry an f124 later than the fetch "
            f"time {_minute(fetched_at)} (e.g. {_minute(future[0][1])}): this machine's clock "
            f"is behind the exchange feed's; fix the clock (NTP) and fetch again")
    past = [(code, t) for code, t in stamps if t <= limit]
    # the calendar once per distinct day, not once per row (5,000 rows share a day or two)
    trading = {day: trading_calendar.is_trading_day(day) for day in {_day(t) for _, t in past}}
    dated = [(code, t) for code, t in past if trading[_day(t)]]
    off_calendar = [(code, t) for code, t in past if not trading[_day(t)]]
    if off_calendar and len(off_calendar) * 2 >= len(past):  # not strays: the data's own date
        latest = max(t for _, t in off_calendar)
        day = latest.astimezone(SHANGHAI).date()
        why = trading_calendar.holiday_name(day) or day.strftime("%A")
        raise TradeDateError(
            f"{table}: the data's latest update (f124) is {_minute(latest)}, on {day} which is "
            f"not an XSHG trading day ({why}); fetched at {_minute(fetched_at)}. Not stored: "
            f"the rows would be filed under a day without a session (if the exchange did open, "
            f"the trading calendar is wrong: see {trading_calendar.HOLIDAYS_FILE_ENV} and the "
            f"exchange_calendars version)")
    # f124 values after the fetch, or on a day without a session while others are on one
    strays = future + off_calendar
    if strays:
        code, stamp = strays[0]
        log.warning("%s: %d row(s) carry a stray f124 (after the fetch time %s, or on a day "
                    "without a session; first: %s at %s); ignored for the trade date", table,
                    len(strays), _minute(fetched_at), code, _minute(stamp))
    if not dated:
        day = trading_calendar.latest_trading_day(fetched_at)
        log.warning("%s: no row carries a usable f124; trade date %s is the latest trading day "
                    "at the fetch time %s", table, day, _minute(fetched_at))
        return DataDate(day, None, True, len(strays))
    latest = max(t for _, t in dated)
    return DataDate(latest.astimezone(SHANGHAI).date(), latest, False, len(strays))


def _day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _minute(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
