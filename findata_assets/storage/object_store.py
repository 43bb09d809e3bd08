"""Object stores for the raw-snapshot archive: any S3 endpoint or a local folder.

Both have the same small API:

    put_bytes(key, data, content_type) -> key      get_bytes(key) -> bytes      exists(key) -> bool
    list_keys(prefix="") -> sorted list[str]       url_for(key, expires_s=3600) -> str
    list_objects(prefix="") -> {key: size}         delete_keys(keys) -> count
    describe() -> str

Keys are relative, '/'-separated paths (`raw/<table>/<date>/<stamp>.json`). Errors name the bucket
(or folder) and the key; credentials never appear in a message.
"""

from __future__ import annotations

import threading
from typing import Iterable, Optional

from findata_assets.storage.local_object_store import LocalObjectStore  # noqa: F401 (re-exported)

_DELETE_BATCH = 1000  # the S3 DeleteObjects limit
from findata_assets.storage.object_keys import (  # noqa: F401  (the store's API, re-exported)
    MAX_PRESIGN_S, ObjectNotFoundError, ObjectStore, ObjectStoreError, check_expiry,
    validate_key)

class S3ObjectStore:
    """A bucket on any S3 endpoint (MinIO, SeaweedFS, AWS), through a boto3 S3 client built by
    dagster-aws (resources/object_store.py: path-style addressing for an endpoint, SigV4).

    The bucket is created on first use when missing (`create_bucket=True`); a concurrent creator
    winning the race is fine.
    """

    def __init__(self, client, bucket: str, *, endpoint: Optional[str] = None,
                 region: str = "us-east-1",
                 credentials: tuple[Optional[str], Optional[str]] = (None, None),
                 create_bucket: bool = True, list_page_size: int = 1000) -> None:
        self.client = client
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.bucket = bucket
        self.region = region
        self.create_bucket = create_bucket
        self.list_page_size = list_page_size
        self._bucket_ready = False
        self._lock = threading.Lock()
        self._credentials = credentials  # for pyarrow's own S3 client (arrow_path); never shown
        self._arrow_fs = None

    # -- helpers ---------------------------------------------------------------------------------
    def _where(self, key: Optional[str] = None) -> str:
        target = f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"
        return f"{target} at {self.endpoint}" if self.endpoint else target

    @staticmethod
    def _error_code(exc: Exception) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def _fail(self, action: str, exc: Exception, key: Optional[str] = None) -> ObjectStoreError:
        code = self._error_code(exc)
        detail = f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
        return ObjectStoreError(f"S3 {action} {self._where(key)} failed ({detail})")

    def bucket_exists(self) -> bool:
        """One HEAD request: True when the bucket is there, False when it is missing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return True
        except ClientError as exc:
            if self._error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._fail("head bucket", exc) from None
        except BotoCoreError as exc:
            raise self._fail("head bucket", exc) from None
        return False

    def make_bucket(self) -> None:
        """Create the bucket; a concurrent creator winning the race is fine."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if self._error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._fail("create bucket", exc) from None
        except BotoCoreError as exc:
            raise self._fail("create bucket", exc) from None

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing; idempotent and safe against concurrent creators."""
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            if not self.bucket_exists():
                if not self.create_bucket:
                    raise ObjectStoreError(f"bucket {self._where()} does not exist (nothing "
                                           f"creates it here): check FINDATA_S3_BUCKET")
                self.make_bucket()
            self._bucket_ready = True

    # -- API -------------------------------------------------------------------------------------
    def ping(self) -> None:
        """Is the bucket there (created when missing)? One request; ObjectStoreError if not."""
        self.ensure_bucket()

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream",
                  content_encoding: Optional[str] = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_bytes({key!r}) needs bytes, got {type(data).__name__}")
        self.ensure_bucket()
        try:
            extra = {"ContentEncoding": content_encoding} if content_encoding else {}
            self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data),
                                   ContentType=content_type, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("put", exc, key) from None
        return key

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        self.ensure_bucket()
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except ClientError as exc:
            if self._error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFoundError(f"no object {self._where(key)}") from None
            raise self._fail("get", exc, key) from None
        except BotoCoreError as exc:
            raise self._fail("get", exc, key) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        self.ensure_bucket()
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("head", exc, key) from None
        except BotoCoreError as exc:
            raise self._fail("head", exc, key) from None

    def list_keys(self, prefix: str = "") -> list[str]:
        return sorted(self.list_objects(prefix))

    def list_objects(self, prefix: str = "") -> dict[str, int]:
        """key -> size in bytes of every object whose key starts with `prefix`."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.ensure_bucket()
        sizes: dict[str, int] = {}
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                       PaginationConfig={"PageSize": self.list_page_size})
            for page in pages:
                sizes.update((item["Key"], int(item["Size"])) for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"list (prefix {prefix!r})", exc) from None
        return sizes

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete the objects (missing ones are no error); returns how many were asked for.
        An object the server refuses to delete fails the call, naming it."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys = [validate_key(k) for k in keys]
        if keys:
            self.ensure_bucket()
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            done = f"{start:,} of {len(keys):,} deleted before"  # a failure says how far it got
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": k} for k in batch], "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise ObjectStoreError(f"{self._fail('delete', exc, batch[0])}; {done}") from None
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ObjectStoreError(
                    f"deleting {first.get('Key')!r} from {self._where()} failed: "
                    f"{first.get('Code')} ({len(answer['Errors'])} of a batch of {len(batch)} "
                    f"not deleted; {done})")
        return len(keys)

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A presigned GET URL (the object need not exist yet)."""
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=check_expiry(expires_s))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("presign", exc, key) from None

    def arrow_path(self, key: str) -> tuple:
        """(pyarrow's S3 filesystem, path) of `key`: a reader fetches the row groups it needs."""
        from findata_assets.storage.arrow_fs import s3_filesystem

        with self._lock:
            if self._arrow_fs is None:
                self._arrow_fs = s3_filesystem(self.endpoint, self.region, *self._credentials)
        return self._arrow_fs, f"{self.bucket}/{validate_key(key)}"

    def describe(self) -> str:
        return f"s3://{self.bucket} ({self.endpoint})" if self.endpoint else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.describe()})"
