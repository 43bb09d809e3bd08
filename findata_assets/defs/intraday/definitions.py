"""The intraday area's definitions: the two intraday assets and their job, and the two history
assets (a closed day as Parquet) with their job and after-close schedule. The live minutes are
written by the refresh runs' own table steps (defs/eastmoney/intraday_minute.py); the intraday
job brings a day up to date with the archive, or rebuilds it, from the UI or as a backfill."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.intraday.assets import build_intraday_assets
from findata_assets.defs.intraday.history import (
    build_history_assets, build_history_schedule, history_job)
from findata_assets.defs.code_references import with_code_references
from findata_assets.defs.intraday.stall_alert import stall_alert_sensor
from findata_assets.run_names import INTRADAY_JOB_NAME
from findata_assets.settings import FindataSettings
from findata_assets.storage.intraday import TABLES

intraday_job = dg.define_asset_job(
    name=INTRADAY_JOB_NAME, selection=list(TABLES.values()),
    description="The day's intraday tables brought up to date with the archive (partition key "
                "YYYY-MM-DD); a past day is rebuilt from its archived snapshots.")


def definitions(settings: FindataSettings,
                trading_days: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=with_code_references([*build_intraday_assets(trading_days),
                                     *build_history_assets(trading_days)], settings),
        jobs=[intraday_job, history_job],
        schedules=[build_history_schedule(settings.refresh.schedules_running)],
        sensors=[stall_alert_sensor])
