"""Instance storage picked from the environment: PostgreSQL when configured, else SQLite.

dagster.yaml cannot branch on an environment variable, so it names this class as its `custom`
storage. Every process that loads the instance (webserver, daemon, run workers, the CLI) makes the
same choice from the same environment:

- DAGSTER_PG_URL (postgresql://user:password@host:port/db), or
- DAGSTER_PG_HOST with DAGSTER_PG_USERNAME (postgres), DAGSTER_PG_PASSWORD, DAGSTER_PG_DB
  (postgres), DAGSTER_PG_PORT (5432) - the names the Dagster Helm chart uses;
- otherwise SQLite under `sqlite_base_dir` (default: DAGSTER_HOME), the layout Dagster uses by
  default, so an existing local instance keeps its history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClassData

from findata_assets import environment
from findata_assets.cli.sqlite_events import (
    DEFAULT_EVENT_BATCH_SIZE, EVENT_BATCH_ENV, FindataSqliteStorage, created_one_at_a_time)
from findata_assets.settings.operations import InstanceSettings
from findata_assets.settings.operations import postgres_url as _postgres_url

def postgres_url(environ=None) -> str | None:
    """The PostgreSQL URL the environment names (settings.operations), or None for SQLite."""
    return _postgres_url(environment.current() if environ is None else environ)


def _dagster_home() -> Path | None:
    return InstanceSettings.from_env(environment.current()).dagster_home


def open_instance() -> dg.DagsterInstance:
    """DagsterInstance.get(), safe when several CLIs start at once on a new DAGSTER_HOME: the
    storages are created (SQLite files, alembic stamps) under a lock file, one process at a time.
    Without it, two creators left runs.db with two alembic heads and every later command failed."""
    home = _dagster_home()
    if home is None or not home.is_dir():
        return dg.DagsterInstance.get()
    with created_one_at_a_time(str(home)):  # held for the creation only: a few milliseconds
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # each storage is created by its first use at the latest
        instance.all_instigator_state()
        instance.event_log_storage.get_concurrency_keys()
    return instance


class EnvSelectedStorage(DagsterStorage):
    """Never instantiated: `from_config_value` returns the chosen Dagster storage. (Dagster only
    loads a custom storage class that subclasses DagsterStorage.)"""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"sqlite_base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Mapping[str, Any]) -> DagsterStorage:
        # Dagster reads this knob from the environment in every process that loads the instance
        # (CLI, daemon, run workers, webserver): batches of planned and materialization events
        # are then written at once (by sqlite_events on SQLite; dagster-postgres batches the
        # materializations).
        environment.export_default(EVENT_BATCH_ENV, DEFAULT_EVENT_BATCH_SIZE)
        url = postgres_url()
        if url:
            from dagster_postgres import DagsterPostgresStorage

            # inst_data stays ours, so run workers rebuilt from the instance ref choose again
            return DagsterPostgresStorage(postgres_url=url, inst_data=inst_data)
        base_dir = config_value.get("sqlite_base_dir") or _dagster_home()
        if not base_dir:
            raise dg.DagsterInvariantViolationError(
                "EnvSelectedStorage: set DAGSTER_HOME (SQLite) or DAGSTER_PG_URL (PostgreSQL)")
        return FindataSqliteStorage.from_local(os.path.abspath(base_dir), inst_data=inst_data)


def describe_storage(instance: dg.DagsterInstance) -> str:
    """Which backend an instance uses, without credentials."""
    storage = instance._run_storage  # noqa: SLF001 - the public API has no "which backend"
    name = type(storage).__name__
    return "postgres" if "Postgres" in name else "sqlite" if "Sqlite" in name else name


NO_COMPUTE_LOGS = ConfigurableClassData("dagster._core.storage.noop_compute_log_manager",
                                        "NoOpComputeLogManager", "{}\n")


class SideBySideInstance(dg.DagsterInstance):
    """An instance whose runs may execute in threads of one process (the CLI's family runs).

    Dagster sets up each run's yaml `python_logs` handlers with logging.config.dictConfig, even
    when none are configured; dictConfig takes logging's module lock and then every handler's
    lock, while another run's thread holds a handler's lock and waits for the module lock: a
    deadlock. With nothing configured there is nothing to set up."""

    def get_yaml_python_handlers(self):
        if not self.get_python_log_dagster_handler_config():
            return []
        return super().get_yaml_python_handlers()


def for_runs_side_by_side(instance: dg.DagsterInstance) -> dg.DagsterInstance | None:
    """A copy of `instance` (same storage) whose runs may execute side by side in threads: a
    SideBySideInstance that captures no compute logs (the capture redirects the process-wide file
    descriptors 1 and 2: two runs doing that at once lose each other's output; the runs' events,
    which the UI shows, are unchanged, their stdout is the CLI's terminal). None when that cannot
    be: an ephemeral instance, a custom instance class, or yaml `python_logs` handlers."""
    if (instance.is_ephemeral or instance.get_python_log_dagster_handler_config()
            or instance.get_ref().custom_instance_class_data is not None):
        return None
    ref = instance.get_ref()._replace(
        compute_logs_data=NO_COMPUTE_LOGS,
        custom_instance_class_data=ConfigurableClassData(__name__, "SideBySideInstance",
                                                         "{}\n"))
    return dg.DagsterInstance.from_ref(ref)
