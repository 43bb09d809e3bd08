"""Object stores for the raw-snapshot archive: any S3 endpoint (boto3, path-style) or a local folder.

Both have the same small API:

    put_bytes(key, data, content_type) -> key      get_bytes(key) -> bytes      exists(key) -> bool
    list_keys(prefix="") -> sorted list[str]       url_for(key, expires_s=3600) -> str
    describe() -> str

Keys are relative, '/'-separated paths (`raw/<table>/<date>/<stamp>.json`). Errors name the bucket
(or folder) and the key; credentials never appear in a message.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol, Union, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from findata_assets.settings import Settings

MAX_PRESIGN_S = 7 * 24 * 3600  # the S3 (SigV4) limit
_TMP_SUFFIX = ".findata-tmp"


def _process_umask() -> int:
    umask = os.umask(0o022)  # the only way to read it is to set it: done once, at import,
    os.umask(umask)          # not from the archive's writer threads (it is process-wide)
    return umask


# What open() gives a new file under this process's umask; mkstemp's files are 0600.
FILE_MODE = 0o666 & ~_process_umask()


class ObjectStoreError(RuntimeError):
    """An object-store operation failed; the message names the store and the key."""


class ObjectNotFoundError(ObjectStoreError, KeyError):
    """The key does not exist in the store."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def validate_key(key: str) -> str:
    """Keys are relative POSIX-style paths without empty, '.' or '..' segments."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    if "\x00" in key or "\\" in key:
        raise ValueError(f"object key {key!r} must not contain NUL or backslash characters")
    if key.startswith("/") or key.endswith("/"):
        raise ValueError(f"object key {key!r} must not start or end with '/'")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"object key {key!r} must not contain empty, '.' or '..' segments")
    if key.endswith(_TMP_SUFFIX):
        raise ValueError(f"object key {key!r} must not end with {_TMP_SUFFIX!r}")
    if len(key.encode("utf-8")) > 1024:
        raise ValueError(f"object key {key[:60]!r}... is longer than 1024 bytes")
    return key


def _check_expiry(expires_s: int) -> int:
    expires_s = int(expires_s)
    if not 1 <= expires_s <= MAX_PRESIGN_S:
        raise ValueError(f"expires_s must be between 1 and {MAX_PRESIGN_S} seconds, got {expires_s}")
    return expires_s


@runtime_checkable
class ObjectStore(Protocol):
    def put_bytes(self, key: str, data: bytes, content_type: str = ...,
                  content_encoding: Optional[str] = None) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def ping(self) -> None: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def url_for(self, key: str, expires_s: int = 3600) -> str: ...
    def arrow_path(self, key: str) -> tuple: ...  # (pyarrow FileSystem, path): ranged reads
    def describe(self) -> str: ...


class S3ObjectStore:
    """A bucket on any S3 endpoint, path-style addressed (MinIO, SeaweedFS, AWS).

    The bucket is created on first use when missing (`create_bucket=True`); a concurrent creator
    winning the race is fine.
    """

    def __init__(
        self,
        endpoint: Optional[str],
        bucket: str,
        *,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        region: str = "us-east-1",
        create_bucket: bool = True,
        max_attempts: int = 5,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        list_page_size: int = 1000,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.bucket = bucket
        self.region = region
        self.create_bucket = create_bucket
        self.list_page_size = list_page_size
        self._bucket_ready = False
        self._lock = threading.Lock()
        config = Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self.client = session.client("s3", endpoint_url=self.endpoint, config=config)
        self._credentials = (access_key_id, secret_access_key)  # for arrow_path; never shown
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
                    raise ObjectStoreError(f"bucket {self._where()} does not exist "
                                           f"(and create_bucket=False)")
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
        from botocore.exceptions import BotoCoreError, ClientError

        self.ensure_bucket()
        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                       PaginationConfig={"PageSize": self.list_page_size})
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"list (prefix {prefix!r})", exc) from None
        return sorted(keys)

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A presigned GET URL (the object need not exist yet)."""
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=_check_expiry(expires_s))
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


class LocalObjectStore:
    """A folder with the S3 store's API. Writes are atomic (temporary file + rename)."""

    def __init__(self, root: Union[str, os.PathLike]) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def ping(self) -> None:
        """Can the folder be written? ObjectStoreError if not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ObjectStoreError(f"cannot create the archive folder {self.root}: {exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ObjectStoreError(f"the archive folder {self.root} is not writable")

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream",
                  content_encoding: Optional[str] = None) -> str:
        path = self._path(key)  # a file has no headers: the key's suffix names its encoding
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"put_bytes({key!r}) needs bytes, got {type(data).__name__}")
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                            suffix=_TMP_SUFFIX)
            os.fchmod(fd, FILE_MODE)  # readable like any file the user writes, not 0600
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            raise ObjectStoreError(f"writing {key!r} to {self.root} failed: {exc}") from exc
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
        return key

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(f"no object {key!r} in {self.root}") from None
        except OSError as exc:
            raise ObjectStoreError(f"reading {key!r} from {self.root} failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix` (a plain string prefix, as in S3)."""
        if not self.root.is_dir():
            return []
        # Walk only below the deepest folder the prefix pins down.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if ".." in folder.split("/") or not start.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.endswith(_TMP_SUFFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A file:// URI (expiry is checked for API parity but a local file does not expire)."""
        _check_expiry(expires_s)
        return self._path(key).as_uri()

    def arrow_path(self, key: str) -> tuple:
        from pyarrow import fs

        return fs.LocalFileSystem(), str(self._path(key))

    def describe(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"LocalObjectStore({self.root})"


def object_store_from_settings(settings: "Settings") -> Union[S3ObjectStore, LocalObjectStore]:
    """S3 when an endpoint is configured, else the local archive folder."""
    if settings.s3_endpoint:
        return S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_bucket,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            region=settings.s3_region or "us-east-1",
        )
    root = settings.archive_dir
    if root is None:
        if settings.home is None:
            raise ValueError("settings have neither an S3 endpoint nor an archive folder")
        root = Path(settings.home) / "archive"
    return LocalObjectStore(root)
