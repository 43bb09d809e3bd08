"""Refresh automation: policies (data), planning, schedules, sensors, alerts, operator commands.

`with_automation(defs)` adds the schedules and sensors to a code location and attaches the
table assets' freshness policies; imports are lazy so `refresh.policies` stays light.
"""

from __future__ import annotations

import warnings

import dagster as dg


def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    from findata_assets.refresh.policies import FRESHNESS_POLICIES

    policy = FRESHNESS_POLICIES.get(spec.key.to_user_string())
    if policy is None or spec.freshness_policy is not None:  # one set on the asset wins
        return spec
    return spec.replace_attributes(freshness_policy=policy)


def with_automation(defs: dg.Definitions) -> dg.Definitions:
    from findata_assets.refresh.schedules import SCHEDULES
    from findata_assets.refresh.sensors import build_sensors

    job_names = {job.name for job in (defs.jobs or [])}
    with warnings.catch_warnings():  # map_asset_specs is marked preview in 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        mapped = defs.map_asset_specs(func=_with_freshness)
    return dg.Definitions.merge(
        mapped,
        dg.Definitions(schedules=SCHEDULES, sensors=build_sensors(job_names)),
    )
