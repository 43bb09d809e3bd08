"""The findata code location: `dagster dev -m findata_assets.definitions`, workspace.yaml, or
`-m findata_assets`. The definitions are built on first use (findata_assets/defs), not at import."""

import dagster as dg

from findata_assets.defs.location import build_definitions, location  # noqa: F401 (entry points)


@dg.definitions
def defs() -> dg.Definitions:
    return location()
