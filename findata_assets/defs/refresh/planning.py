"""Turn a policy into the runs that carry it out: one ranged run per table family by default."""

from __future__ import annotations

from dataclasses import dataclass

from findata_assets import settings
from findata_assets.defs.eastmoney import partitions
from findata_assets.defs.eastmoney.families import FAMILIES
from findata_assets.defs.refresh.policies import (
    CYCLE_TAG, EASTMONEY_TAG, LANE_TAG, POLICY_TAG, RefreshPolicy)
from findata_assets.deploy.k8s import k8s_run_tags, split_partitions
from findata_assets.eastmoney.catalog import TableKind


@dataclass(frozen=True)
class PlannedRun:
    policy: str
    kind: TableKind
    job_name: str
    partition_keys: tuple[str, ...]
    tags: dict[str, str]


def launches_pods(instance) -> bool:
    """Does this instance launch runs as Kubernetes pods? (Only then do runs need the
    dagster-k8s/config tag: elsewhere it is a long JSON chip on every run in the UI.)"""
    return type(getattr(instance, "run_launcher", None)).__name__ == "K8sRunLauncher"


def plan_runs(policy: RefreshPolicy, cycle_id: str, split: str | None = None,
              kinds: tuple[TableKind, ...] = ("stock", "sector"),
              kubernetes: bool = False) -> list[PlannedRun]:
    split = split or settings.refresh().run_split
    runs = []
    for kind in kinds:
        keys = list(policy.partitions(kind))
        if not keys:
            continue
        for chunk in split_partitions(keys, split):
            tags = {
                POLICY_TAG: policy.name,
                CYCLE_TAG: cycle_id,
                EASTMONEY_TAG: "crawl",
                LANE_TAG: f"{policy.name}:{kind}",
                "dagster/priority": str(policy.priority),
                **(k8s_run_tags(policy.pod_profile or policy.name) if kubernetes else {}),
                **policy.tags,
                **partitions.range_tags(kind, chunk),
            }
            runs.append(PlannedRun(policy.name, kind, FAMILIES[kind].job_name, tuple(chunk), tags))
    return runs
