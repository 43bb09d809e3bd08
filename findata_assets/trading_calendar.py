"""Shanghai exchange trading days and sessions (Asia/Shanghai), shared by schedules and assets.

Domain code: no Dagster here (the daily partitions are built in `defs/trading_days.py`).

Source of truth: the XSHG sessions of `exchange_calendars` (weekdays minus Chinese public holidays).
Make-up working days (调休) that fall on a Saturday or Sunday are NOT trading days: the exchange
stays closed on weekends whatever the State Council's work schedule says.

Past the calendar's horizon (`calendar_horizon()`, 2026-12-31 for exchange_calendars 4.13) we never
crash: a day is a trading day when it is a weekday and not an operator-supplied holiday, from
`FINDATA_HOLIDAYS_FILE` (lines `YYYY-MM-DD [name]`, `#` comments) and/or `FINDATA_HOLIDAYS`
(`YYYY-MM-DD,YYYY-MM-DD,...`). A loud warning is logged once per process; `is_beyond_horizon(d)`
lets a sensor alert the operator to publish next year's holidays (or upgrade exchange_calendars).
Operator holidays also apply inside the horizon, as extra closures (e.g. a typhoon day).

Holiday names: exchange_calendars carries none for XSHG, so `HOLIDAY_NAMES` below names the
2025-2026 closures (the years our partitions cover); any other closed weekday is named generically
("an exchange holiday").

Sessions: 09:30-11:30 and 13:00-15:00, compared at minute resolution with both ends included, so
the 11:30 and 15:00 ticks run and capture each half-session's final figures. The opening call
auction (09:15-09:25) is kind "auction"; from 09:25 its result is published and Eastmoney's
tables move, so `SessionState.refresh` is True from 09:25 (the 09:25-09:29 ticks run), False
before.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from findata_assets import environment
from findata_assets.settings.operations import (  # noqa: F401 (the calendar's settings)
    CALENDAR_CACHE_ENV, HOLIDAYS_ENV, HOLIDAYS_FILE_ENV, CalendarSettings)

log = logging.getLogger(__name__)

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
# China keeps no daylight saving: a fixed +08:00 equals Asia/Shanghai and converts faster, for
# the hot paths (rendering a table's timestamps, the fake's per-row stamps)
TZ_FIXED = timezone(timedelta(hours=8), TZ_NAME)

AUCTION_START, AUCTION_RESULT = time(9, 15), time(9, 25)
MORNING = (time(9, 30), time(11, 30))
AFTERNOON = (time(13, 0), time(15, 0))

SessionKind = Literal["open", "auction", "lunch", "before_open", "after_close", "weekend", "holiday"]

# Exchange closures by name (State Council notices for 2025 and 2026), inclusive ranges. Weekend
# days inside a range are harmless: weekends are closed anyway.
HOLIDAY_NAMES: list[tuple[date, date, str]] = [
    (date(2025, 1, 1), date(2025, 1, 1), "New Year's Day"),
    (date(2025, 1, 28), date(2025, 2, 4), "Spring Festival"),
    (date(2025, 4, 4), date(2025, 4, 6), "Qingming Festival"),
    (date(2025, 5, 1), date(2025, 5, 5), "Labour Day"),
    (date(2025, 5, 31), date(2025, 6, 2), "Dragon Boat Festival"),
    (date(2025, 10, 1), date(2025, 10, 8), "National Day and Mid-Autumn Festival"),
    (date(2026, 1, 1), date(2026, 1, 3), "New Year's Day"),
    (date(2026, 2, 15), date(2026, 2, 23), "Spring Festival"),
    (date(2026, 4, 4), date(2026, 4, 6), "Qingming Festival"),
    (date(2026, 5, 1), date(2026, 5, 5), "Labour Day"),
    (date(2026, 6, 19), date(2026, 6, 21), "Dragon Boat Festival"),
    (date(2026, 9, 25), date(2026, 9, 27), "Mid-Autumn Festival"),
    (date(2026, 10, 1), date(2026, 10, 7), "National Day"),
]
# Weekend make-up working days (调休): offices work, the exchange does not. Used for the reason.
MAKEUP_WORKDAYS: dict[date, str] = {
    date(2025, 1, 26): "Spring Festival", date(2025, 2, 8): "Spring Festival",
    date(2025, 4, 27): "Labour Day", date(2025, 9, 28): "National Day",
    date(2025, 10, 11): "National Day",
    date(2026, 1, 4): "New Year's Day", date(2026, 2, 14): "Spring Festival",
    date(2026, 2, 28): "Spring Festival", date(2026, 5, 9): "Labour Day",
    date(2026, 9, 20): "National Day", date(2026, 10, 10): "National Day",
}


@dataclass(frozen=True)
class SessionState:
    kind: SessionKind
    reason: str
    day: date
    refresh: bool  # True when a refresh tick at this instant should run
    beyond_horizon: bool = False


# --- the calendar -------------------------------------------------------------------------------

@functools.cache
def _xshg() -> tuple[date, date, frozenset[date]]:
    """(first session, last session, every session) of XSHG, from exchange_calendars.

    Importing exchange_calendars (pandas) costs ~0.5 s, paid at every code-location load (each
    CLI call, each run worker, each K8s run pod) because the daily partitions need the calendar.
    Its sessions only change with the package's version, so they are cached per version in
    CALENDAR_CACHE_DIR; an unwritable cache just means computing them each time.
    """
    cache = _calendar_cache_file()
    if cache is not None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads(cache.read_text())
            sessions = frozenset(map(date.fromisoformat, data["sessions"]))
            return date.fromisoformat(data["first"]), date.fromisoformat(data["last"]), sessions
    import exchange_calendars  # slow import (pandas): only when the cache cannot serve

    cal = exchange_calendars.get_calendar("XSHG")
    sessions = frozenset(ts.date() for ts in cal.sessions)
    first, last = cal.first_session.date(), cal.last_session.date()
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"first": first.isoformat(), "last": last.isoformat(),
                                       "sessions": sorted(d.isoformat() for d in sessions)}))
            tmp.replace(cache)  # atomic: a concurrent reader sees the old file or the new one
    return first, last, sessions


def _calendar_cache_file() -> Path | None:
    try:
        version = importlib.metadata.version("exchange_calendars")
    except importlib.metadata.PackageNotFoundError:
        return None
    return _settings().cache_dir / f"xshg-sessions-{version}.json"


def calendar_horizon() -> date:
    """The last day exchange_calendars knows; later days use the weekday fallback."""
    return _xshg()[1]


def is_beyond_horizon(d: date) -> bool:
    return d > calendar_horizon()


_warned_beyond: set[int] = set()


def _warn_beyond(d: date) -> None:
    if d.year in _warned_beyond:
        return
    _warned_beyond.add(d.year)
    supplied = sorted(h for h in operator_holidays() if h.year == d.year)
    log.warning(
        "!!! TRADING CALENDAR: %s is past the exchange calendar's horizon (%s). Falling back to "
        "weekdays minus operator holidays (%d supplied for %d via %s / %s). Publish next year's "
        "holidays there or upgrade exchange_calendars, or the schedules will run on holidays. !!!",
        d, calendar_horizon(), len(supplied), d.year, HOLIDAYS_FILE_ENV, HOLIDAYS_ENV)


HORIZON_WARNING_DAYS = 45  # warn this long before the exchange calendar runs out


def today() -> date:
    """Today's date in Shanghai (the seam tests move)."""
    return datetime.now(TZ).date()


