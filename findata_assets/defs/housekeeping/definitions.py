"""`housekeeping_job`: retention over the warehouse, the archive and Dagster's own runs
(findata_assets/housekeeping), after the close on trading days; `dry_run` lists only. What it
deletes, and what it keeps and why, is in its log and its output's metadata.
"""

import datetime as dt

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.deploy.k8s import k8s_run_tags
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.settings import FindataSettings
from findata_assets.settings.retention import RetentionSettings
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.preflight import check_stores

HOUSEKEEPING_JOB_NAME = "housekeeping_job"
HOUSEKEEPING_CRON = "0 17 * * 1-5"  # after the history files (15:30) and any late backfill


class HousekeepingConfig(dg.Config):
    dry_run: bool = False  # list what would go, delete nothing


def _housekeeping_op(retention: RetentionSettings) -> dg.OpDefinition:
    @dg.op(name="housekeeping", out=dg.Out(dg.Nothing),
           description="Delete what the retention settings (FINDATA_RETENTION_*) let go, each "
                       "deletion accounted for first; dry_run lists only.")
    def housekeeping(context: dg.OpExecutionContext, config: HousekeepingConfig,
                     warehouse: WarehouseResource, object_store: ObjectStoreResource):
        # imported here: the plan reads Dagster's run and event storage, a load of modules
        # that only this daily run needs, not every process that builds the code location
        from findata_assets.housekeeping.plan import carry_out, make_plan

        intraday, archive = IntradayStore(warehouse.get_warehouse()), object_store.get_store()
        check_stores(intraday.warehouse, archive, "nothing was deleted")  # one clear line
        plan = make_plan(context.instance, intraday, archive, retention)
        for line in plan.summary_lines():
            context.log.info(("dry run: " if config.dry_run else "plan: ") + line)
        metadata = {"dry_run": config.dry_run, **plan.as_metadata()}
        if not config.dry_run:
            result = carry_out(plan, context.instance, intraday, archive, context.log.info)
            metadata |= result.as_metadata()
        yield dg.Output(None, metadata=metadata)

    return housekeeping


def definitions(settings: FindataSettings) -> dg.Definitions:
    @dg.job(name=HOUSEKEEPING_JOB_NAME,
            tags={"findata/lane": "housekeeping", **k8s_run_tags("daily")},
            description="Retention: warehouse intraday days whose Parquet is verified, old "
                        "quick/incremental snapshots, old succeeded high-frequency runs.")
    def housekeeping_job():
        _housekeeping_op(settings.retention)()

    @dg.schedule(name="housekeeping_after_close", cron_schedule=HOUSEKEEPING_CRON,
                 execution_timezone=tc.TZ_NAME, job=housekeeping_job,
                 default_status=dg.DefaultScheduleStatus.RUNNING
                 if settings.refresh.schedules_running else dg.DefaultScheduleStatus.STOPPED,
                 description="After the close on trading days: retention (housekeeping_job).")
    def housekeeping_after_close(context: dg.ScheduleEvaluationContext):
        day = (context.scheduled_execution_time or dt.datetime.now(tc.TZ)).astimezone(tc.TZ).date()
        if not tc.is_trading_day(day):
            return dg.SkipReason(f"{day} is not a trading day")
        return dg.RunRequest(run_key=f"housekeeping-{day}")

    return dg.Definitions(jobs=[housekeeping_job], schedules=[housekeeping_after_close])
