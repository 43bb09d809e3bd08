"""The daily partitions of the analysis and the report: Shanghai trading days only.

They start where the user's data can start, so the UI's "missing" means a day that could have
data: FINDATA_PARTITIONS_START when set, else the earlier of the first trade date in the
warehouse's stock_flow_all_1d and the first day of the daily history (daily_flow). Before
anything is stored the start is the trading day before the latest one (a refresh now collects
the latest, or, just after the open, still the one before). The daily history's own partitions
reach back further, to the oldest session the source still serves (~120 sessions): those are
the days a history backfill can fill. Read when the code location is built.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney import catalog
from findata_assets.redaction import redact
from findata_assets.settings import FindataSettings
from findata_assets.settings.operations import PARTITIONS_START_ENV
from findata_assets.history.sessions import source_first_day
from findata_assets.storage.daily_flow import DailyFlowStore
from findata_assets.storage.warehouse import Warehouse

log = logging.getLogger(__name__)
FIRST_COLLECTED_TABLE = catalog.table("stock", "all", "1d")  # every refresh policy collects it


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def trading_day_partitions(start: date,
                           until: date | None = None) -> dg.TimeWindowPartitionsDefinition:
    """Weekday daily partitions from `start` minus closed weekdays (known holidays up to the
    horizon, plus operator holidays past it). end_offset=1: today's partition exists from
    midnight on a trading day, so the analysis of the day can run right after the close."""
    horizon = tc.calendar_horizon()
    ops = [d for d in tc.operator_holidays() if d > horizon]
    until = until or max([horizon, *ops])
    exclusions = tc.closed_weekdays(start, min(until, horizon))
    exclusions += [d for d in sorted(ops) if d.weekday() < 5 and d <= until]
    return dg.TimeWindowPartitionsDefinition(
        start=_midnight(start),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=tc.TZ_NAME,
        end_offset=1,
        exclusions=[_midnight(d) for d in exclusions],
    )


def partitions_start(settings: FindataSettings, warehouse) -> date:
    """The first trading-day partition of the analysis, the report and the intraday assets (see
    the module docstring)."""
    if settings.calendar.partitions_start:
        return settings.calendar.partitions_start
    collectable = tc.previous_trading_day(tc.latest_trading_day(datetime.now(tc.TZ)))
    try:
        first = warehouse.first_trade_date(FIRST_COLLECTED_TABLE)
        history_first = DailyFlowStore(warehouse).first_day(create=False)
    except Exception as exc:  # the UI must still load with the database down: say what it did
        reason = redact(str(exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log.warning("findata: could not read the first collected day from %s (%s); the "
                    "trading-day partitions start at %s. Set %s=YYYY-MM-DD to not depend on it.",
                    warehouse.describe(), reason, collectable, PARTITIONS_START_ENV)
        return collectable
    return min((d for d in (first, history_first) if d is not None), default=collectable)


def for_settings(settings: FindataSettings) -> tuple[dg.TimeWindowPartitionsDefinition,
                                                     dg.TimeWindowPartitionsDefinition]:
    """The partitions of a code location being built (read once, shared by its assets): the
    trading days of the analysis, report and intraday assets, and those of the daily history,
    which reach back as far as the source keeps each security's daily series (~120 sessions),
    so a backfill of days never collected can be picked in the UI."""
    if settings.calendar.partitions_start:  # set: no database read at all
        start = settings.calendar.partitions_start
    else:
        warehouse = Warehouse(settings.stores.database_url,
                              timeout_s=settings.stores.database_timeout_s)
        try:
            start = partitions_start(settings, warehouse)
        finally:
            warehouse.dispose()
    return trading_day_partitions(start), trading_day_partitions(min(start, source_first_day()))


def after_close_schedule(name: str, cron: str, job, running: bool, description: str,
                         run_key_prefix: str) -> dg.ScheduleDefinition:
    """A schedule that asks for the day's partition of `job` after the close on trading days
    (skipping, with the reason, on a weekday the exchange is closed). On in a deployment
    (FINDATA_SCHEDULES=running), as the refresh schedules are."""

    @dg.schedule(name=name, cron_schedule=cron, execution_timezone=tc.TZ_NAME, job=job,
                 default_status=dg.DefaultScheduleStatus.RUNNING if running
                 else dg.DefaultScheduleStatus.STOPPED, description=description)
    def _after_close(context: dg.ScheduleEvaluationContext):
        day = (context.scheduled_execution_time or datetime.now(tc.TZ)).astimezone(tc.TZ).date()
        if not tc.is_trading_day(day):
            return dg.SkipReason(f"{day} is not a trading day")
        return dg.RunRequest(run_key=f"{run_key_prefix}-{day}", partition_key=day.isoformat())

    return _after_close
