"""Trading days, sessions and daily partitions against the official 2025-2026 schedule."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pytest

from findata_assets import trading_calendar as tc
from findata_assets.defs.trading_days import trading_day_partitions

HISTORY_START = date(2025, 1, 2)  # a user with history from 2025 on

TZ = tc.TZ


@pytest.fixture(autouse=True)
def _no_operator_holidays(monkeypatch):
    monkeypatch.delenv(tc.HOLIDAYS_ENV, raising=False)
    monkeypatch.delenv(tc.HOLIDAYS_FILE_ENV, raising=False)
    monkeypatch.setattr(tc, "_warned_beyond", set())


@pytest.mark.parametrize("day,expected", [
    (date(2026, 3, 2), True),      # an ordinary Monday
    (date(2026, 9, 30), True),     # the last day before the National Day break
    (date(2026, 10, 1), False),    # National Day
    (date(2026, 10, 7), False),
    (date(2026, 10, 8), True),
    (date(2026, 2, 16), False),    # Spring Festival
    (date(2026, 2, 14), False),    # make-up working Saturday (调休): exchange closed
    (date(2026, 2, 28), False),    # make-up working Saturday
    (date(2026, 10, 10), False),   # make-up working Saturday after National Day
    (date(2026, 9, 20), False),    # make-up working Sunday
    (date(2026, 3, 7), False),     # an ordinary Saturday
    (date(2025, 1, 2), True),
])
def test_is_trading_day(day, expected):
    assert tc.is_trading_day(day) is expected


def test_makeup_days_are_weekends_and_never_trading_days():
    for day in tc.MAKEUP_WORKDAYS:
        assert day.weekday() >= 5 and not tc.is_trading_day(day), day


def test_every_closed_weekday_in_the_named_years_has_a_specific_name():
    # Fails if exchange_calendars and our name table drift apart.
    d = date(2025, 1, 1)
    while d <= date(2026, 12, 31):
        if d.weekday() < 5 and not tc.is_trading_day(d):
            assert tc.holiday_name(d) != "an exchange holiday", d
        d += timedelta(days=1)
    assert tc.holiday_name(date(2026, 10, 1)) == "National Day"
    assert tc.holiday_name(date(2026, 3, 2)) is None


def test_trading_days_and_neighbours():
    october = tc.trading_days(date(2026, 10, 1), date(2026, 10, 31))
    assert len(october) == 17 and october[0] == date(2026, 10, 8)
    assert tc.previous_trading_day(date(2026, 10, 8)) == date(2026, 9, 30)
    assert tc.next_trading_day(date(2026, 9, 30)) == date(2026, 10, 8)


@pytest.mark.parametrize("now,expected", [
    (datetime(2026, 10, 8, 9, 0, tzinfo=TZ), date(2026, 9, 30)),  # before the auction result
    (datetime(2026, 10, 8, 9, 25, tzinfo=TZ), date(2026, 10, 8)),
    (datetime(2026, 10, 10, 12, 0, tzinfo=TZ), date(2026, 10, 9)),  # make-up Saturday
    (datetime(2026, 10, 8, 1, 30), date(2026, 9, 30)),  # naive = Shanghai wall time
])
def test_latest_trading_day(now, expected):
    assert tc.latest_trading_day(now) == expected


def test_latest_trading_day_converts_other_timezones():
    # 2026-10-08 02:00 UTC is 10:00 in Shanghai.
    from zoneinfo import ZoneInfo
    assert tc.latest_trading_day(datetime(2026, 10, 8, 2, 0, tzinfo=ZoneInfo("UTC"))) == \
        date(2026, 10, 8)


@pytest.mark.parametrize("hhmm,kind,refresh,words", [
    ("09:00", "before_open", False, "before the open"),
    ("09:20", "auction", False, "auction"),
    ("09:25", "auction", True, "auction"),
    ("09:30", "open", True, "in session"),
    ("11:30", "open", True, "in session"),
    ("11:31", "lunch", False, "lunch"),
    ("12:59", "lunch", False, "lunch"),
    ("13:00", "open", True, "in session"),
    ("15:00", "open", True, "in session"),
    ("15:01", "after_close", False, "after the close"),
    ("15:10", "after_close", False, "after the close"),
])
def test_session_state_on_a_trading_day(hhmm, kind, refresh, words):
    h, m = map(int, hhmm.split(":"))
    state = tc.session_state(datetime(2026, 3, 2, h, m, tzinfo=TZ))
    assert (state.kind, state.refresh) == (kind, refresh)
    assert words in state.reason and state.day == date(2026, 3, 2)


def test_session_state_closed_days_say_why():
    holiday = tc.session_state(datetime(2026, 10, 1, 10, 0, tzinfo=TZ))
    assert holiday.kind == "holiday" and not holiday.refresh
    assert holiday.reason == "2026-10-01 is a holiday (National Day)"
    saturday = tc.session_state(datetime(2026, 3, 7, 10, 0, tzinfo=TZ))
    assert saturday.kind == "weekend" and saturday.reason.startswith("Saturday")
    makeup = tc.session_state(datetime(2026, 2, 28, 10, 0, tzinfo=TZ))
    assert makeup.kind == "weekend" and "make-up working day for Spring Festival" in makeup.reason


def test_beyond_the_horizon_falls_back_and_warns_once(caplog):
    assert tc.calendar_horizon() == date(2026, 12, 31)
    assert tc.is_beyond_horizon(date(2027, 1, 1)) and not tc.is_beyond_horizon(date(2026, 12, 31))
    with caplog.at_level(logging.WARNING, logger=tc.__name__):
        assert tc.is_trading_day(date(2027, 1, 1))  # a Friday: weekday fallback
        assert not tc.is_trading_day(date(2027, 1, 2))  # Saturday, still closed
        tc.is_trading_day(date(2027, 1, 4))
        state = tc.session_state(datetime(2027, 1, 4, 10, 0, tzinfo=TZ))
    assert state.kind == "open" and state.beyond_horizon and "horizon" in state.reason
    warnings = [r for r in caplog.records if "horizon" in r.getMessage()]
    assert len(warnings) == 1 and "FINDATA_HOLIDAYS" in warnings[0].getMessage()


def test_operator_holidays_file_and_env(tmp_path, monkeypatch, caplog):
    path = tmp_path / "holidays.txt"
    path.write_text("# 2027 (operator-supplied)\n2027-01-01 New Year's Day\nnot-a-date\n"
                    "2027-02-08 Spring Festival\n")
    monkeypatch.setenv(tc.HOLIDAYS_FILE_ENV, str(path))
    monkeypatch.setenv(tc.HOLIDAYS_ENV, "2027-02-09, 2027-02-10")
    with caplog.at_level(logging.ERROR, logger=tc.__name__):
        assert not tc.is_trading_day(date(2027, 1, 1))
    assert "not-a-date" in caplog.text  # reported, not fatal
    assert not tc.is_trading_day(date(2027, 2, 9))
    assert tc.is_trading_day(date(2027, 1, 4))
    state = tc.session_state(datetime(2027, 2, 8, 10, 0, tzinfo=TZ))
    assert state.kind == "holiday" and "Spring Festival" in state.reason
    partitions = trading_day_partitions(HISTORY_START)
    keys = partitions.get_partition_keys(current_time=datetime(2027, 2, 12, 10, tzinfo=TZ))
    assert "2027-01-01" not in keys and "2027-02-09" not in keys and "2027-01-04" in keys


def test_missing_holidays_file_does_not_crash(tmp_path, monkeypatch):
    monkeypatch.setenv(tc.HOLIDAYS_FILE_ENV, str(tmp_path / "absent.txt"))
    assert tc.is_trading_day(date(2027, 1, 1))


def test_trading_day_partitions_are_the_trading_days():
    pdef = trading_day_partitions(HISTORY_START)
    assert pdef.timezone == "Asia/Shanghai" and pdef.fmt == "%Y-%m-%d"
    now = datetime(2026, 10, 8, 10, 0, tzinfo=TZ)
    keys = pdef.get_partition_keys(current_time=now)
    expected = [d.isoformat() for d in tc.trading_days(date(2025, 1, 2), date(2026, 10, 8))]
    assert keys == expected  # holidays excluded, today's partition exists during the session
    saturday = pdef.get_partition_keys(current_time=datetime(2026, 10, 10, 10, tzinfo=TZ))
    assert saturday[-1] == "2026-10-09"


def test_the_session_cache_equals_exchange_calendars_and_survives_corruption(tmp_path,
                                                                            monkeypatch):
    import importlib.metadata

    import exchange_calendars

    cal = exchange_calendars.get_calendar("XSHG")
    truth = (cal.first_session.date(), cal.last_session.date(),
             frozenset(ts.date() for ts in cal.sessions))
    monkeypatch.setenv(tc.CALENDAR_CACHE_ENV, str(tmp_path))
    cached = tc._xshg.__wrapped__  # the uncached function: each call reads or writes the file
    assert cached() == truth  # computed, then written
    [cache] = tmp_path.glob("xshg-sessions-*.json")
    # keyed by the package version: an upgrade (new holidays) never reads an old cache
    assert cache.name == f"xshg-sessions-{importlib.metadata.version('exchange_calendars')}.json"
    assert cached() == truth  # read back from the file
    cache.write_text("{not json")
    assert cached() == truth  # a broken cache is recomputed (and rewritten), never trusted
    assert cached() == truth and cache.read_text().startswith("{\"first\"")
