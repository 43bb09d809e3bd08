"""Kubernetes deployment, checked without a cluster.

- run pods: the Job of each refresh policy's run, built by dagster-k8s itself (the K8sRunLauncher
  of an instance loaded from helm/instance/dagster-k8s.yaml, its Kubernetes API replaced by a
  recorder), validated against the Kubernetes schema and checked field by field;
- the instance config loads (PostgreSQL on 127.0.0.1:5432, a dummy kubeconfig) with our launcher,
  queue limits and retries, equal to ./dagster.yaml and to the chart values;
- our chart helm/findata passes `helm lint` and `helm template`, every rendered object validates;
- the values for the official chart, structurally; the Dockerfile and its build context;
- the prepare Job's module against the real MariaDB and S3 server of the test services.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

import dagster as dg
from dagster._serdes import deserialize_value
from findata_assets.deploy import k8s, prepare
from findata_assets_tests import k8s_support as ks

POLICIES = ("quick", "incremental", "full")
RUN_UID = 10001
# Values that must never reach a manifest: set in the launching process's environment.
SENTINELS = {
    "FINDATA_DATABASE_URL": "mysql+pymysql://findata:sentinel-db-pass-5f1c@db:3306/findata",
    "AWS_SECRET_ACCESS_KEY": "sentinel-s3-secret-8a2e",
    "DEEPSEEK_API_KEY": "sentinel-deepseek-key-77b0",
}


def _quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text).groups()
    return float(number) * units[unit]


# ------------------------------------------------------------------------------------------------
# shared fixtures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dagster_values() -> dict[str, Any]:
    return ks.load_yaml(ks.DAGSTER_VALUES)


@pytest.fixture(scope="module")
def chart_values() -> dict[str, Any]:
    return ks.load_yaml(ks.CHART_DIR / "values.yaml")


@pytest.fixture(scope="module")
def local_instance() -> dict[str, Any]:
    return ks.load_yaml(ks.LOCAL_DAGSTER_YAML)


@pytest.fixture(scope="module")
def image(dagster_values) -> str:
    spec = dagster_values["dagster-user-deployments"]["deployments"][0]["image"]
    return f"{spec['repository']}:{spec['tag']}"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    try:
        return ks.find_or_install_helm()
    except ks.HelmUnavailable as exc:
        pytest.skip(f"helm unavailable, chart not rendered: {exc}")


@pytest.fixture(scope="module")
def k8s_instance(tmp_path_factory):
    """A DagsterInstance from helm/instance/dagster-k8s.yaml: the launcher pointed at a dummy
    kubeconfig; storage on a scratch database of the local PostgreSQL (or SQLite files when no
    PostgreSQL answers, the launcher being what is tested)."""
    home = tmp_path_factory.mktemp("k8s_dagster_home")
    config = ks.load_yaml(ks.INSTANCE_YAML)
    launcher = config["run_launcher"]["config"]
    assert launcher["load_incluster_config"] is True  # what the cluster uses
    launcher["load_incluster_config"] = False
    launcher["kubeconfig_file"] = str(ks.write_dummy_kubeconfig(home / "kubeconfig"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_PG_PASSWORD", "")  # in the cluster: from dagster-postgresql-secret
        if ks.postgres_available():
            database = ks.scratch_postgres_database()
            local_pg = database.__enter__()
            for section in ("run_storage", "event_log_storage", "schedule_storage"):
                config[section]["config"]["postgres_db"].update(local_pg)
        else:
            database = None
            for section in ("run_storage", "event_log_storage", "schedule_storage"):
                config.pop(section)
            config["storage"] = {"sqlite": {"base_dir": str(home)}}
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            yield instance
        finally:
            instance.dispose()
            if database is not None:
                database.__exit__(None, None, None)


def _launch(instance: dg.DagsterInstance, job_name: str, tags: dict[str, str], image: str
            ) -> tuple[Any, dict[str, Any], str]:
    """Launch a run as the daemon would, through the instance's K8sRunLauncher, whose Kubernetes
    API is a recorder; returns (run, the Job manifest, its namespace)."""
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.remote_origin import (GrpcServerCodeLocationOrigin, RemoteJobOrigin,
                                             RemoteRepositoryOrigin)
    from dagster._core.test_utils import create_run_for_test
    from dagster_k8s.client import DagsterKubernetesClient

    # What the code location's gRPC server reports: the image comes from DAGSTER_CURRENT_IMAGE,
    # which the chart sets on the user deployment to deployments[0].image.
    repository = RepositoryPythonOrigin(
        executable_path="/usr/local/bin/python",
        code_pointer=ModuleCodePointer(k8s.CODE_LOCATION_MODULE, "defs", "/opt/findata"),
        container_image=image, entry_point=["dagster"])
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(
        GrpcServerCodeLocationOrigin(host="dagster-dagster-user-deployments-findata", port=3030,
                                     location_name="findata"), "__repository__"), job_name)
    run = create_run_for_test(instance, job_name=job_name, tags=tags,
                              job_code_origin=JobPythonOrigin(job_name, repository),
                              remote_job_origin=remote)
    launcher = instance.run_launcher
    recorder = ks.RecordingBatchApi()
    launcher._api_client = DagsterKubernetesClient.production_client(batch_api_override=recorder)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    assert len(recorder.created) == 1, recorder.created
    namespace, body = recorder.created[0]
    return run, ks.to_manifest(body), namespace


@pytest.fixture(scope="module")
def policy_jobs(k8s_instance, image, tmp_path_factory):
    """{policy: (run, Job manifest, namespace)} for the first planned run of each policy, with
    secret-looking sentinels in the launching process's environment."""
    from findata_assets.defs.refresh.planning import plan_runs
    from findata_assets.defs.refresh.policies import POLICIES as REFRESH_POLICIES

    out_dir = Path(os.environ.get("FINDATA_K8S_MANIFESTS_DIR")
                   or tmp_path_factory.mktemp("run_jobs"))
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SENTINELS.items():
            mp.setenv(name, value)
        for policy in POLICIES:
            planned = plan_runs(REFRESH_POLICIES[policy], cycle_id="k8s-test", split="family",
                                kubernetes=True)[0]
            jobs[policy] = _launch(k8s_instance, planned.job_name, planned.tags, image)
            (out_dir / f"run-job-{policy}.yaml").write_text(
                yaml.safe_dump(jobs[policy][1], sort_keys=False))
    return jobs


