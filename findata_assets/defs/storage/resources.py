"""Dagster resources for the two stores, shared by every area (IO managers, analysis, report)."""

from __future__ import annotations

import functools
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from findata_assets.settings import ENV_ACCESS_KEY, ENV_DATABASE_URL, ENV_SECRET_KEY, Settings
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


def secret(name: str, value: Optional[str]):
    """A configured secret as `dg.EnvVar`: Dagster resolves it at run time from the same
    variable, and neither the UI nor the run's stored config ever holds its value."""
    return dg.EnvVar(name) if value else None


@functools.lru_cache(maxsize=8)
def store_resources(stores: Settings) -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the object store as the settings configure them (one place for every
    code path: the code location, the report samples). The same instances for the same
    settings: an IO manager's nested store is then the location's store, not a second one."""
    return {
        "warehouse": WarehouseResource(
            database_url=(dg.EnvVar(ENV_DATABASE_URL) if stores.database_url_from_env
                          else stores.database_url),  # the URL may hold the password
            timeout_s=stores.database_timeout_s),
        "object_store": ObjectStoreResource(
            s3_endpoint=stores.s3_endpoint, bucket=stores.s3_bucket, region=stores.s3_region,
            access_key_id=secret(ENV_ACCESS_KEY, stores.aws_access_key_id),
            secret_access_key=secret(ENV_SECRET_KEY, stores.aws_secret_access_key),
            local_dir=str(stores.archive_dir)),
    }
