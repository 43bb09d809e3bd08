"""Prepare MySQL and the S3 bucket for findata: what the Helm hook Job of helm/findata runs.

    python -m findata_assets.deploy.prepare [--skip-mysql] [--skip-bucket]

MySQL (when FINDATA_DATABASE_URL is a mysql URL): with the administrator's URL
FINDATA_MYSQL_ADMIN_URL (e.g. mysql+pymysql://root:PASSWORD@mysql:3306/), create the database
named in FINDATA_DATABASE_URL (utf8mb4) and its user with the password from that URL, and give
that user exactly FINDATA_MYSQL_GRANTS on that database and nothing else (default: what the
warehouse needs - SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX; no DROP, no ALTER, no other
database). Re-running is safe: a changed password or grant list is applied again.
FINDATA_MYSQL_USER_HOST is the account's host part (default '%').

Bucket (when FINDATA_S3_ENDPOINT is set): create FINDATA_S3_BUCKET when missing, with
FINDATA_S3_ADMIN_ACCESS_KEY_ID / FINDATA_S3_ADMIN_SECRET_ACCESS_KEY when given (an application
key should not be allowed to create buckets), else with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

The servers may start after the Job: connections are retried for FINDATA_PREPARE_WAIT_SECONDS
(default 120). Passwords and keys are never printed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypeVar

from findata_assets import environment
from findata_assets.redaction import redact
from findata_assets.settings.deployment import PrepareSettings
from findata_assets.settings.values import SettingsError

DEFAULT_GRANTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "INDEX")
ALLOWED_GRANTS = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "INDEX", "ALTER", "DROP",
    "CREATE VIEW", "SHOW VIEW", "CREATE TEMPORARY TABLES", "LOCK TABLES", "REFERENCES",
})
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ADMIN_NAMES = {"root", "mysql", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"}

T = TypeVar("T")


class PrepareError(RuntimeError):
    """A setting or a server says no; the message names the setting and never a secret."""


@dataclass(frozen=True)
class MysqlPlan:
    database: str
    user: str
    password: str
    user_host: str
    grants: tuple[str, ...]

    def __repr__(self) -> str:  # never the password
        return (f"MysqlPlan(database={self.database!r}, user={self.user!r}, "
                f"user_host={self.user_host!r}, grants={self.grants!r})")


def parse_grants(text: str | None) -> tuple[str, ...]:
    if not text or not text.strip():
        return DEFAULT_GRANTS
    grants = tuple(dict.fromkeys(" ".join(g.split()).upper() for g in text.split(",") if g.strip()))
    unknown = [g for g in grants if g not in ALLOWED_GRANTS]
    if unknown:
        raise PrepareError(f"FINDATA_MYSQL_GRANTS: {unknown} not allowed here; "
                           f"choose from {sorted(ALLOWED_GRANTS)}")
    return grants


def mysql_plan(app_url: str, user_host: str = "%", grants: Sequence[str] = DEFAULT_GRANTS
               ) -> MysqlPlan:
    """What to create, from the application's FINDATA_DATABASE_URL."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(app_url)
    except Exception:  # noqa: BLE001 - the URL may hold a password: do not echo it
        raise PrepareError("FINDATA_DATABASE_URL is not a valid database URL") from None
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise PrepareError(f"FINDATA_DATABASE_URL is a {url.get_backend_name()} URL, not MySQL")
    if not url.database or not _NAME.match(url.database):
        raise PrepareError("FINDATA_DATABASE_URL must name a database of letters, digits and _ "
                           f"(got {url.database!r})")
    if not url.username or not _NAME.match(url.username):
        raise PrepareError("FINDATA_DATABASE_URL must name a user of letters, digits and _")
    if url.username.lower() in _ADMIN_NAMES:
        raise PrepareError(f"FINDATA_DATABASE_URL uses the administrator {url.username!r}; give "
                           "the application its own user (this Job creates it)")
    if not url.password:
        raise PrepareError("FINDATA_DATABASE_URL has no password for the application user")
    if not user_host or "'" in user_host or "\\" in user_host:
        raise PrepareError(f"FINDATA_MYSQL_USER_HOST {user_host!r} is not a host pattern")
    return MysqlPlan(url.database, url.username, str(url.password), user_host, tuple(grants))


