"""Retention of Dagster's own run history: the refresh lanes' old succeeded runs.

The quick and incremental policies leave ~600 runs a day. `plan` lists which may go and why the
rest stay; `apply` deletes exactly that list, so a dry run (plan only) shows what the real one
deletes. Kept forever: runs that did not succeed, runs outside the quick / incremental / intraday
lanes (full refresh, analysis, manual), and the run of each asset partition's (or unpartitioned
asset's) latest materialization, whose metadata the UI's catalog shows.

`instance.delete_run` leaves files behind: on SQLite the run's own event database
(history/runs/<run_id>.db, emptied) and its compute logs (storage/<run_id>/compute_logs).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import dagster as dg
from dagster._core.storage.compute_log_manager import ComputeLogManager
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.legacy_storage import LegacyEventLogStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from sqlalchemy import func, select

from findata_assets.run_names import INTRADAY_JOB_NAME, POLICY_NAMES, POLICY_TAG

DEFAULT_KEEP_DAYS = 14
QUICK, INCREMENTAL, INTRADAY = "quick", "incremental", "intraday"
LANES = (QUICK, INCREMENTAL, INTRADAY)
SQLITE = "sqlite"

_PAGE_SIZE = 1000  # runs per query: 150,000 old runs never load at once
_ID_CHUNK = 500  # ids per IN (...) clause, well below SQLite's variable limit
_MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION


@dataclass(frozen=True)
class PlannedDeletion:
    run_id: str
    job_name: str
    lane: str
    end_time: datetime  # UTC; the update time when the run has no end time


@dataclass(frozen=True)
class RunRetentionPlan:
    now: datetime
    cutoff: datetime  # UTC: succeeded lane runs that ended before it may go
    keep_days: int
    runs: tuple[PlannedDeletion, ...]
    # Every other run of the instance, once, under the first reason that keeps it:
    kept_other_lane: int  # full refresh, analysis, report, manual runs
    kept_failed_or_canceled: int  # any status but SUCCESS (queued and running runs too)
    kept_recent: int  # ended within keep_days
    kept_latest_materialization: int  # old enough, but the catalog shows its metadata
    storage: str  # "sqlite" (per-run files: bytes known) or the event log storage's class
    event_log_bytes: int | None  # the runs' own SQLite files; None on other storages
    compute_log_bytes: int | None  # None when the compute logs are not local files
    event_count: int | None  # non-SQLite storages: the runs' events, when countable

    @property
    def run_ids(self) -> tuple[str, ...]:
        return tuple(r.run_id for r in self.runs)

    @property
    def count_by_lane(self) -> dict[str, int]:
        return {lane: sum(r.lane == lane for r in self.runs) for lane in LANES}

    @property
    def kept(self) -> int:
        return (self.kept_other_lane + self.kept_failed_or_canceled + self.kept_recent
                + self.kept_latest_materialization)

    @property
    def bytes_to_free(self) -> int | None:
        if self.event_log_bytes is None:
            return None
        return self.event_log_bytes + (self.compute_log_bytes or 0)

    def summary_lines(self) -> list[str]:
        lanes = ", ".join(f"{lane} {n:,}" for lane, n in self.count_by_lane.items())
        if self.bytes_to_free is not None:
            size = f"~{format_bytes(self.bytes_to_free)}"
        elif self.event_count is not None:
            size = f"bytes unknown ({self.storage}: {self.event_count:,} events)"
        else:
            size = f"bytes unknown ({self.storage})"
        kept = (f"kept {self.kept:,} (failed/canceled {self.kept_failed_or_canceled:,}, "
                f"latest materialization {self.kept_latest_materialization:,}, "
                f"full/analysis {self.kept_other_lane:,}, "
                f"newer than {self.keep_days} days {self.kept_recent:,})")
        return [f"dagster runs: {len(self.runs):,} to delete ({lanes}), {size}; {kept}",
                f"dagster runs: succeeded {'/'.join(LANES)} runs that ended before "
                f"{self.cutoff:%Y-%m-%d %H:%M} UTC"]

    def as_metadata(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {
            "keep_days": self.keep_days, "cutoff_utc": self.cutoff.isoformat(timespec="seconds"),
            "runs_to_delete": len(self.runs),
            **{f"runs_to_delete_{lane}": n for lane, n in self.count_by_lane.items()},
            "kept": self.kept, "kept_failed_or_canceled": self.kept_failed_or_canceled,
            "kept_latest_materialization": self.kept_latest_materialization,
            "kept_other_lane": self.kept_other_lane, "kept_recent": self.kept_recent,
            "storage": self.storage}
        # unknown figures are left out: a key keeps one type from run to run
        for key, value in (("bytes_to_free", self.bytes_to_free),
                           ("compute_log_bytes", self.compute_log_bytes),
                           ("event_count", self.event_count)):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class RunRetentionResult:
    deleted: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (run_id, what changed since the plan)
    failed: tuple[tuple[str, str], ...]  # (run_id, error): not (or not wholly) deleted
    bytes_freed: int | None  # None when the storage's bytes are unknown
    compute_logs_removed: int  # runs whose compute logs were deleted
    compute_log_problem: str | None  # why compute logs were not deleted, if they were not

    def summary_lines(self) -> list[str]:
        freed = f", ~{format_bytes(self.bytes_freed)} freed" if self.bytes_freed else ""
        lines = [f"dagster runs: deleted {len(self.deleted):,}{freed}; skipped "
                 f"{len(self.skipped):,} (changed since the plan); failed {len(self.failed):,}"]
        if self.failed:
            run_id, error = self.failed[0]
            lines.append(f"dagster runs: first failure {run_id}: {error}")
        return [*lines, "compute logs: " + (self.compute_log_problem
                                            or f"removed for {self.compute_logs_removed:,} runs")]

    def as_metadata(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {
            "runs_deleted": len(self.deleted), "runs_skipped": len(self.skipped),
            "runs_failed": len(self.failed), "compute_logs_removed": self.compute_logs_removed,
            "compute_logs": self.compute_log_problem or "removed"}
        if self.bytes_freed is not None:
            out["bytes_freed"] = self.bytes_freed
        return out


def format_bytes(n: float) -> str:
    if n < 1000:
        return f"{n:,.0f} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            return f"{n:,.1f} {unit}"


def plan(instance: dg.DagsterInstance, now: datetime,
         keep_days: int = DEFAULT_KEEP_DAYS) -> RunRetentionPlan:
    """The runs `apply` would delete and, for every other run, why it stays. Reads only."""
    if keep_days < 0:
        raise ValueError(f"keep_days must be >= 0, not {keep_days}")
    # naive `now` is local time; the run storage compares naive UTC timestamps
    cutoff = now.astimezone(timezone.utc) - timedelta(days=keep_days)
    latest: frozenset[str] | None = None  # computed once, only when an old run needs it
    runs: list[PlannedDeletion] = []
    failed_or_canceled = recent = latest_materialization = 0
    for lane in LANES:
        succeeded = _lane_count(instance, lane, succeeded_only=True)
        failed_or_canceled += _lane_count(instance, lane) - succeeded
        old = 0
        for record in _old_successes(instance, lane, cutoff):
            run = record.dagster_run
            if _lane_of(run) != lane:
                continue  # a policy-tagged intraday_job run: its policy decides
            old += 1
            ended = _ended_at(record)
            if ended >= cutoff:
                recent += 1
                continue
            if latest is None:
                latest = latest_materialization_run_ids(instance)
            if run.run_id in latest:
                latest_materialization += 1
            else:
                runs.append(PlannedDeletion(run.run_id, run.job_name, lane, ended))
        recent += succeeded - old  # updated after the cutoff: not even fetched
    kept_other = (instance.get_runs_count() - len(runs) - failed_or_canceled - recent
                  - latest_materialization)
    event_log = sharded_sqlite_event_log(instance)
    return RunRetentionPlan(
        now=now, cutoff=cutoff, keep_days=keep_days, runs=tuple(runs),
        kept_other_lane=kept_other, kept_failed_or_canceled=failed_or_canceled,
        kept_recent=recent, kept_latest_materialization=latest_materialization,
        storage=SQLITE if event_log else type(_inner_event_log(instance)).__name__,
        event_log_bytes=(sum(_files_size(_event_log_files(event_log, r.run_id)) for r in runs)
                         if event_log else None),
        compute_log_bytes=_compute_log_bytes(instance.compute_log_manager,
                                             [r.run_id for r in runs]),
        event_count=None if event_log else _event_count(instance, [r.run_id for r in runs]))


def latest_materialization_run_ids(instance: dg.DagsterInstance) -> frozenset[str]:
    """The runs holding the latest materialization of each asset partition and of each
    unpartitioned asset: what the UI's catalog shows."""
    run_ids: set[str] = set()
    for record in instance.get_asset_records():
        entry = record.asset_entry
        if entry.last_materialization_record is not None:  # the unpartitioned case
            run_ids.add(entry.last_materialization_record.run_id)
        by_partition = instance.get_latest_storage_id_by_partition(
            entry.asset_key, _MATERIALIZATION)
        for chunk in _chunks(list(by_partition.values()), _ID_CHUNK):
            # the indexed columns only: no event payload is read
            run_ids.update(row.run_id for row in instance.get_asset_event_summary_records(
                _MATERIALIZATION, asset_key=entry.asset_key, storage_ids=chunk))
    return frozenset(run_ids)


