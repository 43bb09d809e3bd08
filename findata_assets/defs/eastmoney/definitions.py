"""The Eastmoney area: the four fund-flow assets, their checks, the two family jobs and the
API client resource."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.eastmoney.assets import FLOW_ASSETS
from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.eastmoney.resources import EastmoneyResource
from findata_assets.settings import FindataSettings


def definitions(settings: FindataSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=FLOW_ASSETS, jobs=list(FAMILY_JOB_DEFS.values()),
        resources={"eastmoney": EastmoneyResource.from_settings(settings.eastmoney)})
