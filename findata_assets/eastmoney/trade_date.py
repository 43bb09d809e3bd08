"""Which trading day a snapshot belongs to: the data's own clock, checked against XSHG.

- The date is that of the latest f124 (each row's last update): at 08:00, or on a holiday,
  "today" still holds the last session, whose f124 says so. Older f124 values are normal (a
  suspended stock keeps the time of its last trade).
- An f124 later than the fetch (beyond a little clock skew) is a stray value: it is left out of
  the date, counted and logged, never allowed to move the rows to a day that has not come.
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
from findata_assets.eastmoney.parsing import updated_at
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
    latest, stray, first_stray = None, 0, None
    limit = fetched_at + CLOCK_SKEW
    seen: dict[object, datetime | None] = {}  # f124 values repeat: parse each once
    for row in rows:
        raw = row.get(catalog.UPDATED_AT_FIELD)
        key = raw if isinstance(raw, (int, float, str, type(None))) else id(row)
        if key not in seen:
            try:
                seen[key] = updated_at(row, table)
            except ValueParseError:
                seen[key] = None  # a garbage cell: the parser reports it with the table
        stamp = seen[key]
        if stamp is None:
            continue
        if stamp > limit:
            stray += 1
            first_stray = first_stray or (row.get(catalog.CODE_FIELD), stamp)
        elif latest is None or stamp > latest:
            latest = stamp
    if stray:
        code, stamp = first_stray
        log.warning("%s: %d row(s) carry an f124 after the fetch time %s (first: %s at %s); "
                    "ignored for the trade date", table, stray, _minute(fetched_at), code,
                    _minute(stamp))
    if latest is None:
        day = trading_calendar.latest_trading_day(fetched_at)
        log.warning("%s: no row carries a usable f124; trade date %s is the latest trading day "
                    "at the fetch time %s", table, day, _minute(fetched_at))
        return DataDate(day, None, True, stray)
    day = latest.astimezone(SHANGHAI).date()
    if not trading_calendar.is_trading_day(day):
        why = trading_calendar.holiday_name(day) or day.strftime("%A")
        raise TradeDateError(
            f"{table}: the data's latest update (f124) is {_minute(latest)}, on {day} which is "
            f"not an XSHG trading day ({why}); fetched at {_minute(fetched_at)}. Not stored: "
            f"the rows would be filed under a day without a session (if the exchange did open, "
            f"the trading calendar is wrong: see {trading_calendar.HOLIDAYS_FILE_ENV} and the "
            f"exchange_calendars version)")
    return DataDate(day, latest, False, stray)


def _minute(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