def _lane_of(run: dg.DagsterRun) -> str | None:
    policy = run.tags.get(POLICY_TAG)
    if policy is not None:
        return policy if policy in (QUICK, INCREMENTAL) else None
    return INTRADAY if run.job_name == INTRADAY_JOB_NAME else None


def _lane_filter(lane: str, **criteria) -> dg.RunsFilter:
    if lane == INTRADAY:
        return dg.RunsFilter(job_name=INTRADAY_JOB_NAME, **criteria)
    return dg.RunsFilter(tags={POLICY_TAG: lane}, **criteria)


def _lane_count(instance: dg.DagsterInstance, lane: str, succeeded_only: bool = False) -> int:
    criteria = {"statuses": [dg.DagsterRunStatus.SUCCESS]} if succeeded_only else {}
    count = instance.get_runs_count(_lane_filter(lane, **criteria))
    if lane == INTRADAY:  # as in _lane_of: a policy-tagged intraday_job run is its policy's
        count -= instance.get_runs_count(dg.RunsFilter(
            job_name=INTRADAY_JOB_NAME, tags={POLICY_TAG: list(POLICY_NAMES)}, **criteria))
    return count


def _old_successes(instance: dg.DagsterInstance, lane: str,
                   cutoff: datetime) -> Iterator[dg.RunRecord]:
    filters = _lane_filter(lane, statuses=[dg.DagsterRunStatus.SUCCESS], updated_before=cutoff)
    cursor = None
    while True:
        page = instance.get_run_records(filters, limit=_PAGE_SIZE, cursor=cursor)
        yield from page
        if len(page) < _PAGE_SIZE:
            return
        cursor = page[-1].dagster_run.run_id


