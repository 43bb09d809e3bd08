"""The findata code location: `dagster dev -m findata_assets.definitions` or workspace.yaml."""

from __future__ import annotations

import os
from typing import Mapping

import dagster as dg

from findata_assets.analysis.definitions import (
    ANALYSIS_ASSETS, ANALYSIS_RESOURCES, analysis_report_job)
from findata_assets.eastmoney.assets import FLOW_ASSETS
from findata_assets.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.resources import build_resources


def build_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    return list(FAMILY_JOB_DEFS.values())


def build_definitions(environ: Mapping[str, str] | None = None) -> dg.Definitions:
    environ = os.environ if environ is None else environ
    return dg.Definitions(
        assets=[*FLOW_ASSETS, *ANALYSIS_ASSETS],
        jobs=[*build_jobs(), analysis_report_job],
        # analysis: llm + report_settings; warehouse/object_store are the same as build_resources'
        resources={**ANALYSIS_RESOURCES(environ), **build_resources(environ)},
        # A process per step costs 1-2 s here; the steps are I/O-bound and parallel inside.
        executor=dg.in_process_executor,
    )


# --- refresh automation (schedules, sensors, table freshness): findata_assets/refresh/__init__.py
from findata_assets.refresh import with_automation  # noqa: E402

defs = with_automation(build_definitions())
