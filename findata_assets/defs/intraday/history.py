"""`stock_flow_intraday_history` and `sector_flow_intraday_history`: a closed trading day of the
intraday tables as one Parquet file in the object store (storage/intraday_history.py), written
from the warehouse and read back and compared before it counts. A schedule materializes the day
after the close; a past day is a backfill from the UI.
"""


import datetime as dt

import dagster as dg

from findata_assets.deploy.k8s import k8s_run_tags
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.intraday import coverage as day_coverage
from findata_assets.defs.storage.column_schemas import history_file_schema, with_schema
from findata_assets.defs.trading_days import after_close_schedule
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import TABLES, IntradayStore
from findata_assets.storage.intraday_feed import day_rows
from findata_assets.storage.intraday_reads import is_closed

GROUP_NAME = "intraday"
HISTORY_JOB_NAME = "intraday_history_job"
HISTORY_CRON = "30 15 * * 1-5"  # after the close (15:00) and the full refresh (15:10)


def history_asset_name(kind: str) -> str:
    return f"{TABLES[kind]}_history"


def _build(kind: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=history_asset_name(kind), group_name=GROUP_NAME, partitions_def=partitions_def,
        deps=[dg.AssetDep(TABLES[kind])], kinds={"python", "parquet"},
        check_specs=[day_coverage.check_spec(dg.AssetKey(history_asset_name(kind)))],
        metadata=with_schema(history_file_schema(kind)),
        description=f"Per closed trading day: {TABLES[kind]} as one Parquet file "
                    f"(history/{TABLES[kind]}/trade_date=YYYY-MM-DD/part-0.parquet, zstd, row "
                    f"groups of 200 codes x a half hour), written from the warehouse (or, once "
                    f"the warehouse no longer holds the day, from the archived snapshots) and "
                    f"verified against those rows value for value. "
                    f"Readable without findata: pyarrow, Polars, DuckDB, Spark, Trino (Hive "
                    f"partitioning on trade_date).",
    )
    def _history(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 object_store: ObjectStoreResource) -> dg.MaterializeResult:
        day = dt.date.fromisoformat(context.partition_key)
        if not is_closed(day):
            raise dg.Failure(f"{day} is still trading: its intraday history is written after "
                             "the 15:00 close")
        wh, store = warehouse.get_warehouse(), object_store.get_store()
        coverage = day_coverage.day_coverage(context.instance, wh, kind, day)
        context.log.info(f"{TABLES[kind]} {day}: {coverage.summary()}")
        covered = _with_coverage(dg.AssetKey(history_asset_name(kind)), coverage)
        rows, source = IntradayStore(wh).read_day(kind, day, history.FILE_COLUMNS), wh.describe()
        if not rows:  # deleted from the warehouse by retention, or never stored there
            kept = _already_filed(store, kind, day)
            if kept is not None:
                context.log.info(f"{TABLES[kind]} holds no minute of {day} in {wh.describe()}; "
                                 f"its file is as it was verified: kept, not rebuilt")
                return covered(kept)
            rows, feed = day_rows(store, kind, day, history.FILE_COLUMNS)
            source = f"the archived snapshots in {store.describe()} ({feed.snapshots_read} read)"
            context.log.info(f"{TABLES[kind]} holds no minute of {day} in {wh.describe()}: "
                             f"built from {source}")
        if not rows:
            raise dg.Failure(f"no minute of {day} for {TABLES[kind]}: neither {wh.describe()} "
                             f"nor the archive {store.describe()} holds one (was {day} "
                             "collected?)")
        try:  # never replace a verified file by fewer rows
            history.refuse_shrinking(store, kind, day, len(rows), source)
        except history.HistoryFileError as exc:
            raise dg.Failure(str(exc)) from None
        # read back and compared before it counts: never trust a write
        written = history.write_and_verify(store, kind, day, history.to_arrow(rows), source)
        context.log.info(f"{written.key}: {written.rows:,} rows, {written.bytes:,} bytes "
                         f"({written.bytes / written.rows:.1f} B/row), verified against {source}")
        return covered(dg.MaterializeResult(metadata={
            keys.TRADE_DATE: day.isoformat(), keys.ARCHIVE: store.describe(),
            "parquet_key": written.key, "rows": written.rows, "dagster/row_count": written.rows,
            "bytes": written.bytes, "bytes_per_row": round(written.bytes / written.rows, 1),
            "verified_against": source}))

    return _history


def _with_coverage(asset_key: dg.AssetKey, coverage):
    """The materialization with the day's coverage in its metadata and its check result."""
    def covered(result: dg.MaterializeResult) -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={**(result.metadata or {}), **day_coverage.metadata(coverage)},
            check_results=[day_coverage.check_result(asset_key, coverage)])
    return covered


def _already_filed(store, kind: str, day: dt.date):
    """The materialization of a file that is still as it was verified; None if there is none."""
    try:
        record = history.check_verified(store, kind, day)
    except history.HistoryFileError:
        return None
    return dg.MaterializeResult(metadata={
        keys.TRADE_DATE: day.isoformat(), keys.ARCHIVE: store.describe(),
        "parquet_key": record["key"], "rows": record["rows"], "dagster/row_count": record["rows"],
        "bytes": record["bytes"], "bytes_per_row": round(record["bytes"] / record["rows"], 1),
        "verified_against": record["verified_against"], "kept": True})


def build_history_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_build(kind, partitions_def) for kind in TABLES]


history_job = dg.define_asset_job(
    name=HISTORY_JOB_NAME, selection=[history_asset_name(k) for k in TABLES],
    tags=k8s_run_tags("daily"),  # pod size where runs are pods (read by dagster-k8s only)
    description="A closed day's intraday tables as Parquet files in the object store.")


def build_history_schedule(running: bool) -> dg.ScheduleDefinition:
    """On in a deployment (FINDATA_SCHEDULES=running), as the refresh schedules are: without
    the files, retention keeps every day in the warehouse."""
    return after_close_schedule(
        "intraday_history_after_close", HISTORY_CRON, history_job, running,
        "After the close on trading days: the day's intraday history as Parquet.", "history")