def _ended_at(record: dg.RunRecord) -> datetime:
    if record.end_time is not None:
        return datetime.fromtimestamp(record.end_time, timezone.utc)
    updated = record.update_timestamp
    return updated if updated.tzinfo else updated.replace(tzinfo=timezone.utc)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _inner_event_log(instance: dg.DagsterInstance):
    storage = instance.event_log_storage
    # a `storage: custom:` instance (dagster.yaml's EnvSelectedStorage) wraps the real one
    if isinstance(storage, LegacyEventLogStorage):
        storage = storage._storage.event_log_storage  # noqa: SLF001 - no public accessor
    return storage


def sharded_sqlite_event_log(instance: dg.DagsterInstance) -> SqliteEventLogStorage | None:
    """The instance's event log when it keeps one SQLite file per run, else None."""
    storage = _inner_event_log(instance)
    return storage if isinstance(storage, SqliteEventLogStorage) else None


def _event_log_files(storage: SqliteEventLogStorage, run_id: str) -> list[Path]:
    db = Path(storage.path_for_shard(run_id))
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]  # WAL mode


def _event_count(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> int | None:
    storage, table, total = _inner_event_log(instance), SqlEventLogStorageTable, 0
    if not isinstance(storage, SqlEventLogStorage):
        return None
    try:
        with storage.index_connection() as conn:
            for chunk in _chunks(list(run_ids), _ID_CHUNK):
                total += conn.execute(select(func.count()).select_from(table)
                                      .where(table.c.run_id.in_(chunk))).scalar_one()
    except Exception:  # noqa: BLE001 - a figure for the report, not worth failing the plan
        return None
    return total


def _compute_log_prefix(manager: ComputeLogManager, run_id: str) -> list[str]:
    # a run's log keys are [run_id, "compute_logs", <file key>]
    return list(manager.build_log_key_for_run(run_id, "x"))[:-1]


def _compute_log_dir(manager: ComputeLogManager, run_id: str) -> Path | None:
    """Where a local compute log manager keeps the run's logs; None when they are not local."""
    if not isinstance(manager, LocalComputeLogManager):
        return None
    return Path(manager.get_captured_local_path(
        [*_compute_log_prefix(manager, run_id), "x"], "out")).parent


def _compute_log_bytes(manager: ComputeLogManager, run_ids: Sequence[str]) -> int | None:
    if isinstance(manager, NoOpComputeLogManager):
        return 0
    if not isinstance(manager, LocalComputeLogManager):
        return None  # e.g. in S3: not measured
    return sum(_tree_size(_compute_log_dir(manager, run_id)) for run_id in run_ids)


def _files_size(paths: Iterable[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size if path.is_file() else 0
    return total


def _tree_size(directory: Path | None) -> int:
    return _files_size(directory.rglob("*")) if directory and directory.is_dir() else 0


def apply(instance: dg.DagsterInstance, plan: RunRetentionPlan) -> RunRetentionResult:
    """Deletes the plan's runs, nothing else; a run that changed since the plan is skipped."""
    event_log = sharded_sqlite_event_log(instance)
    manager = instance.compute_log_manager
    # any other manager is tried: its first error is reported, not raised
    compute_log_problem = ("none captured (NoOpComputeLogManager)"
                           if isinstance(manager, NoOpComputeLogManager) else None)
    deleted, skipped, failed = [], [], []
    bytes_freed = compute_logs_removed = 0
    for planned in plan.runs:
        run_id = planned.run_id
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            skipped.append((run_id, "already deleted"))
            continue
        if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
            skipped.append((run_id, f"status now {record.dagster_run.status.value}"))
            continue
        size = _tree_size(_compute_log_dir(manager, run_id))
        try:
            instance.delete_run(run_id)
            if event_log is not None:
                size += _remove_event_log_files(event_log, run_id)
        except Exception as error:  # noqa: BLE001 - one bad run must not stop the rest
            failed.append((run_id, f"{type(error).__name__}: {error}"))
            continue
        deleted.append(run_id)
        bytes_freed += size
        if compute_log_problem is None:
            try:
                _delete_compute_logs(manager, run_id)
                compute_logs_removed += 1
            except Exception as error:  # noqa: BLE001 - reported: the run itself is gone
                compute_log_problem = (f"could not delete ({type(error).__name__}: {error}); "
                                       f"left for the remaining runs")
    return RunRetentionResult(
        deleted=tuple(deleted), skipped=tuple(skipped), failed=tuple(failed),
        bytes_freed=bytes_freed if event_log is not None else None,
        compute_logs_removed=compute_logs_removed, compute_log_problem=compute_log_problem)


def _delete_compute_logs(manager: ComputeLogManager, run_id: str) -> None:
    manager.delete_logs(prefix=_compute_log_prefix(manager, run_id))
    if isinstance(manager, LocalComputeLogManager):
        # storage/<run_id> is left empty; other files there (op outputs) stay
        run_dir = _compute_log_dir(manager, run_id).parent
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _remove_event_log_files(storage: SqliteEventLogStorage, run_id: str) -> int:
    """Removes the run's own SQLite files, which delete_events empties but leaves; their bytes."""
    freed = 0
    for path in _event_log_files(storage, run_id):
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    # else this process would reuse the gone file as if its tables existed (a fresh process
    # does not): a later read of the run's events recreates an empty database instead
    initialized = getattr(storage, "_initialized_dbs", None)
    if isinstance(initialized, set):
        initialized.discard(run_id)
    return freed
