"""`python -m findata_assets.run housekeeping [--dry-run]`: retention from the command line.

--dry-run lists what would go from each store (counts and bytes) and what is kept and why,
deleting nothing. Without it the housekeeping job runs in this process against the instance at
DAGSTER_HOME, so the deletion is a Dagster run with its log and metadata like the scheduled one.
"""

from __future__ import annotations

import sys

COMMANDS = ("housekeeping",)


def add_commands(sub) -> None:
    command = sub.add_parser("housekeeping", help="retention: delete what FINDATA_RETENTION_* "
                                                  "lets go (--dry-run: list it only)")
    command.add_argument("--dry-run", action="store_true",
                         help="list what would be deleted from each store, delete nothing")


def run_command(args) -> int:
    from findata_assets import settings as findata_settings
    from findata_assets.cli.instance import open_instance
    from findata_assets.storage.object_store import ObjectStoreError
    from findata_assets.storage.preflight import StoreUnavailableError

    try:
        settings = findata_settings.load()
        with open_instance() as instance:
            return _dry_run(instance, settings) if args.dry_run else _run(instance)
    except (findata_settings.SettingsError, StoreUnavailableError, ObjectStoreError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dry_run(instance, settings) -> int:
    import sqlalchemy as sa

    from findata_assets.housekeeping.plan import make_plan
    from findata_assets.storage.intraday import IntradayStore
    from findata_assets.resources.object_store import object_store_from_settings
    from findata_assets.storage.preflight import check_stores, warehouse_unavailable
    from findata_assets.storage.warehouse import Warehouse

    warehouse = Warehouse(settings.stores.database_url,
                          timeout_s=settings.stores.database_timeout_s)
    # a dry run writes nothing: a missing bucket is an error, not one created
    archive = object_store_from_settings(settings.stores, create_bucket=False)
    try:
        check_stores(warehouse, archive, "nothing was deleted")
        plan = make_plan(instance, IntradayStore(warehouse), archive, settings.retention)
    except sa.exc.OperationalError as exc:
        raise warehouse_unavailable(warehouse, exc, "nothing was deleted") from None
    finally:
        warehouse.dispose()
    print("dry run: nothing deleted; housekeeping would do this:")
    for line in plan.summary_lines():
        print(line)
    return 0


def _run(instance) -> int:
    from findata_assets.cli.execution import failure_summary
    from findata_assets.defs.housekeeping.definitions import HOUSEKEEPING_JOB_NAME
    from findata_assets.defs.location import location

    job = location().resolve_job_def(HOUSEKEEPING_JOB_NAME)
    result = job.execute_in_process(  # quiet console: the run's own log lines are printed below
        instance=instance, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    for record in instance.all_logs(result.run_id):
        if record.dagster_event is None and record.step_key == "housekeeping":
            print(record.user_message)  # the plan, then every deletion with its counts
    if not result.success:
        print(f"error: housekeeping run {result.run_id} failed: {failure_summary(result)}",
              file=sys.stderr)
        return 1
    print(f"housekeeping run {result.run_id}: done (its log and metadata are in the UI)")
    return 0
