"""The report area: the Markdown report asset and the job that analyses and reports one
trading day (partition key YYYY-MM-DD)."""

from __future__ import annotations

import dagster as dg

from findata_assets.run_names import ANALYSIS_JOB_NAME

from findata_assets.defs.analysis.assets import ANALYSIS_ASSET
from findata_assets.defs.report.assets import REPORT_ASSET, build_report_asset
from findata_assets.defs.code_references import with_code_references
from findata_assets.settings import FindataSettings


analysis_report_job = dg.define_asset_job(
    name=ANALYSIS_JOB_NAME,
    selection=[ANALYSIS_ASSET, REPORT_ASSET],
    description="Digest + LLM narrative, then the Markdown report, for one trading day "
                "(partition key YYYY-MM-DD). Reads the stored tables only.",
)


def definitions(settings: FindataSettings,
                trading_days: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=with_code_references([build_report_asset(trading_days)], settings),
                          jobs=[analysis_report_job])
