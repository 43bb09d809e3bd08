"""The archive as a Dagster resource: dagster-aws's S3 resource on any endpoint (MinIO,
SeaweedFS, AWS), or a local folder, with one S3 client per process for the same configuration.

Every run resolves its resources anew, and dagster-aws builds a boto3 session and client each
time: botocore loads and parses its service models per session, the larger part of a short
run's S3 cost. Clients are thread-safe and hold no per-run state, so the store (client, bucket
checked once, pyarrow filesystem) is kept per process and configuration, and shared by every
resource instance and run with that configuration.

The fields are those of dagster-aws's `S3Resource`, and dagster-aws builds the client, but its
package is imported on the first S3 call, not with the code location: `dagster_aws` imports all of
its components (Athena, RDS, ECR, ...) and with them `dagster._core.test_utils`, 0.3-0.8 s that
every process building the location (code server, run worker, CLI) paid before doing anything."""

from __future__ import annotations

import threading
from typing import Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from findata_assets.settings import Settings
from findata_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore

_shared_lock = threading.Lock()
_shared_stores: dict[tuple, S3ObjectStore] = {}


class ObjectStoreResource(dg.ConfigurableResource):
    """The archive: an S3 bucket when `endpoint_url` is set, else a local folder. On top of the
    S3 client it configures: the bucket (created when missing), presigned report links (SigV4),
    pyarrow's S3 filesystem on the same endpoint and keys for ranged Parquet reads."""

    # the S3 client, as dagster-aws's S3Resource configures it
    endpoint_url: Optional[str] = Field(default=None, description="S3 endpoint (MinIO, "
                                        "SeaweedFS); none: the archive is `local_dir`")
    region_name: Optional[str] = Field(default=None, description="S3 region")
    max_attempts: int = Field(default=5, description="botocore retries, the first call included")
    aws_access_key_id: Optional[str] = Field(default=None, description="S3 access key")
    aws_secret_access_key: Optional[str] = Field(default=None, description="S3 secret key")
    aws_session_token: Optional[str] = Field(default=None, description="S3 session token")
    profile_name: Optional[str] = Field(default=None, description="AWS profile of the session")
    use_ssl: bool = Field(default=True, description="HTTPS to the endpoint")
    verify: Optional[bool] = Field(default=None, description="verify TLS certificates")
    use_unsigned_session: bool = Field(default=False, description="anonymous (unsigned) access")
    # the archive on top of it
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
        from dagster_aws.s3.utils import construct_s3_client

        client = construct_s3_client(
            max_attempts=self.max_attempts, region_name=self.region_name,
            endpoint_url=self.endpoint_url, use_unsigned_session=self.use_unsigned_session,
            profile_name=self.profile_name, use_ssl=self.use_ssl, verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token)
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


def build_clients_before_fork() -> None:
    """For a process that forks run workers (the launcher's warm worker): build the process's
    S3 client for the configured archive now, so that every forked run finds it built
    (botocore's client takes 0.2-0.3 s). Nothing is sent: the client connects on its first
    call, in the run, and the bucket is checked there too."""
    from findata_assets import settings

    stores = settings.load().stores
    if stores.s3_endpoint:
        object_store_from_settings(stores)
