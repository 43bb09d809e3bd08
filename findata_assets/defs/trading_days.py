"""The daily partitions of the analysis and the report: Shanghai trading days only."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

from findata_assets import trading_calendar as tc

PARTITIONS_START = date(2025, 1, 2)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def build_trading_day_partitions(until: date | None = None) -> dg.TimeWindowPartitionsDefinition:
    """Weekday daily partitions minus closed weekdays (known holidays up to the horizon, plus
    operator holidays past it). end_offset=1: today's partition exists from midnight on a
    trading day, so the analysis of the day can run right after the close."""
    horizon = tc.calendar_horizon()
    ops = [d for d in tc.operator_holidays() if d > horizon]
    until = until or max([horizon, *ops])
    exclusions = tc.closed_weekdays(PARTITIONS_START, min(until, horizon))
    exclusions += [d for d in sorted(ops) if d.weekday() < 5 and d <= until]
    return dg.TimeWindowPartitionsDefinition(
        start=_midnight(PARTITIONS_START),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=tc.TZ_NAME,
        end_offset=1,
        exclusions=[_midnight(d) for d in exclusions],
    )


TRADING_DAY_PARTITIONS = build_trading_day_partitions()
