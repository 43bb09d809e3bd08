"""Retention of the raw archive: snapshots of the every-minute lanes (quick, incremental) older
than M days go once what they hold is in a verified history file, i.e. once

- the day's Parquet file of their family is the very file (same size and SHA-256) that was
  compared value for value with the warehouse, and housekeeping found nothing wrong with that
  day this run;
- the snapshot's data minute is one of the file's minutes: 全部股票 and the board tables feed
  the file directly; a market's own today table (沪市A股, ...) was built from the same pages as
  the 全部股票 one of its fetch (`shared_with`), so its rows are those of that minute too.

Everything else stays and is counted by reason: full-refresh and manual snapshots, keys from
before keys named their lane, multi-day tables, snapshots without a data minute, days not
verified. Deleting checks each day's file again first.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.snapshot import (
    ARCHIVE_PREFIX, decode, is_snapshot_key, lane_of_key)
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import SOURCES, minute_of
from findata_assets.storage.object_store import ObjectStore

DELETABLE_LANES = ("quick", "incremental")
_SOURCE_TABLES = {kind: {spec.name for spec in specs} for kind, specs in SOURCES.items()}

Day = tuple[str, dt.date]  # (family, trade date)


@dataclass
class SnapshotPlan:
    keep_days: int
    cutoff: dt.date  # snapshots of days before this one may go
    delete: dict[str, int] = field(default_factory=dict)  # key -> bytes
    kept: Counter = field(default_factory=Counter)  # reason -> objects
    kept_bytes: int = 0
    unverified_days: dict[str, str] = field(default_factory=dict)  # "<family> <day>" -> why
    verified_sha: dict[Day, str] = field(default_factory=dict)  # the files the plan relied on
    day_of_key: dict[str, Day] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(self.delete.values())

    def by_lane(self) -> Counter:
        return Counter(lane_of_key(k) for k in self.delete)


def _parse(key: str) -> tuple[catalog.TableSpec, dt.date] | None:
    """(table, trade date) of raw/<table>/<day>/<file>, None for anything else."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != ARCHIVE_PREFIX or not is_snapshot_key(key):
        return None
    spec = catalog.TABLES_BY_NAME.get(parts[1])
    try:
        return (spec, dt.date.fromisoformat(parts[2])) if spec else None
    except ValueError:
        return None


def plan(archive: ObjectStore, today: dt.date, keep_days: int,
         unsound_days: frozenset[Day] = frozenset()) -> SnapshotPlan:
    """`unsound_days`: (family, day) whose file housekeeping found wrong this run: kept."""
    result = SnapshotPlan(keep_days, today - dt.timedelta(days=keep_days))
    minutes: dict[Day, set | None] = {}
    for key, size in sorted(archive.list_objects(f"{ARCHIVE_PREFIX}/").items()):
        reason = _why_kept(archive, key, result, minutes, unsound_days)
        if reason is None:
            result.delete[key] = size
        else:
            result.kept[reason] += 1
            result.kept_bytes += size
    return result


def _why_kept(archive: ObjectStore, key: str, result: SnapshotPlan,
              minutes: dict[Day, set | None], unsound: frozenset[Day]) -> str | None:
    parsed = _parse(key)
    if parsed is None:
        return "not a snapshot key"
    spec, day = parsed
    lane = lane_of_key(key)
    if lane not in DELETABLE_LANES:
        return f"{lane} lane"
    if day >= result.cutoff:
        return f"newer than {result.keep_days} days"
    if spec.period.key != "1d":
        return "not in the intraday history (multi-day table)"
    family: Day = (spec.kind, day)
    if family not in minutes:
        minutes[family] = _verified_minutes(archive, family, result, unsound)
    if minutes[family] is None:
        return "day's history not verified"
    snapshot = decode(key, archive.get_bytes(key))
    minute = minute_of(snapshot)
    if minute is None:
        return "no data minute (not in the history)"
    feeds = spec.name in _SOURCE_TABLES[spec.kind] or _SOURCE_TABLES[spec.kind] & set(
        snapshot.shared_with)
    if not feeds:
        return "not in the intraday history (fetched apart from its source)"
    if minute not in minutes[family]:
        return "its minute is not in the day's history file"
    result.day_of_key[key] = family
    return None


def _verified_minutes(archive: ObjectStore, family: Day, result: SnapshotPlan,
                      unsound: frozenset[Day]) -> set | None:
    kind, day = family
    if family in unsound:
        result.unverified_days[f"{kind} {day}"] = "kept by the warehouse step of this run"
        return None
    try:
        result.verified_sha[family] = history.check_verified(archive, kind, day)["sha256"]
        return history.file_minutes(archive, kind, day)
    except history.HistoryFileError as exc:
        result.unverified_days[f"{kind} {day}"] = str(exc)
        return None


def apply(archive: ObjectStore, planned: SnapshotPlan, log=print) -> int:
    """Delete the planned keys, a day at a time, each day's file checked again first (still the
    file the plan relied on); returns how many were deleted."""
    by_day: dict[Day, list[str]] = defaultdict(list)
    for key in planned.delete:
        by_day[planned.day_of_key[key]].append(key)
    deleted = 0
    for (kind, day), keys in sorted(by_day.items()):
        try:
            sha = history.check_verified(archive, kind, day)["sha256"]
        except history.HistoryFileError as exc:
            sha, why = None, str(exc)
        if sha != planned.verified_sha[kind, day]:
            log(f"kept {len(keys):,} raw snapshots of {kind} {day}: "
                f"{why if sha is None else 'its history file changed since the plan'}")
            continue
        deleted += archive.delete_keys(keys)
        lanes = Counter(lane_of_key(k) for k in keys)
        log(f"deleted {len(keys):,} raw snapshots of {kind} {day} ("
            + ", ".join(f"{lane} {n:,}" for lane, n in sorted(lanes.items())) + "), "
            f"{sum(planned.delete[k] for k in keys) / 1e6:.1f} MB: their minutes are in its "
            "verified history file")
    return deleted