# ------------------------------------------------------------------------------------------------
# per-policy settings and run splitting (pure)
# ------------------------------------------------------------------------------------------------
def test_k8s_run_tags_are_valid_dagster_k8s_config_per_policy():
    from dagster_k8s.job import get_user_defined_k8s_config

    requests = {}
    for policy in POLICIES:
        tags = k8s.k8s_run_tags(policy)
        assert set(tags) == {"dagster-k8s/config"}
        assert all(isinstance(v, str) for v in tags.values())
        config = get_user_defined_k8s_config(tags)  # dagster-k8s's own schema check
        resources = config.container_config["resources"]
        # both halves, for cpu and memory: never half merged with the launcher's default
        assert set(resources) == {"requests", "limits"}
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
        assert resources == k8s.POLICY_K8S[policy].resources
        for kind in ("cpu", "memory"):
            assert _quantity(resources["requests"][kind]) <= _quantity(resources["limits"][kind])
        assert config.pod_template_spec_metadata["labels"] == {"findata/policy": policy}
        assert config.job_spec_config["ttl_seconds_after_finished"] > 0
        requests[policy] = (_quantity(resources["requests"]["cpu"]),
                            _quantity(resources["requests"]["memory"]))
    assert requests["quick"] < requests["incremental"] < requests["full"]


def test_k8s_run_tags_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'hourly'.*POLICY_K8S"):
        k8s.k8s_run_tags("hourly")


def test_every_refresh_policy_has_k8s_settings():
    from findata_assets.defs.refresh.policies import POLICIES as REFRESH_POLICIES

    assert set(REFRESH_POLICIES) | {"daily"} == set(k8s.POLICY_K8S)  # daily: after-close jobs


def test_split_partitions_family_and_group():
    from findata_assets.defs.refresh.policies import POLICIES as REFRESH_POLICIES

    stock = list(REFRESH_POLICIES["full"].stock_partitions)
    assert len(stock) == 32
    assert k8s.split_partitions(stock, "family") == [stock]
    groups = k8s.split_partitions(stock, "group")
    assert len(groups) == 8
    assert all(len(g) == 4 and len({key.split("|")[0] for key in g}) == 1 for g in groups)
    assert [key for g in groups for key in g] == stock  # nothing lost, order kept
    assert k8s.split_partitions(["all|1d", "sh_a|1d", "all|3d"], " Group ") == [
        ["all|1d", "all|3d"], ["sh_a|1d"]]
    assert k8s.split_partitions([], "group") == []
    assert k8s.split_partitions(["all|1d"], "") == [["all|1d"]]  # empty = the default
    with pytest.raises(ValueError, match="FINDATA_RUN_SPLIT='market'"):
        k8s.split_partitions(stock, "market")
    with pytest.raises(ValueError, match="GROUP|PERIOD"):
        k8s.split_partitions(["all"], "group")
    assert k8s.run_split_mode({}) == "family"
    assert k8s.run_split_mode({"FINDATA_RUN_SPLIT": "group"}) == "group"


