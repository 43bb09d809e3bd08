"""Dagster resources for the two stores, shared by every area (IO managers, analysis, report)."""

from __future__ import annotations

import functools
from typing import Optional

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from findata_assets.settings import ENV_ACCESS_KEY, ENV_DATABASE_URL, ENV_SECRET_KEY, Settings
from findata_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from findata_assets.storage.warehouse import DEFAULT_TIMEOUT_S, Warehouse


class ObjectStoreResource(S3Resource):
    """The archive: dagster-aws's S3 resource (any endpoint: MinIO, SeaweedFS, AWS) when
    `endpoint_url` is set, else a local folder. On top of the S3 client it configures: the
    bucket (created when missing), presigned report links (SigV4), pyarrow's S3 filesystem on
    the same endpoint and keys for ranged Parquet reads."""

    bucket: str = "findata"
    local_dir: str = ".findata/archive"
    create_bucket: bool = True  # False for readers: a mistyped bucket is an error, not a new one

    _store: Optional[ObjectStore] = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = self._s3_store() if self.endpoint_url else LocalObjectStore(
                self.local_dir)
        return self._store

    def _s3_store(self) -> S3ObjectStore:
        # dagster-aws builds the client; for an endpoint botocore addresses buckets path-style
        # (MinIO and SeaweedFS need it), and SigV4 signs the presigned links as well
        client = self.get_client()
        client.meta.events.register("choose-signer.s3.*", _sigv4)
        return S3ObjectStore(client, self.bucket, endpoint=self.endpoint_url,
                             region=self.region_name or "us-east-1",
                             credentials=(self.aws_access_key_id, self.aws_secret_access_key),
                             create_bucket=self.create_bucket)


def _sigv4(**_kwargs) -> str:
    return "s3v4"


def object_store_from_settings(stores: Settings, create_bucket: bool = True) -> ObjectStore:
    """The archive the settings configure, outside a Dagster run (the reader, the CLI): the
    same resource with the keys' values, as no run resolves the EnvVars here."""
    return _object_store(stores, stores.aws_access_key_id, stores.aws_secret_access_key,
                         create_bucket).get_store()


def _object_store(stores: Settings, access_key, secret_key,
                  create_bucket: bool = True) -> ObjectStoreResource:
    return ObjectStoreResource(endpoint_url=stores.s3_endpoint, bucket=stores.s3_bucket,
                               region_name=stores.s3_region or "us-east-1",
                               aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                               local_dir=str(stores.archive_dir), create_bucket=create_bucket)


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
        "object_store": _object_store(stores, secret(ENV_ACCESS_KEY, stores.aws_access_key_id),
                                      secret(ENV_SECRET_KEY, stores.aws_secret_access_key)),
    }
