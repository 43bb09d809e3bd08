"""The Eastmoney area: the four fund-flow assets, their checks, the two family jobs, the API
client resource and the IO managers that archive every snapshot and store every table."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.eastmoney.assets import FLOW_ASSETS
from findata_assets.defs.eastmoney.io_managers import SnapshotArchiveIOManager, WarehouseIOManager
from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.eastmoney.resources import EastmoneyResource
from findata_assets.defs.storage.resources import store_resources
from findata_assets.defs.code_references import with_code_references
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings) -> dg.Definitions:
    stores = store_resources(settings.stores)  # the storage area's instances
    return dg.Definitions(
        assets=with_code_references(FLOW_ASSETS, settings), jobs=list(FAMILY_JOB_DEFS.values()),
        resources={
            "eastmoney": EastmoneyResource.from_settings(settings.eastmoney),
            "archive_io_manager": SnapshotArchiveIOManager(object_store=stores["object_store"]),
            "warehouse_io_manager": WarehouseIOManager(warehouse_resource=stores["warehouse"]),
        })
