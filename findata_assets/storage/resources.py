"""Dagster resources for the two stores, shared by the IO managers and the analysis assets."""

from __future__ import annotations

from typing import Mapping, Optional

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


def secret(environ: Mapping[str, str], name: str, fallback: Optional[str] = None):
    """A secret as `dg.EnvVar`: Dagster resolves it at run time and the UI never shows it."""
    return dg.EnvVar(name) if environ.get(name) else fallback


def store_resources(environ: Mapping[str, str]) -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the object store as the settings configure them (one place for every
    code path: the code location, the analysis, the report samples)."""
    settings = Settings.from_env(environ)
    return {
        "warehouse": WarehouseResource(
            database_url=secret(environ, ENV_DATABASE_URL, settings.database_url),
            timeout_s=settings.database_timeout_s),
        "object_store": ObjectStoreResource(
            s3_endpoint=settings.s3_endpoint, bucket=settings.s3_bucket, region=settings.s3_region,
            access_key_id=secret(environ, ENV_ACCESS_KEY),
            secret_access_key=secret(environ, ENV_SECRET_KEY),
            local_dir=str(settings.archive_dir)),
    }
