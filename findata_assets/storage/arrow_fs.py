"""pyarrow's own filesystems over the object store's locations, for ranged Parquet reads."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit


def s3_filesystem(endpoint: Optional[str], region: str, access_key: Optional[str],
                  secret_key: Optional[str]):
    """pyarrow's S3 filesystem on the same endpoint and keys as boto3 (path-style addressing,
    which pyarrow uses whenever an endpoint is overridden)."""
    from pyarrow import fs

    options = {"access_key": access_key, "secret_key": secret_key, "region": region}
    if endpoint:
        parts = urlsplit(endpoint)
        options |= {"endpoint_override": parts.netloc, "scheme": parts.scheme}
    return fs.S3FileSystem(**options)