def horizon_problem(today: date) -> tuple[str, list[str]] | None:
    """(title, lines) when `today` is past the calendar's horizon, or within
    HORIZON_WARNING_DAYS of it with no holidays supplied for the next year; else None.
    The schedules' alert sensor and the tables' calendar check both say it."""
    horizon = calendar_horizon()
    year = today.year if today > horizon else horizon.year + 1
    supplied = [d for d in operator_holidays() if d.year == year]
    how = (f"supply {year}'s exchange holidays in {HOLIDAYS_FILE_ENV} (YYYY-MM-DD [name] "
           f"lines) or {HOLIDAYS_ENV}, or upgrade exchange_calendars")
    if today > horizon:
        return ("findata trading calendar: past its horizon",
                [f"today {today} is past the exchange calendar's horizon {horizon}",
                 f"trading days fall back to weekdays minus {len(supplied)} operator holidays",
                 how])
    if (horizon - today).days <= HORIZON_WARNING_DAYS and not supplied:
        return ("findata trading calendar: horizon approaching",
                [f"the exchange calendar ends {horizon} ({(horizon - today).days} days left)",
                 how])
    return None


def operator_holidays() -> dict[date, str]:
    """Holidays from FINDATA_HOLIDAYS_FILE and FINDATA_HOLIDAYS; a bad line is logged, not fatal."""
    settings = _settings()
    path = settings.holidays_file
    return dict(_parse_holidays(path, _mtime(path), settings.holidays))


def _settings() -> CalendarSettings:
    return CalendarSettings.from_env(environment.current())


def _mtime(path: str) -> float | None:
    try:
        return Path(path).stat().st_mtime if path else None
    except OSError:
        return None


