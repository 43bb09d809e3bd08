"""Dagster resources for the two stores, shared by the IO managers and the analysis assets."""

from __future__ import annotations

from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from findata_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from findata_assets.storage.warehouse import DEFAULT_TIMEOUT_S, Warehouse


class ObjectStoreResource(dg.ConfigurableResource):
    """S3 (MinIO, any endpoint) when `s3_endpoint` is set, else a local folder."""

    s3_endpoint: Optional[str] = None
    bucket: str = "findata"
    region: str = "us-east-1"
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    local_dir: str = ".findata/archive"

    _store: Optional[ObjectStore] = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = S3ObjectStore(
                self.s3_endpoint, self.bucket, access_key_id=self.access_key_id,
                secret_access_key=self.secret_access_key, region=self.region,
            ) if self.s3_endpoint else LocalObjectStore(self.local_dir)
        return self._store


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (MySQL/MariaDB, or the embedded SQLite file)."""

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