def mysql_statements(plan: MysqlPlan) -> list[tuple[str, tuple[str, ...]]]:
    """(SQL, parameters) in order; identifiers are checked names, strings are parameters."""
    account = "%s@%s"
    account_args = (plan.user, plan.user_host)
    return [
        (f"CREATE DATABASE IF NOT EXISTS `{plan.database}` "
         "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", ()),
        (f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY %s", (*account_args, plan.password)),
        (f"ALTER USER {account} IDENTIFIED BY %s", (*account_args, plan.password)),
        (f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}", account_args),
        (f"GRANT {', '.join(plan.grants)} ON `{plan.database}`.* TO {account}", account_args),
    ]


def _retry(what: str, action: Callable[[], T], wait_s: float, log: Callable[[str], None]) -> T:
    deadline = time.monotonic() + wait_s
    delay = 1.0
    while True:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001
            if time.monotonic() + delay > deadline:
                raise PrepareError(f"{what}: {type(exc).__name__}: {redact(str(exc))}") from None
            log(f"{what}: not ready ({type(exc).__name__}); retrying in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def prepare_mysql(app_url: str, admin_url: str, user_host: str = "%",
                  grants: Sequence[str] = DEFAULT_GRANTS, wait_s: float = 120.0,
                  log: Callable[[str], None] = print) -> MysqlPlan:
    """Create the database and the least-privilege user of FINDATA_DATABASE_URL; idempotent."""
    import pymysql
    from sqlalchemy.engine import make_url

    plan = mysql_plan(app_url, user_host, grants)
    try:
        admin = make_url(admin_url)
    except Exception:  # noqa: BLE001
        raise PrepareError("FINDATA_MYSQL_ADMIN_URL is not a valid database URL") from None
    if admin.get_backend_name() not in ("mysql", "mariadb"):
        raise PrepareError("FINDATA_MYSQL_ADMIN_URL must be a mysql URL")
    if admin.username == plan.user:
        raise PrepareError("FINDATA_MYSQL_ADMIN_URL and FINDATA_DATABASE_URL name the same user")
    host = admin.host or make_url(app_url).host or "127.0.0.1"

    def connect():
        return pymysql.connect(host=host, port=admin.port or 3306, user=admin.username or "root",
                               password=str(admin.password or ""), charset="utf8mb4",
                               connect_timeout=5, autocommit=True)

    conn = _retry(f"MySQL {host}:{admin.port or 3306}", connect, wait_s, log)
    try:
        with conn.cursor() as cur:
            for sql, args in mysql_statements(plan):
                cur.execute(sql, args or None)
    except pymysql.MySQLError as exc:
        raise PrepareError(f"MySQL refused the preparation: {redact(str(exc))}") from None
    finally:
        conn.close()
    log(f"MySQL: database {plan.database!r} ready; user {plan.user!r}@{plan.user_host!r} has "
        f"{', '.join(plan.grants)} on it and nothing else")
    return plan


def prepare_bucket(endpoint: str, bucket: str, access_key: str, secret_key: str,
                   region: str = "us-east-1", wait_s: float = 120.0,
                   log: Callable[[str], None] = print) -> str:
    """Create the bucket when missing; returns "created" or "exists"."""
    from findata_assets.resources.object_store import ObjectStoreResource
    from findata_assets.storage.object_store import ObjectStoreError

    if not bucket:
        raise PrepareError("FINDATA_S3_BUCKET is empty")
    if not access_key or not secret_key:
        raise PrepareError("S3 keys missing: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the "
                           "FINDATA_S3_ADMIN_* pair)")
    store = ObjectStoreResource(endpoint_url=endpoint, bucket=bucket, region_name=region,
                                aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                max_attempts=2).get_store()
    if _retry(f"S3 {endpoint}", store.bucket_exists, wait_s, log):
        log(f"S3: bucket {bucket!r} exists at {endpoint}")
        return "exists"
    try:
        store.make_bucket()
    except ObjectStoreError as exc:
        raise PrepareError(f"S3 refused to create bucket {bucket!r}: {redact(str(exc))}") from None
    log(f"S3: bucket {bucket!r} created at {endpoint}")
    return "created"


def prepare_compat_views(admin_url: str, database: str, log: Callable[[str], None]) -> str:
    """The original crawler's tables as views in the application's database, created with the
    administrator's account (the application's grants hold no DROP)."""
    from sqlalchemy.engine import make_url

    from findata_assets.storage.compat_views import create_views
    from findata_assets.storage.warehouse import Warehouse

    warehouse = Warehouse(make_url(admin_url).set(database=database))
    try:
        names = create_views(warehouse)
    except ValueError as exc:
        raise PrepareError(str(exc)) from None
    finally:
        warehouse.dispose()
    log(f"mysql: {len(names)} compatibility views in {database}")
    return f"compat views: {len(names)} in {database}"


def run(environ: Mapping[str, str], skip_mysql: bool = False, skip_bucket: bool = False,
        log: Callable[[str], None] = print) -> list[str]:
    """Everything the Job does; returns what was done, one line per part."""
    try:
        settings = PrepareSettings.from_env(environ)
    except SettingsError as exc:
        raise PrepareError(str(exc)) from None
    done = []
    db_url = settings.database_url
    if skip_mysql:
        done.append("mysql: skipped")
    elif not db_url or not db_url.startswith(("mysql", "mariadb")):
        done.append("mysql: FINDATA_DATABASE_URL is not a MySQL URL; nothing to prepare")
    else:
        if not settings.mysql_admin_url:
            raise PrepareError("FINDATA_MYSQL_ADMIN_URL is not set (the administrator's URL, from "
                               "the admin Secret)")
        plan = prepare_mysql(db_url, settings.mysql_admin_url, settings.mysql_user_host,
                             parse_grants(settings.mysql_grants), settings.wait_s, log)
        done.append(f"mysql: {plan.database} / {plan.user}@{plan.user_host}")
        if settings.compat_views:
            done.append(prepare_compat_views(settings.mysql_admin_url, plan.database, log))
    if skip_bucket:
        done.append("bucket: skipped")
    elif not settings.s3_endpoint:
        done.append("bucket: FINDATA_S3_ENDPOINT is not set; nothing to prepare")
    else:
        state = prepare_bucket(
            settings.s3_endpoint, settings.s3_bucket, settings.s3_access_key_id,
            settings.s3_secret_access_key, settings.s3_region, settings.wait_s, log)
        done.append(f"bucket: {settings.s3_bucket} {state}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets.deploy.prepare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-mysql", action="store_true")
    parser.add_argument("--skip-bucket", action="store_true")
    args = parser.parse_args(argv)
    try:
        for line in run(environment.current(), args.skip_mysql, args.skip_bucket,
                        log=lambda m: print(m, flush=True)):
            print(f"done: {line}", flush=True)
    except PrepareError as exc:
        print(f"prepare failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
