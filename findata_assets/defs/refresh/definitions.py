"""The refresh automation area: one schedule per policy and family, the sensors (analysis
after a full cycle, failure alerts, calendar horizon), and the tables' freshness policies."""

from __future__ import annotations

import warnings

import dagster as dg

from findata_assets.defs.refresh.policies import FRESHNESS_MEANING, FRESHNESS_POLICIES
from findata_assets.defs.refresh.schedules import SCHEDULES
from findata_assets.defs.refresh.sensors import build_sensors
from findata_assets.settings import FindataSettings


def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    policy = FRESHNESS_POLICIES.get(spec.key.to_user_string())
    if policy is None or spec.freshness_policy is not None:  # one set on the asset wins
        return spec
    # the UI shows the deadline cron in words; what "fresh" means here is in the description
    description = f"{spec.description}\n\n{FRESHNESS_MEANING}" if spec.description else FRESHNESS_MEANING
    return spec.replace_attributes(freshness_policy=policy, description=description)


def definitions(settings: FindataSettings, job_names: set[str]) -> dg.Definitions:
    """The schedules and sensors; the analysis sensor only when its job is in `job_names`."""
    return dg.Definitions(schedules=SCHEDULES, sensors=build_sensors(job_names))


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """`defs` with the freshness policy of every table asset that has one."""
    with warnings.catch_warnings():  # map_asset_specs is marked preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=_with_freshness)
