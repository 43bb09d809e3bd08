"""The two family jobs: every launch path (the CLI, the schedules, the sensors, the UI) runs
these, with a partition range in the run's tags."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.eastmoney.assets import raw_asset_name, table_asset_name
from findata_assets.eastmoney.catalog import TableKind

FAMILY_JOBS: dict[TableKind, str] = {"stock": "stock_flow_job", "sector": "sector_flow_job"}

FAMILY_JOB_DEFS: dict[TableKind, dg.UnresolvedAssetJobDefinition] = {
    kind: dg.define_asset_job(
        name=job_name,
        selection=[raw_asset_name(kind), table_asset_name(kind)],
        description=f"Crawl and store {kind} fund-flow tables; pass a partition range.",
    )
    for kind, job_name in FAMILY_JOBS.items()
}
