"""`stock_flow_intraday` and `sector_flow_intraday`, per trading day.

Each materialization brings the day's intraday table up to date with the archive (see
storage/intraday_feed.py): after every refresh the new snapshots' minutes are added; a past day
materialized from the UI (a backfill) is rebuilt from its archived snapshots, without the API.
"""


import datetime as dt

import dagster as dg

from findata_assets import cancellation
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.families import FAMILIES
from findata_assets.defs.storage.column_schemas import intraday_table_schema, with_schema
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import TABLES, IntradayStore
from findata_assets.storage.intraday_feed import feed_day

GROUP_NAME = "intraday"


class IntradayConfig(dg.Config):
    rebuild: bool = False  # read every archived snapshot of the day again, not only new ones


def _build(kind: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    family = FAMILIES[kind]
    what = "全部股票 (every stock)" if kind == "stock" else "the three board types"

    @dg.asset(
        name=TABLES[kind], group_name=GROUP_NAME, partitions_def=partitions_def,
        deps=[dg.AssetDep(family.raw_key, partition_mapping=dg.AllPartitionMapping())],
        kinds={"python", "sql"}, metadata=with_schema(intraday_table_schema(kind)),
        description=f"Per trading day: the intraday path of {what}, one row per (minute of the "
                    f"data, code) with the 1d columns, from every archived 1d snapshot of the "
                    f"day. A minute taken again replaces that minute; lunch and after-close "
                    f"snapshots add nothing. Materializing a past day rebuilds it from the "
                    f"archive, without calling the API.",
    )
    def _intraday(context: dg.AssetExecutionContext, config: IntradayConfig,
                  warehouse: WarehouseResource, object_store: ObjectStoreResource):
        day = dt.date.fromisoformat(context.partition_key)
        cancellation.check()
        wh, store = warehouse.get_warehouse(), object_store.get_store()
        intraday = IntradayStore(wh)
        result = feed_day(intraday, store, kind, day, rebuild=config.rebuild)
        if result.written and history.invalidate(store, kind, day):
            context.log.info(f"{day}'s history file no longer matches the warehouse: its "
                             f"verification is withdrawn (readers use the warehouse, retention "
                             f"keeps the day) until {TABLES[kind]}_history is materialized again")
        minutes = intraday.minutes(kind, day)
        context.log.info(f"{TABLES[kind]} {day}: {len(result.written)} minute(s) written "
                         f"({result.rows:,} rows) from {result.snapshots_read} snapshot(s) read")
        return dg.MaterializeResult(metadata={
            keys.TRADE_DATE: day.isoformat(),
            keys.WAREHOUSE: wh.describe(),
            keys.ARCHIVE: store.describe(),
            "snapshots_read": result.snapshots_read,
            "minutes_written": len(result.written),
            "minutes_replaced": sum(1 for w in result.written if w.replaced),
            "rows_written": result.rows,
            "snapshots_without_new_minute": result.unchanged,
            "snapshots_without_f124": result.undated,
            "minutes_stored": len(minutes),
            "first_minute": minutes[0].strftime("%H:%M") if minutes else "-",
            "last_minute": minutes[-1].strftime("%H:%M") if minutes else "-",
        })

    return _intraday


def build_intraday_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_build(kind, partitions_def) for kind in TABLES]
