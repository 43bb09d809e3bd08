"""The storage area: the warehouse and object store resources every other area uses."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.storage.resources import store_resources
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings) -> dg.Definitions:
    return dg.Definitions(resources=dict(store_resources(settings.stores)))
