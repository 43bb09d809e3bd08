"""Dagster's SQLite storage with batched event writes.

A ranged run of 32 partitions logs 32 planned events per asset before its first request and 32
materializations per step. Dagster hands such groups to `store_event_batch` when
DAGSTER_EVENT_BATCH_SIZE is set, but its SQLite event log stores them one at a time: two new
engines, two connections and two commits (fsync) per event, ~12 ms each here. This storage
writes a batch in one transaction per shard (the run's database, then the index), running the
same per-event index logic as Dagster's `store_event`, so what is stored is identical.
PostgreSQL (dagster-postgres) batches natively.
"""

from __future__ import annotations

from typing import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage, SqliteRunStorage, SqliteScheduleStorage, _event_logs_directory,
    _runs_directory, _schedule_directory)
from dagster._serdes import ConfigurableClassData

EVENT_BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_EVENT_BATCH_SIZE = "256"  # a whole family's partitions in one write


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        batched = [e for e in events if e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS]
        others = [e for e in events if not (e.is_dagster_event
                                            and e.dagster_event_type in ASSET_EVENTS)]
        if len(batched) < 2 or len({e.run_id for e in batched}) != 1:
            return super().store_event_batch(events)  # one at a time, as Dagster does
        with self.run_connection(batched[0].run_id) as conn:
            conn.execute(self.prepare_insert_event_batch(batched))
        with self.index_transaction() as conn:
            for event in batched:  # the index needs each event's own id: one insert each
                event_id = conn.execute(self.prepare_insert_event(event)).inserted_primary_key[0]
                self._store_asset_event_tags(conn, [event], [event_id])
                self._store_asset_event(conn, event, event_id)
        for event in others:  # check-planned events: their own index path, one at a time
            self.store_event(event)


class FindataSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (same files, same layout) with the batching event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()
