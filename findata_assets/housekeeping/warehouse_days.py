"""Retention of the intraday tables in the warehouse: today and the N trading days before it
stay; an older day goes only once its Parquet file holds the same rows, value for value,
compared now (not trusted from the day it was written). A file that is missing, truncated or
differs keeps the day, and a real run writes that file again from the warehouse rows (the next
run deletes the day after verifying the new file), except where that could lose rows: a file
still as it was verified is never replaced (the warehouse changed since: an operator decides),
nor by fewer rows than it was verified with. A deletion cut short (a minute per transaction) is
marked in the bucket and finished by the next run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from findata_assets import trading_calendar as tc
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import TABLES, IntradayStore
from findata_assets.storage.object_store import ObjectStore


@dataclass
class WarehouseDay:
    kind: str
    day: dt.date
    rows: int
    bytes: int  # estimated from the table's mean row size
    reason: str = ""  # why kept: the file's one-line problem
    file_sha256: str = ""  # of the file as the plan verified it
    newest_fetch: object = None  # the day's max(fetched_at) when the plan compared it
    resume: bool = False  # a deletion cut short: the rest of the day goes

    @property
    def table(self) -> str:
        return TABLES[self.kind]


@dataclass
class WarehousePlan:
    keep_days: int
    oldest_kept: dt.date  # days from this one on stay in any case
    delete: list[WarehouseDay] = field(default_factory=list)
    kept_unverified: list[WarehouseDay] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.delete)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.delete)


def oldest_kept_day(today: dt.date, keep_days: int) -> dt.date:
    """The first day retention keeps: the `keep_days`-th trading day before today (today when
    keep_days is 0), so the live day and that many closed days stay."""
    day = today
    for _ in range(keep_days):
        day = tc.previous_trading_day(day)
    return day


def plan(intraday: IntradayStore, archive: ObjectStore, today: dt.date,
         keep_days: int) -> WarehousePlan:
    oldest = oldest_kept_day(today, keep_days)
    result = WarehousePlan(keep_days, oldest)
    for kind in TABLES:
        for day in intraday.stored_days(kind):
            if day >= oldest:
                continue
            rows, size = intraday.day_size(kind, day)
            candidate = WarehouseDay(kind, day, rows, size, newest_fetch=intraday.newest_fetch(
                kind, day))
            try:
                if archive.exists(history.deleting_key(kind, day)):
                    candidate.resume = True  # the file was verified before the deletion began
                    candidate.file_sha256 = history.check_verified(archive, kind, day)["sha256"]
                else:
                    candidate.file_sha256 = history.verified_sha256(
                        archive, kind, day, _warehouse_table(intraday, kind, day))[1]
            except history.HistoryFileError as exc:
                candidate.reason = ("a deletion was cut short and " if candidate.resume
                                    else "") + str(exc)
                result.kept_unverified.append(candidate)
                continue
            result.delete.append(candidate)
    return result


def _warehouse_table(intraday: IntradayStore, kind: str, day: dt.date):
    return history.to_arrow(intraday.read_day(kind, day, history.FILE_COLUMNS))


def _changed_since_plan(intraday: IntradayStore, archive: ObjectStore,
                        day: WarehouseDay) -> str:
    try:
        sha = history.file_sha256(archive, day.kind, day.day)
    except history.HistoryFileError as exc:
        return str(exc)
    if sha != day.file_sha256:
        return f"{history.history_key(day.kind, day.day)} changed since it was verified"
    rows, _ = intraday.day_size(day.kind, day.day)
    if rows != day.rows or intraday.newest_fetch(day.kind, day.day) != day.newest_fetch:
        return (f"its rows changed since the plan compared them ({rows:,} rows now, "
                f"{day.rows:,} then)")
    return ""


@dataclass
class WarehouseResult:
    deleted_rows: int = 0
    deleted_days: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # files written again, verified


def apply(intraday: IntradayStore, archive: ObjectStore, planned: WarehousePlan,
          log=print) -> WarehouseResult:
    """Delete the planned days, each checked again right before: the file is still the one
    the plan compared (same SHA-256) and the day still has the rows it compared (a file
    replaced or rows written since are caught, without comparing every value twice); rebuild
    the files that kept a day."""
    result = WarehouseResult()
    for day in planned.delete:
        changed = _changed_since_plan(intraday, archive, day)
        if changed:
            log(f"kept {day.table} {day.day} in the warehouse: {changed}")
            continue
        marker = history.deleting_key(day.kind, day.day)
        archive.put_bytes(marker, f"{day.rows} rows\n".encode(), "text/plain")
        deleted = intraday.delete_day(day.kind, day.day)
        archive.delete_keys([marker])
        result.deleted_rows += deleted
        result.deleted_days.append(f"{day.table} {day.day}")
        log(f"deleted {day.table} {day.day} from the warehouse: {deleted:,} rows "
            f"(~{day.bytes / 1e6:.1f} MB), its Parquet verified "
            + ("before a deletion cut short" if day.resume else "value for value"))
    for day in planned.kept_unverified:
        why_not = _why_not_rebuild(archive, day)
        if why_not:
            log(f"kept {day.table} {day.day} in the warehouse: {day.reason}; {why_not}")
            continue
        log(f"kept {day.table} {day.day} in the warehouse: {day.reason}; writing the file again")
        written = history.write_and_verify(archive, day.kind, day.day,
                                           _warehouse_table(intraday, day.kind, day.day),
                                           intraday.warehouse.describe())
        result.rebuilt.append(written.key)
        log(f"rebuilt {written.key}: {written.rows:,} rows, verified; the day goes at the next "
            "housekeeping")
    return result


def _why_not_rebuild(archive: ObjectStore, day: WarehouseDay) -> str:
    """Why the file must not be written from the warehouse rows; "" when it may."""
    if day.resume:
        return "not written again: a deletion of the day was cut short (see its marker)"
    try:
        history.check_verified(archive, day.kind, day.day)
        return (f"not written again: the file is as it was verified, so the warehouse day "
                f"changed since; materialize {day.table}_history for {day.day} to file it anew")
    except history.HistoryFileError:
        pass
    try:
        history.refuse_shrinking(archive, day.kind, day.day, day.rows, "the warehouse")
    except history.HistoryFileError as exc:
        return str(exc)
    return ""
