"""The analysis area: the daily digest + LLM narrative asset and its resources."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.analysis.assets import fund_flow_analysis
from findata_assets.defs.analysis.resources import llm_resource, report_settings
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings) -> dg.Definitions:
    return dg.Definitions(assets=[fund_flow_analysis], resources={
        "llm": llm_resource(settings.llm), "report_settings": report_settings(settings.report)})
