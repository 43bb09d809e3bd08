"""Unit tests of trade_date.resolve: the data's own date, checked against the XSHG calendar."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

import pytest

from findata_assets.eastmoney import trade_date
from findata_assets.eastmoney.errors import TradeDateError
from findata_assets.eastmoney.snapshot import SHANGHAI as SH


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def rows(*stamps) -> list[dict]:
    return [{"f12": f"{i:06d}", "f124": int(s.timestamp()) if isinstance(s, datetime) else s}
            for i, s in enumerate(stamps)]


def test_the_date_is_the_latest_f124_in_shanghai_and_older_ones_are_normal():
    # 00:30 in Shanghai is the previous day in UTC: the date must come from Shanghai time
    got = trade_date.resolve(rows(at(2025, 10, 27, 0, 30), "-", at(2025, 10, 24, 15, 0)),
                             "t", at(2025, 10, 27, 1, 0))
    assert got.trade_date == date(2025, 10, 27) and not got.fallback and got.stray == 0
    assert got.updated_at == at(2025, 10, 27, 0, 30)
    assert got.updated_at.utcoffset() == timedelta(hours=8)


def test_before_the_open_the_date_is_the_previous_session():
    got = trade_date.resolve(rows(at(2025, 10, 27, 15, 0, 3)), "t", at(2025, 10, 28, 8, 0))
    assert got.trade_date == date(2025, 10, 27)


def test_a_stray_future_f124_does_not_move_the_date_and_is_counted(caplog):
    fetched = at(2026, 11, 30, 10, 30)
    stamps = [at(2026, 11, 30, 10, 29, 58)] * 3 + [at(2026, 12, 1, 9, 31)]
    with caplog.at_level(logging.WARNING, "findata.eastmoney"):
        got = trade_date.resolve(rows(*stamps), "stock_flow_all_1d", fetched)
    assert got.trade_date == date(2026, 11, 30) and got.stray == 1
    assert got.updated_at == at(2026, 11, 30, 10, 29, 58)
    assert "stock_flow_all_1d: 1 row(s) carry a stray f124 (after the fetch time" in caplog.text
    # a minute of clock skew between us and the feed is not a stray value
    skewed = trade_date.resolve(rows(at(2026, 11, 30, 10, 31)), "t", fetched)
    assert skewed.stray == 0 and skewed.updated_at == at(2026, 11, 30, 10, 31)


@pytest.mark.parametrize("day,why", [
    (date(2026, 10, 1), "National Day"), (date(2026, 11, 28), "Saturday")])
def test_a_date_that_is_not_a_trading_day_is_a_clear_error(day, why):
    stamp = datetime.combine(day, datetime.min.time(), SH) + timedelta(hours=10)
    with pytest.raises(TradeDateError) as info:
        trade_date.resolve(rows(stamp), "stock_flow_all_1d", stamp + timedelta(minutes=1))
    message = str(info.value)
    assert message.startswith("stock_flow_all_1d: ") and "\n" not in message
    assert f"{day} which is not an XSHG trading day ({why})" in message
    assert f"fetched at {day} 10:01" in message


@pytest.mark.parametrize("fetched,expected", [
    (at(2026, 10, 3, 10, 0), date(2026, 9, 30)),   # National Day week: the last session
    (at(2026, 11, 30, 8, 0), date(2026, 11, 27)),  # Monday before the open: Friday
    (at(2026, 11, 30, 10, 0), date(2026, 11, 30)),  # in session
    (datetime(2026, 11, 29, 20, 0, tzinfo=timezone.utc), date(2026, 11, 27)),  # 04:00 Mon
])
def test_without_f124_the_date_is_the_latest_trading_day_at_the_fetch(fetched, expected,
                                                                     caplog):
    with caplog.at_level(logging.WARNING, "findata.eastmoney"):
        got = trade_date.resolve(rows("-", None, "garbage"), "t", fetched)
    assert (got.trade_date, got.fallback, got.updated_at) == (expected, True, None)
    assert "no row carries a usable f124" in caplog.text


def test_one_row_dated_on_a_day_without_a_session_is_a_stray_not_the_date():
    stamps = [at(2026, 11, 27, 15, 0)] * 5 + [at(2026, 11, 28, 10, 0)]  # a Saturday test quote
    got = trade_date.resolve(rows(*stamps), "t", at(2026, 11, 29, 12, 0))
    assert got.trade_date == date(2026, 11, 27) and got.stray == 1


def test_most_rows_after_the_fetch_mean_our_clock_is_behind_an_error_not_yesterday():
    stamps = [at(2026, 11, 30, 9, 20)] * 8 + [at(2026, 11, 27, 15, 0)] * 2  # suspended: Friday
    with pytest.raises(TradeDateError, match="8 of 10 rows carry an f124 later than the fetch "
                                             "time 2026-11-30 09:16.*clock is behind"):
        trade_date.resolve(rows(*stamps), "stock_flow_all_1d", at(2026, 11, 30, 9, 16))
