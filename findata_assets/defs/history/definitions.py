"""The daily history area: the three daily assets (one step), their job, the lane's resource,
and the schedule that files each day after the close (from the day's close snapshot, plus one
request for the market)."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.code_references import with_code_references
from findata_assets.defs.history.assets import build_history_asset, history_job
from findata_assets.defs.history.resources import HistoryResource
from findata_assets.defs.trading_days import after_close_schedule
from findata_assets.settings import FindataSettings

DAILY_CRON = "40 15 * * 1-5"  # after the close (15:00) and the full refresh (15:10)


def build_daily_schedule(running: bool) -> dg.ScheduleDefinition:
    return after_close_schedule(
        "daily_history_after_close", DAILY_CRON, history_job, running,
        "After the close on trading days: the day's daily history row of every security (from "
        "the close snapshot where it was watched).", "daily")


def definitions(settings: FindataSettings,
                trading_days: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=with_code_references([build_history_asset(trading_days)], settings),
        jobs=[history_job],
        schedules=[build_daily_schedule(settings.refresh.schedules_running)],
        resources={"history": HistoryResource.from_settings(settings)})
