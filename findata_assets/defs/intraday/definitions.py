"""The intraday area's definitions: the two assets, their job, and the sensor that feeds them
after every refresh run the daemon launched (the CLI runs the job itself, see cli/main.py)."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.metadata_keys import CLI_TAG
from findata_assets.defs.intraday.assets import build_intraday_assets
from findata_assets.defs.refresh.schedules import TRADE_DATE_TAG
from findata_assets.settings import FindataSettings
from findata_assets.storage.intraday import TABLES

INTRADAY_JOB_NAME = "intraday_job"

intraday_job = dg.define_asset_job(
    name=INTRADAY_JOB_NAME, selection=list(TABLES.values()),
    description="The day's intraday tables brought up to date with the archive (partition key "
                "YYYY-MM-DD); a past day is rebuilt from its archived snapshots.")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="intraday_after_refresh",
                      monitored_jobs=list(FAMILY_JOB_DEFS.values()), request_job=intraday_job,
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="After each refresh run of the daemon: the new snapshots "
                                  "into the day's intraday tables.")
def intraday_after_refresh(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    day = run.tags.get(TRADE_DATE_TAG)
    if run.tags.get(CLI_TAG) or not day:  # the CLI feeds its own cycles
        return dg.SkipReason(f"run {run.run_id[:8]}: fed by its CLI or without a trade date")
    return dg.RunRequest(run_key=f"intraday:{run.run_id}", partition_key=day)


def definitions(settings: FindataSettings,
                trading_days: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=build_intraday_assets(trading_days), jobs=[intraday_job],
                          sensors=[intraday_after_refresh])
