"""Resources chosen from the environment: embedded defaults, or MySQL + S3 when configured.

Secrets are passed as `dg.EnvVar` so Dagster resolves them at run time and the UI never shows
their values.
"""

from __future__ import annotations

import os
from typing import Mapping

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.endpoint import ENV_URL, normalise_url
from findata_assets.eastmoney.resources import EastmoneyResource
from findata_assets.settings import SettingsError
from findata_assets.storage.io_managers import SnapshotArchiveIOManager, WarehouseIOManager
from findata_assets.storage.resources import store_resources


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
    stores = store_resources(environ)
    object_store, warehouse = stores["object_store"], stores["warehouse"]
    return {
        "eastmoney": eastmoney_resource(environ),
        "object_store": object_store,
        "warehouse": warehouse,
        "archive_io_manager": SnapshotArchiveIOManager(object_store=object_store),
        "warehouse_io_manager": WarehouseIOManager(warehouse_resource=warehouse),
    }
