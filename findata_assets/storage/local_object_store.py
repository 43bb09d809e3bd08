"""The archive in a local folder, with the S3 store's API (the default without an endpoint)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Union

from findata_assets.storage.object_keys import (
    FILE_MODE, TMP_SUFFIX, ObjectNotFoundError, ObjectStoreError, check_expiry, validate_key)


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
                                            suffix=TMP_SUFFIX)
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
        return sorted(self.list_objects(prefix))

    def list_objects(self, prefix: str = "") -> dict[str, int]:
        """key -> size in bytes of every file whose key starts with `prefix`."""
        if not self.root.is_dir():
            return {}
        # Walk only below the deepest folder the prefix pins down.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if ".." in folder.split("/") or not start.is_dir():
            return {}
        sizes = {}
        for dirpath, _dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.endswith(TMP_SUFFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    try:
                        sizes[key] = (Path(dirpath) / name).stat().st_size
                    except FileNotFoundError:  # deleted while listed
                        continue
        return sizes

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete the files (missing ones are no error), then the folders left empty."""
        keys = list(keys)
        folders = set()
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise ObjectStoreError(f"deleting {key!r} from {self.root} failed: {exc}") from exc
            folders.add(path.parent)
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                try:
                    folder.rmdir()
                except OSError:  # a writer put a file in it meanwhile: the folder stays
                    break
                folder = folder.parent
        return len(keys)

    def url_for(self, key: str, expires_s: int = 3600) -> str:
        """A file:// URI (expiry is checked for API parity but a local file does not expire)."""
        check_expiry(expires_s)
        return self._path(key).as_uri()

    def arrow_path(self, key: str) -> tuple:
        from pyarrow import fs

        return fs.LocalFileSystem(), str(self._path(key))

    def describe(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"LocalObjectStore({self.root})"
