"""The two family jobs: every launch path (the CLI, the schedules, the sensors, the UI) runs
these, with a partition range in the run's tags."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.eastmoney.families import FAMILIES
from findata_assets.eastmoney.catalog import TableKind

FAMILY_JOB_DEFS: dict[TableKind, dg.UnresolvedAssetJobDefinition] = {
    kind: dg.define_asset_job(
        name=family.job_name,
        selection=[family.raw_key, family.table_key],
        description=f"Crawl and store {kind} fund-flow tables; pass a partition range.",
    )
    for kind, family in FAMILIES.items()
}
