"""The analysis area: the daily digest + LLM narrative asset and its resources."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.analysis.assets import build_analysis_asset
from findata_assets.defs.analysis.resources import llm_resource, report_settings
from findata_assets.defs.code_references import with_code_references
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings,
                trading_days: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=with_code_references([build_analysis_asset(trading_days)], settings),
        resources={"llm": llm_resource(settings.llm),
                   "report_settings": report_settings(settings.report)})