@pytest.mark.parametrize("split", ["family", "group"])
def test_planned_runs_carry_k8s_tags_and_the_eastmoney_tag(split):
    from findata_assets.defs.refresh.planning import plan_runs
    from findata_assets.defs.refresh.policies import POLICIES as REFRESH_POLICIES

    expected_runs = {"family": {"quick": 1, "incremental": 2, "full": 2},
                     "group": {"quick": 1, "incremental": 11, "full": 11}}[split]
    for policy in POLICIES:
        runs = plan_runs(REFRESH_POLICIES[policy], cycle_id="c1", split=split, kubernetes=True)
        assert len(runs) == expected_runs[policy], (policy, [r.partition_keys for r in runs])
        local = plan_runs(REFRESH_POLICIES[policy], cycle_id="c1", split=split)
        assert all("dagster-k8s/config" not in run.tags for run in local)  # not a pod: no chip
        for run in runs:
            assert run.tags["dagster-k8s/config"] == k8s.k8s_run_tags(policy)["dagster-k8s/config"]
            # the tag the instance's run queue limits: the Eastmoney budget across pods
            assert run.tags["findata/eastmoney"] == "crawl"
            assert run.tags["findata/policy"] == policy


# ------------------------------------------------------------------------------------------------
# run pods built by dagster-k8s
# ------------------------------------------------------------------------------------------------
def _env_references(tree: Any, found: set[str]) -> None:
    """Names in `{env: NAME}` config values, also inside nested config_yaml strings."""
    if isinstance(tree, dict):
        if set(tree) == {"env"} and isinstance(tree["env"], str):
            found.add(tree["env"])
        for key, value in tree.items():
            if key == "config_yaml" and isinstance(value, str):
                _env_references(yaml.safe_load(value), found)
            else:
                _env_references(value, found)
    elif hasattr(tree, "_asdict"):  # NamedTuples: ConfigurableClassData, ...
        _env_references(tree._asdict(), found)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            _env_references(value, found)


