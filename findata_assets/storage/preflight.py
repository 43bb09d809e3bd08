"""Are the stores there? Asked at the start of a crawl, so a database or object store that is
down fails the run in seconds, before the first API request, naming the setting to fix."""

from __future__ import annotations

from findata_assets.settings import ENV_DATABASE_URL, ENV_S3_BUCKET, ENV_S3_ENDPOINT
from findata_assets.storage.object_store import ObjectStore
from findata_assets.storage.warehouse import Warehouse, driver_error


class StoreUnavailableError(RuntimeError):
    """The warehouse or the object store does not answer; nothing was fetched or stored."""


def warehouse_unavailable(warehouse: Warehouse, exc: BaseException,
                          consequence: str) -> StoreUnavailableError:
    """The one-line error for a warehouse that does not answer (no password in it)."""
    return StoreUnavailableError(
        f"the warehouse {warehouse.describe()} does not answer ({driver_error(exc)}); "
        f"{consequence}: check {ENV_DATABASE_URL} and that the server is up")


def check_stores(warehouse: Warehouse, store: ObjectStore,
                 consequence: str = "nothing was fetched") -> None:
    try:
        warehouse.ping()
    except Exception as exc:  # noqa: BLE001 - any driver error means "not usable"
        raise warehouse_unavailable(warehouse, exc, consequence) from None
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001
        raise StoreUnavailableError(
            f"the object store {store.describe()} is not usable ({exc}); {consequence}: "
            f"check {ENV_S3_ENDPOINT}, {ENV_S3_BUCKET} and the AWS_* keys") from None
