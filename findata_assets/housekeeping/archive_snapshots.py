"""Retention of the raw archive: snapshots of the every-minute lanes (quick, incremental) older
than M days go once their day's intraday history is verified, i.e. the day's Parquet file is
the very file (same size and SHA-256) that was compared value for value with the warehouse.
Everything else stays: full-refresh and manual snapshots, keys from before keys named their
lane, and any day whose history is not verified.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.snapshot import ARCHIVE_PREFIX, is_snapshot_key, lane_of_key
from findata_assets.storage import intraday_history as history
from findata_assets.storage.object_store import ObjectStore

DELETABLE_LANES = ("quick", "incremental")
_KIND_OF_TABLE = {name: spec.kind for name, spec in catalog.TABLES_BY_NAME.items()}


@dataclass
class SnapshotPlan:
    keep_days: int
    cutoff: dt.date  # snapshots of days before this one may go
    delete: dict[str, int] = field(default_factory=dict)  # key -> bytes
    kept: Counter = field(default_factory=Counter)  # reason -> objects
    kept_bytes: int = 0
    unverified_days: dict[str, str] = field(default_factory=dict)  # "<table family> <day>" -> why

    @property
    def bytes(self) -> int:
        return sum(self.delete.values())

    def by_lane(self) -> Counter:
        return Counter(lane_of_key(k) for k in self.delete)


def _parse(key: str) -> tuple[str, dt.date] | None:
    """(table, trade date) of raw/<table>/<day>/<file>, None for anything else."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != ARCHIVE_PREFIX or not is_snapshot_key(key):
        return None
    try:
        return parts[1], dt.date.fromisoformat(parts[2])
    except ValueError:
        return None


def plan(archive: ObjectStore, today: dt.date, keep_days: int) -> SnapshotPlan:
    result = SnapshotPlan(keep_days, today - dt.timedelta(days=keep_days))
    verified: dict[tuple[str, dt.date], bool] = {}
    for key, size in sorted(archive.list_objects(f"{ARCHIVE_PREFIX}/").items()):
        reason = _why_kept(archive, key, result, verified)
        if reason is None:
            result.delete[key] = size
        else:
            result.kept[reason] += 1
            result.kept_bytes += size
    return result


def _why_kept(archive: ObjectStore, key: str, result: SnapshotPlan,
              verified: dict[tuple[str, dt.date], bool]) -> str | None:
    parsed = _parse(key)
    if parsed is None:
        return "not a snapshot key"
    table, day = parsed
    lane = lane_of_key(key)
    if lane not in DELETABLE_LANES:
        return f"{lane} lane"
    if day >= result.cutoff:
        return f"newer than {result.keep_days} days"
    kind = _KIND_OF_TABLE.get(table)
    if kind is None:
        return "unknown table"
    if (kind, day) not in verified:
        try:
            history.check_verified(archive, kind, day)
            verified[kind, day] = True
        except history.HistoryFileError as exc:
            verified[kind, day] = False
            result.unverified_days[f"{kind} {day}"] = str(exc)
    return None if verified[kind, day] else "day's history not verified"


def apply(archive: ObjectStore, planned: SnapshotPlan, log=print) -> int:
    """Delete exactly the planned keys; returns how many."""
    deleted = archive.delete_keys(planned.delete)
    if deleted:
        lanes = ", ".join(f"{lane} {n:,}" for lane, n in sorted(planned.by_lane().items()))
        log(f"deleted {deleted:,} raw snapshots ({lanes}), {planned.bytes / 1e6:.1f} MB, "
            f"of days before {planned.cutoff} with a verified history")
    return deleted
