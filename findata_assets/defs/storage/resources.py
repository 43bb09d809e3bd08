"""The code location's two store resources, configured from the settings and shared by every
area (IO managers, analysis, report). The resource classes live in findata_assets/resources."""

from __future__ import annotations

import functools
from typing import Optional

import dagster as dg

from findata_assets.resources.object_store import object_store_resource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.settings import ENV_ACCESS_KEY, ENV_DATABASE_URL, ENV_SECRET_KEY, Settings


def secret(name: str, value: Optional[str]):
    """A configured secret as `dg.EnvVar`: Dagster resolves it at run time from the same
    variable, and neither the UI nor the run's stored config ever holds its value."""
    return dg.EnvVar(name) if value else None


@functools.lru_cache(maxsize=8)
def store_resources(stores: Settings) -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the object store as the settings configure them (one place for every
    code path: the code location, the report samples). The same instances for the same
    settings: an IO manager's nested store is then the location's store, not a second one."""
    return {
        "warehouse": WarehouseResource(
            database_url=(dg.EnvVar(ENV_DATABASE_URL) if stores.database_url_from_env
                          else stores.database_url),  # the URL may hold the password
            timeout_s=stores.database_timeout_s),
        "object_store": object_store_resource(
            stores, secret(ENV_ACCESS_KEY, stores.aws_access_key_id),
            secret(ENV_SECRET_KEY, stores.aws_secret_access_key)),
    }
