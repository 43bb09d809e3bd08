"""Kubernetes settings of findata runs, as data: per-policy pod resources, run tags, run splitting.

On Kubernetes every Dagster run is a pod (a Job) started by dagster-k8s's K8sRunLauncher. The
launcher has one default for every run (helm/values-dagster.yaml, runLauncher...k8sRunLauncher);
a run's `dagster-k8s/config` tag adjusts its own pod. `k8s_run_tags(policy)` is that tag for a
refresh policy; the policies/planning module merges it into the tags of the runs it plans.

How dagster-k8s combines them (0.29, dagster_k8s.container_context.K8sContainerContext): the
launcher's settings and the tag's `container_config` are merged key by key by default (DEEP merge);
with `merge_behavior: SHALLOW` a tag's `resources` would replace the launcher's wholesale. Either
way, a policy's tag here always names requests AND limits for cpu and memory, so what the pod gets
is exactly the row of POLICY_K8S below, never half of it mixed with the launcher's default.

Scale-out (FINDATA_RUN_SPLIT): by default a policy is one run per table family (all its stock
partitions in one run, all its sector partitions in another). With `group`, a policy's partitions
are split into one run per market / board, so on a cluster the 32 stock partitions of a full
refresh fan out to 8 pods. The Eastmoney request budget still holds across pods: every run that
calls Eastmoney carries the run tag `findata/eastmoney=crawl`, which the instance's run queue limits
(tag_concurrency_limits, the same number in dagster.yaml and the chart's values), and the crawl
steps share the instance-wide `eastmoney` concurrency pool. In-flight requests across the
cluster are at most (runs allowed by that limit) x FINDATA_EASTMONEY_CONCURRENCY.

This module is imported by the planner in every process: standard library and settings only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from findata_assets.settings.operations import RUN_SPLIT_ENV
from findata_assets.settings.operations import run_split_mode as normalise_split

# The run tag dagster-k8s reads (dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY).
K8S_CONFIG_TAG = "dagster-k8s/config"
# Label put on a policy's Job and pod: `kubectl get pods -l findata/policy=quick`.
POLICY_LABEL = "findata/policy"

# Names shared by the Helm values, the chart helm/findata and the docs.
SECRET_NAME = "findata-secrets"
CONFIG_MAP_NAME = "findata-config"
CODE_LOCATION_MODULE = "findata_assets.definitions"
# Keys of the Secret (each becomes an environment variable of the same name in the pods).
SECRET_KEYS = (
    "FINDATA_DATABASE_URL",
    "FINDATA_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "DEEPSEEK_API_KEY",
    "FINDATA_ALERT_WEBHOOK",
)



@dataclass(frozen=True)
class PodSettings:
    """What a run pod of one policy asks for. cpu in Kubernetes quantities ("250m", "1"),
    memory in bytes quantities ("512Mi")."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    # Finished Jobs (and their pods and logs) are deleted this long after they end.
    ttl_seconds_after_finished: int
    # Kubernetes kills a run pod still running after this long (a hung crawl must not hold its
    # policy's lane forever); run monitoring then marks the run failed.
    active_deadline_seconds: int

    @property
    def resources(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


# The per-policy table. Sizing: importing the code location takes ~140 MiB RSS; `quick` crawls one
# table (~5,500 rows), `incremental` 11, `full` all 41 plus the analysis and the report charts.
POLICY_K8S: dict[str, PodSettings] = {
    "quick": PodSettings("100m", "256Mi", "500m", "512Mi",
                         ttl_seconds_after_finished=3_600, active_deadline_seconds=900),
    "incremental": PodSettings("250m", "384Mi", "1", "768Mi",
                               ttl_seconds_after_finished=6 * 3_600, active_deadline_seconds=1_800),
    "full": PodSettings("500m", "768Mi", "2", "2Gi",
                        ttl_seconds_after_finished=7 * 86_400, active_deadline_seconds=7_200),
    # the after-close jobs (history files, housekeeping): a real-size day of intraday rows is
    # held in memory to write and verify its Parquet file (~1.6 GB peak measured)
    "daily": PodSettings("250m", "1Gi", "1", "4Gi",
                         ttl_seconds_after_finished=7 * 86_400, active_deadline_seconds=4 * 3_600),
}

# Runs without a policy tag (launched from the UI, backfills): the launcher's `resources` and
# Job settings in helm/values-dagster.yaml, which must stay equal to these (a test checks).
DEFAULT_RUN_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
DEFAULT_JOB_SPEC = {"backoffLimit": 0, "ttlSecondsAfterFinished": 86_400}


def pod_settings(policy_name: str) -> PodSettings:
    try:
        return POLICY_K8S[policy_name]
    except KeyError:
        raise ValueError(f"no Kubernetes settings for refresh policy {policy_name!r}; add it to "
                         f"findata_assets.deploy.k8s.POLICY_K8S (known: {sorted(POLICY_K8S)})"
                         ) from None


def k8s_config(policy_name: str) -> dict[str, Any]:
    """The `dagster-k8s/config` value for a policy, as a dict (see k8s_run_tags)."""
    settings = pod_settings(policy_name)
    labels = {POLICY_LABEL: policy_name}
    return {
        "container_config": {"resources": settings.resources},
        "pod_template_spec_metadata": {"labels": labels},
        "job_metadata": {"labels": labels},
        "job_spec_config": {
            "ttl_seconds_after_finished": settings.ttl_seconds_after_finished,
            "active_deadline_seconds": settings.active_deadline_seconds,
        },
    }


def k8s_run_tags(policy_name: str) -> dict[str, str]:
    """Run tags giving a policy's run pods their resources, labels and Job lifetime.

    {"dagster-k8s/config": "<JSON>"}; read only by dagster-k8s's run launcher, so the planner
    adds them only on an instance that launches pods (planning.launches_pods).
    """
    return {K8S_CONFIG_TAG: json.dumps(k8s_config(policy_name), sort_keys=True,
                                       separators=(",", ":"))}


def run_split_mode(environ: Mapping[str, str]) -> str:
    """FINDATA_RUN_SPLIT from an environment, validated (unset or empty: the default)."""
    return normalise_split(environ.get(RUN_SPLIT_ENV))


def split_partitions(partition_keys: Sequence[str], mode: str) -> list[list[str]]:
    """Split one family's partition keys (`market|period`, e.g. `all|1d`) into runs.

    family: one run with every key; group: one run per group (the part before `|`), groups and
    keys in their input order. No keys: no runs. Unknown mode: ValueError naming FINDATA_RUN_SPLIT.
    """
    mode = normalise_split(mode)
    keys = list(dict.fromkeys(partition_keys))  # drop repeats, keep order
    if not keys:
        return []
    if mode == "family":
        return [keys]
    runs: dict[str, list[str]] = {}
    for key in keys:
        group, sep, period = key.partition("|")
        if not (group and sep and period):
            raise ValueError(f"partition key {key!r} is not GROUP|PERIOD (e.g. 'all|1d'); "
                             f"{RUN_SPLIT_ENV}=group cannot split it")
        runs.setdefault(group, []).append(key)
    return list(runs.values())