@functools.lru_cache(maxsize=8)  # keyed on the file's mtime: edits are picked up without restart
def _parse_holidays(path: str, mtime: float | None, inline: str) -> tuple[tuple[date, str], ...]:
    entries: list[tuple[str, str]] = []
    if path:
        if mtime is None:
            log.error("%s=%s does not exist; no operator holidays loaded from it",
                      HOLIDAYS_FILE_ENV, path)
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                log.error("cannot read %s=%s: %s", HOLIDAYS_FILE_ENV, path, exc)
                text = ""
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    day, _, name = line.partition(" ")
                    entries.append((day, name.strip()))
    entries += [(item.strip(), "") for item in inline.split(",") if item.strip()]
    out = []
    for day, name in entries:
        try:
            out.append((date.fromisoformat(day), name or "operator-supplied holiday"))
        except ValueError:
            log.error("ignoring malformed holiday %r (expected YYYY-MM-DD)", day)
    return tuple(out)


def is_trading_day(d: date) -> bool:
    if isinstance(d, datetime):
        d = d.date()
    if d.weekday() >= 5 or d in operator_holidays():
        return False
    first, last, sessions = _xshg()
    if first <= d <= last:
        return d in sessions
    if d > last:
        _warn_beyond(d)
    return True  # outside the known range: weekday minus operator holidays


def holiday_name(d: date) -> str | None:
    """Why a weekday is closed, or None when it is a trading day (or a weekend)."""
    if d.weekday() >= 5 or is_trading_day(d):
        return None
    for start, end, name in HOLIDAY_NAMES:
        if start <= d <= end:
            return name
    return operator_holidays().get(d, "an exchange holiday")


def trading_days(start: date, end: date) -> list[date]:
    """Trading days in [start, end], both included."""
    days, d = [], start
    while d <= end:
        if is_trading_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


def previous_trading_day(d: date) -> date:
    """The last trading day strictly before d."""
    d -= timedelta(days=1)
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def next_trading_day(d: date) -> date:
    """The first trading day strictly after d."""
    d += timedelta(days=1)
    while not is_trading_day(d):
        d += timedelta(days=1)
    return d


def _local(now: datetime) -> datetime:
    # Naive datetimes are taken as Asia/Shanghai wall time.
    return now.replace(tzinfo=TZ) if now.tzinfo is None else now.astimezone(TZ)


def latest_trading_day(now: datetime) -> date:
    """The trade date of the freshest data at `now`: today from the 09:25 auction result on a
    trading day, else the previous trading day."""
    local = _local(now)
    today = local.date()
    if is_trading_day(today) and local.time() >= AUCTION_RESULT:
        return today
    return previous_trading_day(today)


# --- sessions -----------------------------------------------------------------------------------

def session_state(now: datetime) -> SessionState:
    local = _local(now)
    day = local.date()
    t = local.time().replace(second=0, microsecond=0)  # minute resolution: 15:00:xx is the close
    beyond = is_beyond_horizon(day)
    weekday = local.strftime("%A")

    def state(kind: SessionKind, reason: str, refresh: bool = False) -> SessionState:
        note = ("" if not beyond else
                f" [beyond the exchange calendar's horizon {calendar_horizon()}: weekday fallback]")
        return SessionState(kind, reason + note, day, refresh, beyond)

    if day.weekday() >= 5:
        makeup = MAKEUP_WORKDAYS.get(day)
        extra = (f" ({day} is a make-up working day for {makeup}, but the exchange stays closed)"
                 if makeup else "")
        return state("weekend", f"{weekday}: the exchange is closed on weekends{extra}")
    if not is_trading_day(day):
        return state("holiday", f"{day} is a holiday ({holiday_name(day)})")
    if t < AUCTION_START:
        return state("before_open", f"before the open: {day} trading starts at 09:15 (auction)")
    if t < MORNING[0]:
        return state("auction", f"opening call auction on {day} (result at 09:25)",
                     refresh=t >= AUCTION_RESULT)
    if t <= MORNING[1] or AFTERNOON[0] <= t <= AFTERNOON[1]:
        return state("open", f"{day} {t:%H:%M} is in session", refresh=True)
    if t < AFTERNOON[0]:
        return state("lunch", f"lunch break on {day} (11:30-13:00)")
    return state("after_close", f"after the close: {day} trading ended at 15:00")


def closed_weekdays(start: date, end: date) -> list[date]:
    """Weekdays in [start, end] on which the exchange is closed (holidays)."""
    out, d = [], start
    while d <= end:
        if d.weekday() < 5 and not is_trading_day(d):
            out.append(d)
        d += timedelta(days=1)
    return out
