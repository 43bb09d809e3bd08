"""The SQL warehouse as a Dagster resource (MySQL/MariaDB, or the embedded SQLite file)."""

from __future__ import annotations

from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from findata_assets.storage.warehouse import DEFAULT_TIMEOUT_S, Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse of one run: its engine is disposed of when the run's execution ends."""

    database_url: str
    timeout_s: float = DEFAULT_TIMEOUT_S

    _warehouse: Optional[Warehouse] = PrivateAttr(default=None)

    def get_warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(self.database_url, timeout_s=self.timeout_s)
        return self._warehouse

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._warehouse is not None:
            self._warehouse.dispose()
            self._warehouse = None
