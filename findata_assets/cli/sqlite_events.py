"""Dagster's SQLite storage with batched event writes.

A ranged run of 32 partitions logs 32 planned events per asset before its first request and 32
materializations per step. Dagster hands such groups to `store_event_batch` when
DAGSTER_EVENT_BATCH_SIZE is set, but its SQLite event log stores them one at a time: two new
engines, two connections and two commits (fsync) per event, ~12 ms each here. This storage
writes a batch in one transaction per shard (the run's database, then the index), in order, with
the same per-event index logic as Dagster's `store_event`, so what is stored is identical.
dagster-postgres batches materializations itself, but writes planned events one at a time.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import threading
from typing import Iterator, Sequence

from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from findata_assets.cli.sqlite_runs import SchemaCachingSqliteRunStorage

EVENT_BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_EVENT_BATCH_SIZE = "256"  # a whole family's partitions in one write
CREATION_LOCK = ".findata-instance.lock"
KEPT_SHARD_ENGINES = 32  # the index and the runs executing now

log = logging.getLogger(__name__)


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """Dagster's `_connect` (one transaction under the storage's lock), with the shard's
        engine kept: Dagster builds and disposes one per event, twice per event (the run's
        shard, the index), and each new engine's first connection initializes its dialect.
        NullPool as Dagster's: no connection or file handle stays open between events."""
        with self._db_lock:
            engines = self.__dict__.setdefault("_shard_engines", collections.OrderedDict())
            engine = engines.get(shard)
            if engine is None:
                engine = engines[shard] = create_engine(
                    self.conn_string_for_shard(shard), poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                if len(engines) > KEPT_SHARD_ENGINES:  # a daemon sees thousands of runs
                    engines.popitem(last=False)[1].dispose()
            engines.move_to_end(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        batchable = ASSET_EVENTS | ASSET_CHECK_EVENTS
        if (len(events) < 2 or len({e.run_id for e in events}) != 1
                or not all(e.is_dagster_event and e.dagster_event_type in batchable
                           for e in events)):
            return super().store_event_batch(events)  # one at a time, as Dagster does
        # If this raises, nothing was written and Dagster's fallback (one at a time) is right.
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(self.prepare_insert_event_batch(events))
        # From here on the run's database holds every event: an exception escaping now would
        # make Dagster's fallback write them all a second time. Index problems are logged.
        try:
            checks = self._mirror(events)
        except Exception:  # noqa: BLE001 - rolled back as a whole: retried event by event
            log.warning("indexing %d events in one transaction failed; one at a time",
                        len(events), exc_info=True)
            checks = []
            for event in events:
                try:
                    checks += self._mirror([event])
                except Exception:  # noqa: BLE001
                    log.exception("could not index event %s of run %s",
                                  event.dagster_event_type, event.run_id)
        for event, event_id in checks:
            try:
                self.store_asset_check_event(event, event_id)
            except Exception:  # noqa: BLE001
                log.exception("could not record asset check event of run %s", event.run_id)

    def _mirror(self, events: Sequence[EventLogEntry]) -> list[tuple[EventLogEntry, int]]:
        """Mirror `events` in the index shard in one transaction, in order, as store_event
        does; returns the asset-check events with their index ids (recorded afterwards, on
        their own connection: the storage's lock is not reentrant)."""
        assets, asset_ids, checks = [], [], []
        with self.index_transaction() as conn:
            for event in events:
                event_id = conn.execute(self.prepare_insert_event(event)).inserted_primary_key[0]
                if event.dagster_event_type in ASSET_CHECK_EVENTS:
                    checks.append((event, event_id))
                    continue
                self._store_asset_event(conn, event, event_id)
                assets.append(event)
                asset_ids.append(event_id)
            if assets:
                self._store_asset_event_tags(conn, assets, asset_ids)
        return checks


class FindataSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (same files, same layout) with the batching event log and the run
    storage that knows its schema (sqlite_runs.py)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # Dagster creates and stamps runs.db and schedules.db here; two processes doing it at
        # once on a new DAGSTER_HOME (the daemon's code servers, started together) leave two
        # alembic heads, and every later process fails to open the instance
        with created_one_at_a_time(base_dir):
            super().__init__(base_dir, inst_data=inst_data)
        # the same directory and databases, opened by the subclasses (a few ms)
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))
        runs = self._run_storage
        self._run_storage = SchemaCachingSqliteRunStorage(runs._conn_string, runs.inst_data)


_creating = threading.RLock()  # in this process: threads in turn, and re-entry (open_instance)
_creating_depth = 0


@contextlib.contextmanager
def created_one_at_a_time(base_dir: str) -> Iterator[None]:
    """Hold the instance's creation lock (a file in `base_dir`, a few milliseconds); the
    outermost holder in a process takes the file lock, inner ones only count."""
    global _creating_depth
    with _creating:
        if _creating_depth:
            _creating_depth += 1
            try:
                yield
            finally:
                _creating_depth -= 1
            return
        os.makedirs(base_dir, exist_ok=True)
        with open(os.path.join(base_dir, CREATION_LOCK), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _creating_depth = 1
            try:
                yield
            finally:
                _creating_depth = 0
                fcntl.flock(lock, fcntl.LOCK_UN)
