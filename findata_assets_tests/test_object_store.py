"""Object stores: S3 against a real SeaweedFS server, and the local folder, with one API."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from findata_assets.resources.object_store import ObjectStoreResource, object_store_from_settings
from findata_assets.settings import Settings
from findata_assets.storage.object_store import (
    LocalObjectStore, ObjectNotFoundError, ObjectStoreError, S3ObjectStore, validate_key)

KEY = "raw/stock_flow_all_1d/2026-03-02/20260302T150003.123456.json"
BODY = json.dumps({"表": "全部股票今日资金流向", "rows": [1, 2, 3]}, ensure_ascii=False).encode()


def s3_store(endpoint: str, bucket: str, access_key: str, secret_key: str,
             **store_options) -> S3ObjectStore:
    """The store as the platform builds it: a client from dagster-aws, then our bucket layer."""
    attempts = store_options.pop("max_attempts", 5)
    store = ObjectStoreResource(endpoint_url=endpoint, bucket=bucket, aws_access_key_id=access_key,
                                aws_secret_access_key=secret_key, region_name="us-east-1",
                                max_attempts=attempts).get_store()
    for name, value in store_options.items():
        setattr(store, name, value)
    return store


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback / file
        return response.read()


@pytest.fixture(params=["s3", "local"])
def store(request, tmp_path):
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        return s3_store(server.endpoint, bucket, server.access_key, server.secret_key)
    return LocalObjectStore(tmp_path / "archive")


def test_put_get_exists_roundtrip(store):
    assert not store.exists(KEY)
    assert store.put_bytes(KEY, BODY, "application/json") == KEY
    assert store.exists(KEY)
    assert store.get_bytes(KEY) == BODY
    store.put_bytes(KEY, b"replaced", "application/json")
    assert store.get_bytes(KEY) == b"replaced"


def test_empty_object_and_binary_data(store):
    store.put_bytes("a/empty.bin", b"")
    assert store.get_bytes("a/empty.bin") == b""
    blob = bytes(range(256)) * 1000
    store.put_bytes("a/blob.bin", blob, "application/octet-stream")
    assert store.get_bytes("a/blob.bin") == blob


def test_missing_key_error_names_store_and_key(store):
    with pytest.raises(ObjectNotFoundError) as excinfo:
        store.get_bytes("raw/nothing/here.json")
    message = str(excinfo.value)
    assert "raw/nothing/here.json" in message
    assert store.describe().split(" ")[0].replace("s3://", "") in message
    assert isinstance(excinfo.value, KeyError) and isinstance(excinfo.value, ObjectStoreError)


def test_list_keys_prefix_semantics(store):
    keys = [f"raw/stock_flow_all_1d/2026-03-0{d}/{t}.json" for d in (2, 3) for t in ("a", "b")]
    keys += ["raw/stock_flow_all_10d/2026-03-02/a.json", "reports/2026-03-02/report.md"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert store.list_keys() == sorted(keys)
    assert store.list_keys("raw/") == sorted(k for k in keys if k.startswith("raw/"))
    # a plain string prefix, as in S3: stock_flow_all_1 matches _1d and _10d
    assert store.list_keys("raw/stock_flow_all_1") == sorted(
        k for k in keys if k.startswith("raw/stock_flow_all_1"))
    assert store.list_keys("raw/stock_flow_all_1d/2026-03-03/") == [
        "raw/stock_flow_all_1d/2026-03-03/a.json", "raw/stock_flow_all_1d/2026-03-03/b.json"]
    assert store.list_keys("nothing/") == []


def test_presigned_url_downloads(store):
    store.put_bytes(KEY, BODY, "application/json")
    url = store.url_for(KEY, expires_s=300)
    assert _download(url) == BODY


def test_url_expiry_is_validated(store):
    with pytest.raises(ValueError):
        store.url_for(KEY, expires_s=0)
    with pytest.raises(ValueError):
        store.url_for(KEY, expires_s=8 * 24 * 3600)


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "../up", "a/./b", "dir/", "a\\b"])
def test_bad_keys_are_rejected(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        validate_key(key)


def test_put_requires_bytes(store):
    with pytest.raises(TypeError):
        store.put_bytes("a/b.json", "text, not bytes")  # type: ignore[arg-type]


# --- S3 specifics -------------------------------------------------------------------------------
def test_s3_bucket_is_created_on_first_use(s3_server, s3_bucket):
    client = s3_server.client()
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    assert s3_bucket not in names
    store = s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key, s3_server.secret_key)
    store.put_bytes("x/y.txt", b"hello", "text/plain")
    client.head_bucket(Bucket=s3_bucket)
    head = client.head_object(Bucket=s3_bucket, Key="x/y.txt")
    assert head["ContentType"] == "text/plain"
    # a second store on the same (now existing) bucket: BucketAlreadyOwnedByYou is fine
    again = s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key, s3_server.secret_key)
    again.ensure_bucket()
    assert again.get_bytes("x/y.txt") == b"hello"


def test_s3_concurrent_bucket_creation(s3_server, s3_bucket):
    stores = [s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key,
                       s3_server.secret_key) for _ in range(4)]
    errors = []

    def create(store):
        try:
            store.ensure_bucket()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_s3_without_bucket_creation_fails_clearly(s3_server, s3_bucket):
    store = s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key, s3_server.secret_key,
                     create_bucket=False)
    with pytest.raises(ObjectStoreError, match=s3_bucket):
        store.put_bytes("a.txt", b"x")


def test_s3_list_keys_paginates(s3_server, s3_bucket):
    store = s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key, s3_server.secret_key,
                     list_page_size=7)
    requests = []
    store.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **kwargs: requests.append(kwargs["params"]))
    keys = [f"p/{i:03d}.json" for i in range(30)]
    for key in keys:
        store.put_bytes(key, b"1")
    store.put_bytes("other/x.json", b"1")
    assert store.list_keys("p/") == keys
    assert len(requests) == 5  # 30 keys, 7 per page


def test_s3_presigned_url_is_path_style_and_expires(s3_server, s3_bucket):
    store = s3_store(s3_server.endpoint, s3_bucket, s3_server.access_key, s3_server.secret_key)
    store.put_bytes(KEY, BODY, "application/json")
    url = store.url_for(KEY, expires_s=120)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == s3_server.endpoint
    assert parts.path == f"/{s3_bucket}/{KEY}"
    assert "X-Amz-Expires=120" in parts.query
    assert "X-Amz-Signature=" in parts.query and s3_server.secret_key not in url
    assert _download(url) == BODY
    # (SeaweedFS without an identity config accepts any signature, so a tampered or expired
    # URL cannot be shown to fail here.)


def test_s3_errors_name_the_bucket_and_never_the_secret(s3_bucket):
    # nothing listens on port 9 (discard) of loopback: connection refused, quickly
    store = s3_store("http://127.0.0.1:9", s3_bucket, "AKIATEST", "never-shown-secret",
                     max_attempts=1)
    with pytest.raises(ObjectStoreError) as excinfo:
        store.put_bytes("a/b.json", b"{}")
    message = str(excinfo.value)
    assert s3_bucket in message and "127.0.0.1:9" in message
    assert "never-shown-secret" not in message and "never-shown-secret" not in repr(store)


def test_object_store_from_settings_s3(s3_env):
    store = object_store_from_settings(Settings.from_env(s3_env))
    assert isinstance(store, S3ObjectStore)
    store.put_bytes("from/settings.txt", b"ok")
    assert store.get_bytes("from/settings.txt") == b"ok"
    assert store.describe() == f"s3://{s3_env['FINDATA_S3_BUCKET']} ({s3_env['FINDATA_S3_ENDPOINT']})"


# --- local specifics ----------------------------------------------------------------------------
def test_local_writes_are_atomic_and_leave_no_temp_files(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path / "archive")
    store.put_bytes(KEY, b"old")

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ObjectStoreError, match="disk full"):
        store.put_bytes(KEY, b"new")
    monkeypatch.undo()
    assert store.get_bytes(KEY) == b"old"  # the old object is intact
    leftovers = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert [p.name for p in leftovers] == [Path(KEY).name]
    assert store.list_keys() == [KEY]


def test_local_url_is_file_uri_and_root_is_created_lazily(tmp_path):
    root = tmp_path / "not" / "yet"
    store = LocalObjectStore(root)
    assert not root.exists()
    assert store.list_keys() == []
    store.put_bytes("a/b.txt", b"x")
    url = store.url_for("a/b.txt")
    assert url == (root / "a" / "b.txt").as_uri()
    assert store.describe() == str(root)


def test_object_store_from_settings_local(tmp_path):
    store = object_store_from_settings(Settings.from_env({"FINDATA_HOME": str(tmp_path)}))
    assert isinstance(store, LocalObjectStore)
    store.put_bytes("k.txt", b"v")
    assert (tmp_path / "archive" / "k.txt").read_bytes() == b"v"
