"""Per-test databases `findata_test_<hex>` on the tests' MariaDB server: create one, drop one, or
both around a `with` block."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator, Optional

from findata_assets_tests.mariadb_setup import (ENV_TEST_MYSQL_URL, MARIADB_HOST, MARIADB_PORT,
                                                MARIADB_SERVER_URL)

TEST_DB_PREFIX = "findata_test_"


def mysql_server_url() -> str:
    """The server URL (no database) the tests use: FINDATA_TEST_MYSQL_URL or local root."""
    return os.environ.get(ENV_TEST_MYSQL_URL) or MARIADB_SERVER_URL


def _server_connect(server_url: str):
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    return pymysql.connect(host=url.host or MARIADB_HOST, port=url.port or MARIADB_PORT,
                           user=url.username or "root", password=url.password or "",
                           charset="utf8mb4", autocommit=True, connect_timeout=5)


def create_test_database(server_url: str) -> tuple[str, str]:
    """A fresh empty utf8mb4 database `findata_test_<hex>`; returns (name, URL with it)."""
    from sqlalchemy.engine import make_url

    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"
    conn = _server_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                        f"COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    url = make_url(server_url).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_test_database(server_url: str, name: str) -> None:
    if not name.startswith(TEST_DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a {TEST_DB_PREFIX}* database")
    conn = _server_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@contextlib.contextmanager
def temporary_database(server_url: Optional[str] = None) -> Iterator[str]:
    server_url = server_url or mysql_server_url()
    name, url = create_test_database(server_url)
    try:
        yield url
    finally:
        drop_test_database(server_url, name)
