"""From the archive to the intraday tables: the day's 1d snapshots, minute by minute.

The archive (raw/<table>/<day>/<fetched_at>.json.zst, or .json from before compression) is the
only input, so a catch-up after the live minutes (which the table steps store themselves) and a
backfill of a past day are the same code and give the same rows. Only snapshots fetched after the
newest one stored are read; of several snapshots of the same data minute the latest fetched wins,
and it replaces that minute's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

from findata_assets import cancellation
from findata_assets.eastmoney.parsing import naive_shanghai
from findata_assets.eastmoney.snapshot import (
    ARCHIVE_PREFIX, Snapshot, decode, fetched_at_of_key, is_snapshot_key)
from findata_assets.storage.intraday import SOURCES, IntradayStore, MinuteWrite, minute_of, rows_of
from findata_assets.storage.object_store import ObjectStore


@dataclass
class FeedResult:
    kind: str
    day: dt.date
    snapshots_read: int = 0
    written: list[MinuteWrite] = field(default_factory=list)
    unchanged: int = 0  # snapshots of a minute already stored from an equal or newer fetch
    undated: int = 0  # snapshots without f124: no data minute, nothing added

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.written)


def _latest_by_minute(archive: ObjectStore, spec, day: dt.date, newer_than, result: FeedResult
                      ) -> dict[dt.datetime, Snapshot]:
    """data minute -> its latest fetched snapshot, of the snapshots fetched after `newer_than`."""
    keys = sorted((k for k in archive.list_keys(f"{ARCHIVE_PREFIX}/{spec.name}/{day}/")
                   if is_snapshot_key(k)
                   and (newer_than is None or fetched_at_of_key(k) > newer_than)),
                  key=fetched_at_of_key)  # fetch order, whichever form of key
    latest: dict[dt.datetime, Snapshot] = {}
    for key in keys:
        cancellation.check()
        snapshot = decode(key, archive.get_bytes(key))
        result.snapshots_read += 1
        minute = minute_of(snapshot)
        if minute is None:
            result.undated += 1
            continue
        if minute in latest:
            result.unchanged += 1
        latest[minute] = snapshot  # keys are in fetch order
    return latest


def feed_day(store: IntradayStore, archive: ObjectStore, kind: str, day: dt.date,
             rebuild: bool = False) -> FeedResult:
    """Bring `kind`'s intraday rows of `day` up to date with the archive (all of it: rebuild)."""
    result = FeedResult(kind, day)
    for spec in SOURCES[kind]:
        board = spec.group.key if spec.group.kind == "sector" else None
        stored = store.stored_minutes(kind, day, board)
        newest = None if rebuild or not stored else max(stored.values())
        for minute, snapshot in sorted(_latest_by_minute(archive, spec, day, newest,
                                                         result).items()):
            fetched = naive_shanghai(snapshot.fetched_at)  # as rows_of stores it
            if not rebuild and minute in stored and stored[minute] >= fetched:
                result.unchanged += 1
                continue
            result.written.append(store.replace_minute(kind, day, minute, board,
                                                       rows_of(spec, snapshot),
                                                       replaced=minute in stored))
    return result


def day_rows(archive: ObjectStore, kind: str, day: dt.date,
             columns: Sequence[str]) -> tuple[list[tuple], FeedResult]:
    """The rows a rebuild of the day would store, as tuples of `columns`, without a warehouse:
    how a closed day's history file is made once the warehouse no longer holds the day."""
    result, rows = FeedResult(kind, day), []
    for spec in SOURCES[kind]:
        for minute, snapshot in sorted(_latest_by_minute(archive, spec, day, None,
                                                         result).items()):
            minute_rows = rows_of(spec, snapshot)
            rows.extend(tuple(row[c] for c in columns) for row in minute_rows)
            result.written.append(MinuteWrite(minute, len(minute_rows), replaced=False))
    return rows, result
