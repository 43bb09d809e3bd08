"""The archive as a Dagster resource: dagster-aws's S3 resource on any endpoint (MinIO,
SeaweedFS, AWS), or a local folder, with one S3 client per process for the same configuration.

Every run resolves its resources anew, and dagster-aws builds a boto3 session and client each
time: botocore loads and parses its service models per session, the larger part of a short
run's S3 cost. Clients are thread-safe and hold no per-run state, so the store (client, bucket
checked once, pyarrow filesystem) is kept per process and configuration, and shared by every
resource instance and run with that configuration."""

from __future__ import annotations

import threading
from typing import Optional

from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from findata_assets.settings import Settings
from findata_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore

_shared_lock = threading.Lock()
_shared_stores: dict[tuple, S3ObjectStore] = {}


class ObjectStoreResource(S3Resource):
    """The archive: an S3 bucket when `endpoint_url` is set, else a local folder. On top of the
    S3 client it configures: the bucket (created when missing), presigned report links (SigV4),
    pyarrow's S3 filesystem on the same endpoint and keys for ranged Parquet reads."""

    bucket: str = "findata"
    local_dir: str = ".findata/archive"
    create_bucket: bool = True  # False for readers: a mistyped bucket is an error, not a new one

    _store: Optional[ObjectStore] = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = self._s3_store() if self.endpoint_url else LocalObjectStore(
                self.local_dir)
        return self._store

    def get_client(self):
        """The process's S3 client for this configuration (built once)."""
        return self._s3_store().client

    def _client_key(self) -> tuple:
        # every field that shapes the client or the store: another value, another client
        return (self.endpoint_url, self.region_name, self.max_attempts, self.use_ssl,
                self.verify, self.use_unsigned_session, self.profile_name,
                self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token,
                self.bucket, self.create_bucket)

    def _s3_store(self) -> S3ObjectStore:
        key = self._client_key()
        with _shared_lock:
            store = _shared_stores.get(key)
            if store is None:
                store = _shared_stores[key] = self._new_s3_store()
        return store

    def _new_s3_store(self) -> S3ObjectStore:
        # dagster-aws builds the client; for an endpoint botocore addresses buckets path-style
        # (MinIO and SeaweedFS need it), and SigV4 signs the presigned links as well
        client = super().get_client()
        client.meta.events.register("choose-signer.s3.*", _sigv4)
        return S3ObjectStore(client, self.bucket, endpoint=self.endpoint_url,
                             region=self.region_name or "us-east-1",
                             credentials=(self.aws_access_key_id, self.aws_secret_access_key),
                             create_bucket=self.create_bucket)


def _sigv4(**_kwargs) -> str:
    return "s3v4"


def object_store_resource(stores: Settings, access_key, secret_key,
                          create_bucket: bool = True) -> ObjectStoreResource:
    """The resource the settings configure; the keys as given (values, or `dg.EnvVar`s)."""
    return ObjectStoreResource(endpoint_url=stores.s3_endpoint, bucket=stores.s3_bucket,
                               region_name=stores.s3_region or "us-east-1",
                               aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                               local_dir=str(stores.archive_dir), create_bucket=create_bucket)


def object_store_from_settings(stores: Settings, create_bucket: bool = True) -> ObjectStore:
    """The archive the settings configure, outside a Dagster run (the reader, the CLI): the
    same resource with the keys' values, as no run resolves the EnvVars here."""
    return object_store_resource(stores, stores.aws_access_key_id, stores.aws_secret_access_key,
                                 create_bucket).get_store()
