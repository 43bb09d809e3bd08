"""Resources chosen from the environment: embedded defaults, or MySQL + S3 when configured.

Secrets are passed as `dg.EnvVar` so Dagster resolves them at run time and the UI never shows
their values.
"""

from __future__ import annotations

import os
from typing import Mapping

import dagster as dg

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.endpoint import ENV_URL, normalise_url
from findata_assets.eastmoney.resources import EastmoneyResource
from findata_assets.settings import Settings, SettingsError
from findata_assets.storage.io_managers import SnapshotArchiveIOManager, WarehouseIOManager
from findata_assets.storage.resources import ObjectStoreResource, WarehouseResource


def _secret(environ: Mapping[str, str], name: str, fallback: str | None = None):
    return dg.EnvVar(name) if environ.get(name) else fallback


def _positive_int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def eastmoney_resource(environ: Mapping[str, str]) -> EastmoneyResource:
    try:  # a bare `http://host:port` gets the API's path; garbage is refused at load time
        url = normalise_url(environ.get(ENV_URL) or catalog.API_URL)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return EastmoneyResource(
        base_url=url,
        concurrency=_positive_int(environ, "FINDATA_EASTMONEY_CONCURRENCY", 4),
        min_interval_ms=_positive_int(environ, "FINDATA_EASTMONEY_MIN_INTERVAL_MS", 0, minimum=0),
        max_attempts=_positive_int(environ, "FINDATA_EASTMONEY_MAX_ATTEMPTS", 5),
    )


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Validate every setting up front so a bad one fails at load time, naming the variable."""
    environ = os.environ if environ is None else environ
    settings = Settings.from_env(environ)
    object_store = ObjectStoreResource(
        s3_endpoint=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        access_key_id=_secret(environ, "AWS_ACCESS_KEY_ID"),
        secret_access_key=_secret(environ, "AWS_SECRET_ACCESS_KEY"),
        local_dir=str(settings.archive_dir),
    )
    warehouse = WarehouseResource(
        database_url=_secret(environ, "FINDATA_DATABASE_URL", settings.database_url),
        timeout_s=settings.database_timeout_s)
    return {
        "eastmoney": eastmoney_resource(environ),
        "object_store": object_store,
        "warehouse": warehouse,
        "archive_io_manager": SnapshotArchiveIOManager(object_store=object_store),
        "warehouse_io_manager": WarehouseIOManager(warehouse_resource=warehouse),
    }
