"""The storage area: the two stores and the IO managers that write every snapshot and table."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.storage.io_managers import SnapshotArchiveIOManager, WarehouseIOManager
from findata_assets.defs.storage.resources import store_resources
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings) -> dg.Definitions:
    stores = store_resources(settings.stores)
    return dg.Definitions(resources={
        **stores,
        "archive_io_manager": SnapshotArchiveIOManager(object_store=stores["object_store"]),
        "warehouse_io_manager": WarehouseIOManager(warehouse_resource=stores["warehouse"]),
    })
