"""What both object stores share: key rules, errors and the API they implement."""

from __future__ import annotations

import os
from typing import Iterable, Optional, Protocol, runtime_checkable

MAX_PRESIGN_S = 7 * 24 * 3600  # the S3 (SigV4) limit
TMP_SUFFIX = ".findata-tmp"


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
    if key.endswith(TMP_SUFFIX):
        raise ValueError(f"object key {key!r} must not end with {TMP_SUFFIX!r}")
    if len(key.encode("utf-8")) > 1024:
        raise ValueError(f"object key {key[:60]!r}... is longer than 1024 bytes")
    return key


def check_expiry(expires_s: int) -> int:
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
    def list_objects(self, prefix: str = "") -> dict[str, int]: ...  # key -> size in bytes
    def delete_keys(self, keys: Iterable[str]) -> int: ...
    def url_for(self, key: str, expires_s: int = 3600) -> str: ...
    def arrow_path(self, key: str) -> tuple: ...  # (pyarrow FileSystem, path): ranged reads
    def describe(self) -> str: ...