@pytest.mark.parametrize("policy", POLICIES)
def test_run_pod_job_per_policy(policy, policy_jobs, image, chart_values):
    run, job, namespace = policy_jobs[policy]
    ks.validate_k8s(job)
    settings = k8s.POLICY_K8S[policy]

    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert namespace == "findata"
    assert job["metadata"]["name"] == f"dagster-run-{run.run_id}"
    labels = job["metadata"]["labels"]
    assert labels["findata/policy"] == policy
    assert labels["app.kubernetes.io/part-of"] == "findata"
    assert labels["app.kubernetes.io/component"] == "run_worker"
    assert labels["dagster/run-id"] == run.run_id
    assert labels["dagster/job"] == run.job_name
    assert labels["dagster/code-location"] == "findata"

    spec = job["spec"]
    assert spec["backoffLimit"] == 0  # Dagster retries dead runs, never Kubernetes
    assert spec["ttlSecondsAfterFinished"] == settings.ttl_seconds_after_finished
    assert spec["activeDeadlineSeconds"] == settings.active_deadline_seconds
    pod = spec["template"]
    assert pod["metadata"]["labels"]["findata/policy"] == policy
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccountName"] == "dagster"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == RUN_UID

    (container,) = pod["spec"]["containers"]
    assert container["image"] == image
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container.get("command") is None  # the image has no ENTRYPOINT: args are the command
    assert container["args"][:3] == ["dagster", "api", "execute_run"]
    run_args = deserialize_value(container["args"][3])
    assert run_args.run_id == run.run_id
    assert run_args.job_origin.repository_origin.code_pointer.module == k8s.CODE_LOCATION_MODULE
    # the pod rebuilds the instance from these args: every variable its config reads must exist
    # in the pod (env, or the ConfigMap / Secret it loads whole)
    needed = set()
    _env_references(run_args.instance_ref._asdict(), needed)
    available = ({e["name"] for e in container["env"]} | set(k8s.SECRET_KEYS)
                 | set(chart_values["config"]["settings"]))
    assert needed and needed <= available, needed - available
    # exactly the policy's row: requests and limits, nothing kept from the launcher's default
    assert container["resources"] == settings.resources
    assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}

    # settings by reference only: the Secret and the ConfigMap by name, never a value
    assert {json.dumps(e, sort_keys=True) for e in container["envFrom"]} == {
        json.dumps({"configMapRef": {"name": k8s.CONFIG_MAP_NAME}}, sort_keys=True),
        json.dumps({"secretRef": {"name": k8s.SECRET_NAME}}, sort_keys=True)}
    env = {e["name"]: e for e in container["env"]}
    assert env["DAGSTER_PG_PASSWORD"] == {"name": "DAGSTER_PG_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "dagster-postgresql-secret", "key": "postgresql-password"}}}
    assert env["DAGSTER_HOME"]["value"] == "/opt/dagster/dagster_home"
    assert not set(env) & set(k8s.SECRET_KEYS)
    text = json.dumps(job)
    for name, secret in SENTINELS.items():
        assert secret not in text, f"{name}'s value leaked into the {policy} run Job"


def test_run_without_policy_tag_gets_the_launcher_defaults(k8s_instance, image):
    _run, job, _ns = _launch(k8s_instance, "stock_flow_job", {"findata/eastmoney": "crawl"},
                             image)
    ks.validate_k8s(job, versions=ks.K8S_VERSIONS[-1:])
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == k8s.DEFAULT_RUN_RESOURCES
    assert job["spec"]["ttlSecondsAfterFinished"] == k8s.DEFAULT_JOB_SPEC["ttlSecondsAfterFinished"]
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "findata/policy" not in job["metadata"]["labels"]


def test_partial_resources_in_a_tag_are_merged_with_the_launcher(k8s_instance, image):
    """Why the policy tags carry requests AND limits: dagster-k8s merges a tag's resources key by
    key into the launcher's (DEEP, its default), so a tag with only requests keeps the launcher's
    limits; with SHALLOW it would replace them. Ours name both, so either way the pod gets
    exactly the policy's row."""
    only_requests = {"container_config": {"resources": {"requests": {"cpu": "50m",
                                                                      "memory": "64Mi"}}}}
    _run, job, _ns = _launch(k8s_instance, "stock_flow_job",
                             {"dagster-k8s/config": json.dumps(only_requests)}, image)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": k8s.DEFAULT_RUN_RESOURCES["limits"]}


# ------------------------------------------------------------------------------------------------
# the instance
# ------------------------------------------------------------------------------------------------
def _run_limits(instance_config: dict[str, Any]) -> dict[str, Any]:
    """max_concurrent_runs and tag_concurrency_limits wherever a dagster.yaml puts them."""
    runs = (instance_config.get("concurrency") or {}).get("runs")
    if runs is None:
        runs = (instance_config.get("run_coordinator") or {}).get("config") or {}
    return {"max_concurrent_runs": runs.get("max_concurrent_runs"),
            "tag_concurrency_limits": runs.get("tag_concurrency_limits") or []}


def test_k8s_instance_loads_with_our_launcher(k8s_instance, local_instance):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    launcher = k8s_instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "findata"
    assert launcher.job_image is None  # the code location's image
    assert launcher.env_secrets == [k8s.SECRET_NAME]
    assert launcher.env_config_maps == [k8s.CONFIG_MAP_NAME]
    assert launcher.resources == k8s.DEFAULT_RUN_RESOURCES
    assert launcher.image_pull_policy == "IfNotPresent"
    assert launcher.postgres_password_secret == "dagster-postgresql-secret"
    assert launcher.fail_pod_on_run_failure is True
    assert isinstance(k8s_instance.run_coordinator, QueuedRunCoordinator)

    queue = k8s_instance.get_concurrency_config().run_queue_config
    local = _run_limits(local_instance)
    assert queue.max_concurrent_runs == local["max_concurrent_runs"]
    assert list(queue.tag_concurrency_limits) == local["tag_concurrency_limits"]
    assert any(limit["key"] == "findata/eastmoney" for limit in queue.tag_concurrency_limits)
    pools = k8s_instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == local_instance["concurrency"]["pools"]["default_limit"]
    assert k8s_instance.run_retries_enabled is local_instance["run_retries"]["enabled"]
    assert k8s_instance.run_retries_max_retries == local_instance["run_retries"]["max_retries"]
    assert (k8s_instance.run_retries_retry_on_asset_or_op_failure
            is local_instance["run_retries"]["retry_on_asset_or_op_failure"])
    assert k8s_instance.run_monitoring_enabled
    if ks.postgres_available():
        assert "Postgres" in type(k8s_instance.run_storage).__name__


def test_instance_file_is_what_the_values_render(dagster_values):
    instance = ks.load_yaml(ks.INSTANCE_YAML)
    values_launcher = dagster_values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    config = launcher["config"]
    assert config["env_secrets"] == [s["name"] for s in values_launcher["envSecrets"]]
    assert config["env_config_maps"] == [c["name"] for c in values_launcher["envConfigMaps"]]
    for value_key, config_key in [("resources", "resources"), ("labels", "labels"),
                                  ("imagePullPolicy", "image_pull_policy"),
                                  ("securityContext", "security_context"),
                                  ("failPodOnRunFailure", "fail_pod_on_run_failure")]:
        assert config[config_key] == values_launcher[value_key], value_key
    run_k8s = {ks.snake_case(k): v for k, v in values_launcher["runK8sConfig"].items()}
    assert config["run_k8s_config"] == run_k8s
    assert config["dagster_home"] == dagster_values["global"]["dagsterHome"]
    assert config["postgres_password_secret"] == dagster_values["global"]["postgresqlSecretName"]
    assert "job_image" not in config and "image" not in values_launcher

    values_concurrency = ks.snake_keys(dagster_values["concurrency"], frozenset({"value"}))
    assert instance["concurrency"]["runs"] == values_concurrency["runs"]
    assert instance["concurrency"]["pools"] == values_concurrency["pools"]
    daemon = dagster_values["dagsterDaemon"]
    assert instance["run_retries"] == ks.snake_keys(daemon["runRetries"])
    monitoring = ks.snake_keys(daemon["runMonitoring"])
    monitoring.pop("max_resume_run_attempts")  # 0: the chart leaves it out (Dagster's default)
    assert instance["run_monitoring"] == monitoring
    coordinator = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert instance["run_coordinator"]["config"] == ks.snake_keys(coordinator)
    postgresql = dagster_values["postgresql"]
    for section in ("run_storage", "event_log_storage", "schedule_storage"):
        # the chart's literals (run pods get only the password, from the Secret)
        assert instance[section]["config"]["postgres_db"] == {
            "username": postgresql["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": "dagster-postgresql",  # the bundled server's Service (release dagster)
            "db_name": postgresql["postgresqlDatabase"],
            "port": postgresql["service"]["port"],
            "params": {},
            "scheme": postgresql["postgresqlScheme"],
        }


# ------------------------------------------------------------------------------------------------
# values for the official chart (it cannot be fetched here: checked structurally)
# ------------------------------------------------------------------------------------------------
def _secret_values(tree: Any, path: str = "") -> list[str]:
    """Paths of non-empty values under secret-looking keys (names of Secrets are fine)."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            here = f"{path}.{key}" if path else str(key)
            if (re.search(r"password|secret|token|api_?key|access_?key", str(key), re.I)
                    and isinstance(value, str) and value
                    and not re.search(r"secretname$|existingsecret$|^envsecrets$", str(key), re.I)):
                found.append(here)
            found += _secret_values(value, here)
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found += _secret_values(value, f"{path}[{i}]")
    return found


def test_values_for_the_official_chart(dagster_values, local_instance, chart_values):
    values = dagster_values
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert values["dagster-user-deployments"]["enabled"] is True
    assert deployment["image"]["repository"] and deployment["image"]["tag"] not in ("", "latest")
    assert deployment["image"] == chart_values["image"]  # one image for both charts
    assert deployment["dagsterApiGrpcArgs"] == ["-m", k8s.CODE_LOCATION_MODULE]
    assert deployment["port"] == 3030
    assert deployment["envSecrets"] == [{"name": k8s.SECRET_NAME}]
    assert deployment["envConfigMaps"] == [{"name": k8s.CONFIG_MAP_NAME}]
    # else the code server's resources would become every run pod's resources
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is False
    assert deployment["podSecurityContext"]["runAsUser"] == RUN_UID

    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["envSecrets"] == [{"name": k8s.SECRET_NAME}]
    assert launcher["envConfigMaps"] == [{"name": k8s.CONFIG_MAP_NAME}]
    assert launcher["resources"] == k8s.DEFAULT_RUN_RESOURCES
    assert launcher["runK8sConfig"]["jobSpecConfig"] == k8s.DEFAULT_JOB_SPEC
    assert launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsUser"] == RUN_UID
    assert launcher["loadInclusterConfig"] is True

    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    # the queue limits equal the local ones, wherever each file keeps them
    rendered = {"run_coordinator": {"config": ks.snake_keys(
        coordinator["config"]["queuedRunCoordinator"], frozenset({"value"}))}}
    if values.get("concurrency", {}).get("enabled"):
        rendered["concurrency"] = ks.snake_keys(values["concurrency"], frozenset({"value"}))
        # Dagster refuses limits in both places once `concurrency` exists
        assert not {"max_concurrent_runs", "tag_concurrency_limits"} & set(
            rendered["run_coordinator"]["config"])
        assert (rendered["concurrency"]["pools"]["default_limit"]
                == local_instance["concurrency"]["pools"]["default_limit"])
    assert _run_limits(rendered) == _run_limits(local_instance)
    retries = daemon["runRetries"]
    assert retries["enabled"] is local_instance["run_retries"]["enabled"] is True
    assert retries["maxRetries"] == local_instance["run_retries"]["max_retries"]
    assert (retries["retryOnAssetOrOpFailure"]
            is local_instance["run_retries"]["retry_on_asset_or_op_failure"])
    assert daemon["runMonitoring"]["enabled"] is True
    assert values["scheduler"]["type"] == "DagsterDaemonScheduler"
    assert daemon["schedules"]["useThreads"] and daemon["sensors"]["useThreads"]

    postgresql = values["postgresql"]
    assert {"enabled", "postgresqlUsername", "postgresqlDatabase"} <= set(postgresql)
    assert postgresql["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert _secret_values(values) == []


# ------------------------------------------------------------------------------------------------
# our chart: helm lint / template, every object valid
# ------------------------------------------------------------------------------------------------
def _template(helm_bin: Path, *args: str) -> list[dict[str, Any]]:
    out = ks.helm(helm_bin, "template", "findata", str(ks.CHART_DIR), "--namespace", "findata",
                  *args)
    return ks.yaml_documents(out.stdout)


def test_chart_lints(helm_bin):
    for extra in ([], ["-f", str(ks.CHART_DIR / "secrets.example.yaml"),
                       "--set", "secret.create=true"]):
        out = ks.helm(helm_bin, "lint", str(ks.CHART_DIR), "--strict", *extra)
        assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout


def test_chart_renders_valid_objects(helm_bin, chart_values, image):
    objects = _template(helm_bin, "-f", str(ks.CHART_DIR / "secrets.example.yaml"),
                        "--set", "secret.create=true")
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert kinds == ["ConfigMap/findata-config", "Job/findata-prepare",
                     "Secret/findata-secrets"], kinds
    for obj in objects:
        ks.validate_k8s(obj)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "findata"
    by_kind = {o["kind"]: o for o in objects}

    config = by_kind["ConfigMap"]["data"]
    assert config == chart_values["config"]["settings"]
    assert not set(config) & set(k8s.SECRET_KEYS)
    assert set(by_kind["Secret"]["stringData"]) <= set(k8s.SECRET_KEYS)
    assert "FINDATA_DATABASE_URL" in by_kind["Secret"]["stringData"]

    job = by_kind["Job"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == RUN_UID
    (container,) = pod["containers"]
    assert container["image"] == image
    assert container["command"] == ["python", "-m", "findata_assets.deploy.prepare"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [e.get("secretRef", e.get("configMapRef"))["name"] for e in container["envFrom"]] == [
        k8s.CONFIG_MAP_NAME, k8s.SECRET_NAME, chart_values["prepare"]["adminSecret"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FINDATA_MYSQL_GRANTS"] == ",".join(prepare.DEFAULT_GRANTS)
    # nothing secret in the Job itself: the example file's values appear only in the Secret
    assert "CHANGE-ME" not in json.dumps(job) + json.dumps(by_kind["ConfigMap"])

    defaults = _template(helm_bin)  # default: the operator makes the Secret
    assert sorted(o["kind"] for o in defaults) == ["ConfigMap", "Job"]
    for obj in defaults:
        ks.validate_k8s(obj, versions=ks.K8S_VERSIONS[-1:])


@pytest.mark.parametrize("args, message", [
    (["--set", "config.settings.FINDATA_DATABASE_URL=x"], "is a secret"),
    (["--set", "secret.values.DATABASE_URL=x"], "DATABASE_URL"),
    (["--set", "secret.create=true"], "FINDATA_DATABASE_URL is required"),
    (["--set-json", "config.settings.FINDATA_EASTMONEY_CONCURRENCY=4"], "string"),
    (["--set-json", 'prepare.mysql.grants=["ALL PRIVILEGES"]'], "grants"),
])
def test_chart_refuses_bad_values(helm_bin, args, message):
    out = ks.helm(helm_bin, "template", "findata", str(ks.CHART_DIR), *args, check=False)
    assert out.returncode != 0, out.stdout
    assert message in out.stderr, out.stderr


# ------------------------------------------------------------------------------------------------
# the image recipe
# ------------------------------------------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ks.REPO / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1] if " " in i else "")
            for i in logical]


def test_dockerfile_recipe(dagster_values):
    instructions = _dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert len(froms) == 2, froms  # build (wheels) + runtime
    assert froms[0].endswith("AS build") and froms[1].endswith("AS runtime")
    (base_arg,) = [arg for op, arg in instructions
                   if op == "ARG" and arg.startswith("PYTHON_IMAGE")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base_arg), base_arg

    runtime_start = max(i for i, (op, _a) in enumerate(instructions) if op == "FROM")
    runtime = instructions[runtime_start:]
    ops = [op for op, _a in runtime]
    assert "ENTRYPOINT" not in [op for op, _a in instructions]  # run pods pass only args
    users = [arg for op, arg in runtime if op == "USER"]
    assert users == [f"{RUN_UID}:{RUN_UID}"]
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN")
    (cmd,) = [json.loads(arg) for op, arg in runtime if op == "CMD"]
    port = dagster_values["dagster-user-deployments"]["deployments"][0]["port"]
    assert cmd == ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(port),
                   "-m", k8s.CODE_LOCATION_MODULE]
    assert ("EXPOSE", str(port)) in runtime
    install = [arg for op, arg in runtime if op == "RUN" and "pip install" in arg]
    assert install and "--mount=type=bind,from=build" in install[0]
    assert "--no-index" in install[0]  # only the wheels the build stage made
    assert not [arg for op, arg in runtime if op == "COPY"]  # wheels mounted, not layered
    assert f"--uid {RUN_UID}" in " ".join(arg for op, arg in runtime if op == "RUN")

    # no secret at build time or in the image
    for op, arg in instructions:
        if op in ("ARG", "ENV"):
            names = re.findall(r"([A-Z_][A-Z0-9_]*)=", arg) or [arg.split("=")[0]]
            for name in names:
                assert not set([name]) & set(k8s.SECRET_KEYS), (op, name)
                assert not re.search(r"SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY", name), (op, name)
        assert "--mount=type=secret" not in arg


def test_docker_context_is_an_allow_list_that_builds_the_package(tmp_path):
    files = ks.docker_context_files(ks.REPO, ks.REPO / ".dockerignore")
    assert "setup.py" in files
    assert {"findata_assets/definitions.py", "findata_assets/deploy/k8s.py",
            "findata_assets/deploy/prepare.py"} <= set(files)
    outside = [f for f in files if f != "setup.py" and not f.startswith("findata_assets/")]
    assert outside == [], outside  # no tests, .env, helm secrets, .findata data, .git, .venv
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # every COPY source of the Dockerfile is in the context
    for op, arg in _dockerfile_instructions():
        if op == "COPY" and "--from" not in arg:
            source = arg.split()[0]
            assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files), arg

    # the build stage's `pip wheel` on exactly that context builds the package with setup.py
    # (setuptools' `build`, the heart of its bdist_wheel: no index needed, well under a second)
    context = tmp_path / "context"
    for rel in files:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ks.REPO / rel, context / rel)
    out = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-base",
                          str(tmp_path / "build")], cwd=context, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lib = tmp_path / "build" / "lib"
    built = {p.relative_to(lib).as_posix() for p in lib.rglob("*.py")}
    assert {"findata_assets/definitions.py", "findata_assets/deploy/k8s.py",
            "findata_assets/deploy/prepare.py"} <= built
    # every module of the context (a folder without __init__.py would be left out), nothing else
    assert built == {f for f in files if f.startswith("findata_assets/") and f.endswith(".py")}
    assert not (lib / "findata_assets_tests").exists()


# ------------------------------------------------------------------------------------------------
# the prepare Job's module, against the real services
# ------------------------------------------------------------------------------------------------
def _mysql_admin(mariadb_url: str):
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(mariadb_url)
    return pymysql.connect(host=url.host, port=url.port or 3306, user=url.username or "root",
                           password=str(url.password or ""), autocommit=True)


def test_prepare_mysql_least_privilege_user(mariadb_url):
    import pymysql
    from sqlalchemy.engine import URL, make_url

    from findata_assets.eastmoney import catalog
    from findata_assets.storage.warehouse import Warehouse

    suffix = uuid.uuid4().hex[:10]
    database, user, password = f"findata_test_{suffix}", f"findata_test_u{suffix}", "p@ss:w'rd/%1"
    server = make_url(mariadb_url)
    app_url = URL.create("mysql+pymysql", username=user, password=password, host=server.host,
                         port=server.port or 3306, database=database,
                         query={"charset": "utf8mb4"}).render_as_string(hide_password=False)
    environ = {"FINDATA_DATABASE_URL": app_url, "FINDATA_MYSQL_ADMIN_URL": mariadb_url,
               "FINDATA_PREPARE_WAIT_SECONDS": "5"}
    lines = []
    try:
        done = prepare.run(environ, log=lines.append)
        assert done[0] == f"mysql: {database} / {user}@%"
        assert done[1].startswith("bucket: FINDATA_S3_ENDPOINT is not set")
        assert password not in "\n".join(lines + done)

        conn = pymysql.connect(host=server.host, port=server.port or 3306, user=user,
                               password=password, database=database, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SHOW GRANTS FOR CURRENT_USER()")
            grants = [row[0] for row in cur.fetchall()]
        assert len(grants) == 2, grants  # USAGE (login) + the database grant, nothing else
        assert grants[1].startswith(
            f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX ON `{database}`.*")
        # what the warehouse does works (CREATE TABLE + CREATE INDEX, replace a day's rows) ...
        spec = catalog.ALL_TABLES[0]
        warehouse = Warehouse(app_url)
        try:
            warehouse.ensure_table(spec)
        finally:
            warehouse.dispose()
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM `{spec.name}` WHERE trade_date = '2025-01-02'")
            cur.execute(f"SELECT COUNT(*) FROM `{spec.name}`")
            # ... and nothing more
            for sql in (f"DROP TABLE `{spec.name}`", f"ALTER TABLE `{spec.name}` ADD x INT",
                        "CREATE DATABASE findata_test_never", "SELECT * FROM mysql.user"):
                with pytest.raises(pymysql.err.OperationalError):
                    cur.execute(sql)
        conn.close()

        # idempotent, and a narrower grant list replaces the old one
        prepare.run({**environ, "FINDATA_MYSQL_GRANTS": "select"}, log=lines.append)
        admin = _mysql_admin(mariadb_url)
        with admin.cursor() as cur:
            cur.execute("SHOW GRANTS FOR %s@%s", (user, "%"))
            grants = [row[0] for row in cur.fetchall()]
        admin.close()
        assert grants[1].startswith(f"GRANT SELECT ON `{database}`.*"), grants

        # prepare.compatViews: the original crawler's views, made by the admin, read by the app
        done = prepare.run({**environ, "FINDATA_COMPAT_VIEWS": "true"}, log=lines.append)
        assert done[1] == f"compat views: 41 in {database}"
        conn = pymysql.connect(host=server.host, port=server.port or 3306, user=user,
                               password=password, database=database, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT code, main_flow_net_amount, crawl_time FROM "
                        "`Stock_Flow_All_Stocks_Today`")
            assert cur.fetchall() == ()  # there, and empty like its table
        conn.close()
    finally:
        admin = _mysql_admin(mariadb_url)
        with admin.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@%s", (user, "%"))
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


@pytest.mark.parametrize("url, admin, message", [
    ("mysql+pymysql://root:hunter2secret@db:3306/findata", "mysql+pymysql://root@db/",
     "administrator 'root'"),
    ("mysql+pymysql://findata:hunter2secret@db:3306/", "mysql+pymysql://root@db/",
     "must name a database"),
    ("mysql+pymysql://findata:hunter2secret@db:3306/find-data", "mysql+pymysql://root@db/",
     "letters, digits"),
    ("mysql+pymysql://findata:hunter2secret@db:3306/findata", None, "FINDATA_MYSQL_ADMIN_URL"),
])
def test_prepare_refuses_unsafe_settings(url, admin, message):
    environ = {"FINDATA_DATABASE_URL": url}
    if admin:
        environ["FINDATA_MYSQL_ADMIN_URL"] = admin
    with pytest.raises(prepare.PrepareError, match=message) as info:
        prepare.run(environ, log=lambda _m: None)
    assert "hunter2secret" not in str(info.value)
    with pytest.raises(prepare.PrepareError, match="not allowed"):
        prepare.parse_grants("SELECT, ALL PRIVILEGES")
    assert prepare.run({"FINDATA_DATABASE_URL": "sqlite:////tmp/x.db"}, log=print)[0].startswith(
        "mysql: FINDATA_DATABASE_URL is not a MySQL URL")


def test_prepare_bucket(s3_server, s3_bucket):
    environ = {**s3_server.env(s3_bucket), "FINDATA_PREPARE_WAIT_SECONDS": "10"}
    assert prepare.run(environ, skip_mysql=True, log=lambda _m: None) == [
        "mysql: skipped", f"bucket: {s3_bucket} created"]
    s3_server.client().head_bucket(Bucket=s3_bucket)
    assert prepare.run(environ, skip_mysql=True, log=lambda _m: None)[1] == (
        f"bucket: {s3_bucket} exists")


def test_prepare_module_is_the_jobs_command():
    out = subprocess.run([sys.executable, "-m", "findata_assets.deploy.prepare", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--skip-mysql" in out.stdout and "--skip-bucket" in out.stdout


def test_the_ui_is_exposed_safely(dagster_values):
    """Both webservers are ClusterIP Services (the chart renders one Deployment and Service per
    webserver: the writable one and, with enableReadOnly, `<release>-webserver-read-only`); the
    guide puts an authenticating proxy in front of the writable one. The official chart cannot
    be fetched here, so this is checked on the values and the guide, not on a render."""
    webserver = dagster_values["dagsterWebserver"]
    assert webserver["enableReadOnly"] is True
    assert webserver["service"]["type"] == "ClusterIP"
    exposed = re.findall(r"type:\s*(LoadBalancer|NodePort)", ks.DAGSTER_VALUES.read_text())
    assert exposed == [], exposed
    guide = (ks.REPO / "helm" / "README.md").read_text()
    assert "oauth2-proxy" in guide and "dagster-webserver-read-only" in guide
    assert "upstream: http://dagster-webserver." in guide  # the proxy guards the writable one
