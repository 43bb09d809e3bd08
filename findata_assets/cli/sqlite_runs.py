"""Dagster's SQLite run storage, without re-reading its own schema on every run read.

Every `get_run_by_id` / `get_run_records` asks the runs database for its columns (a new engine,
a connection and `PRAGMA table_info`) to learn whether migrations added the run-stats columns;
a run worker, the CLI and the daemon read runs many times a second. A column or a secondary
index, once there, stays (migrations add them; nothing here drops them), so a yes is kept for
the process; a no is asked again, so a migration run meanwhile is seen. The engine is kept too:
NullPool, as Dagster's, so it holds no connection (and no file handle) between uses, and a
forked run worker inherits nothing open.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool


class SchemaCachingSqliteRunStorage(SqliteRunStorage):
    _engine: Engine | None = None
    _engine_lock = threading.Lock()

    def _yes_once(self, key: str, ask: Callable[[], bool]) -> bool:
        known = self.__dict__.setdefault("_known_present", set())
        if key in known:
            return True
        present = ask()
        if present:
            known.add(key)
        return present

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = create_engine(self._conn_string, poolclass=NullPool)
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def has_run_stats_index_cols(self) -> bool:
        return self._yes_once("run_stats", super().has_run_stats_index_cols)

    def has_backfill_id_column(self) -> bool:
        return self._yes_once("backfill_id", super().has_backfill_id_column)

    def has_bulk_actions_selector_cols(self) -> bool:
        return self._yes_once("selector_id", super().has_bulk_actions_selector_cols)

    def has_bulk_action_job_name_column(self) -> bool:
        return self._yes_once("bulk_job_name", super().has_bulk_action_job_name_column)

    def has_built_index(self, migration_name: str) -> bool:
        return self._yes_once(f"index:{migration_name}",
                              lambda: super(SchemaCachingSqliteRunStorage,
                                            self).has_built_index(migration_name))
