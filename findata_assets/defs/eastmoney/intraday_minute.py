"""The intraday minute, stored by the table step that stores its 1d table.

Every refresh with 全部股票 today (or a board type's today) also holds the day's next intraday
minute. It is written by the same step right after the table, in its own transaction, from the
rows in memory: the minute lands a fraction of a second after its table, with no second run to
launch (a run per minute costs seconds of latency and ~240 runs a day in Dagster's history).
The intraday assets stay the way to
rebuild a day from the archive; the minute written here is reported as their materialization, so
the catalog shows each day's latest minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterator

import dagster as dg

from findata_assets.defs import metadata_keys as keys
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.parsing import naive_shanghai
from findata_assets.eastmoney.snapshot import Snapshot
from findata_assets.storage.intraday import (
    SOURCES, TABLES, IntradayStore, MinuteWrite, minute_of, rows_of)
from findata_assets.coverage.session_minutes import CADENCE_MINUTES, due_minutes
from findata_assets.storage import minute_log
from findata_assets.storage.warehouse import Warehouse


def feeds_intraday(spec: TableSpec) -> bool:
    return spec in SOURCES[spec.kind]


@dataclass
class MinutesWritten:
    kind: str
    written: list[tuple[dt.date, MinuteWrite]] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)  # tables whose snapshot had no f124


def write_minutes(warehouse: Warehouse, tables: list[tuple[TableSpec, Snapshot, list[dict]]],
                  run_id: str | None = None) -> MinutesWritten | None:
    """The minutes of the 1d tables among `tables` (spec, snapshot, parsed rows). Every minute,
    so only cheap index reads (this minute's stored fetch time)."""
    sources = [t for t in tables if feeds_intraday(t[0])]
    if not sources:
        return None
    store = IntradayStore(warehouse)
    result = MinutesWritten(sources[0][0].kind)
    for spec, snapshot, parsed in sources:
        minute = minute_of(snapshot)
        if minute is None:  # no f124: no data minute to file it under
            result.undated.append(spec.name)
            continue
        board = spec.group.key if spec.kind == "sector" else None
        write = store.replace_minute_if_newer(  # None: a newer fetch of it is stored already
            result.kind, snapshot.trade_date, minute, board, rows_of(spec, snapshot, parsed),
            naive_shanghai(snapshot.fetched_at), run_id)
        if write is not None:
            result.written.append((snapshot.trade_date, write))
    return result


def materializations(warehouse: Warehouse, result: MinutesWritten | None,
                     log: dg.DagsterLogManager) -> Iterator[dg.AssetMaterialization]:
    """What the catalog shows of the minutes written: one materialization per family and day."""
    if result is None:
        return
    for name in result.undated:
        log.warning(f"{name}: no f124 in the snapshot, no intraday minute")
    store = IntradayStore(warehouse)
    for day in sorted({d for d, _ in result.written}):
        writes = [w for d, w in result.written if d == day]
        first, last = store.minute_span(result.kind, day)  # both ends of an index: cheap
        # the live day's coverage so far: a count over the minute log (a few hundred rows);
        # the causes of what is missing are `show coverage`'s (they read the instance)
        captured = minute_log.count(warehouse, result.kind, day)
        due = len(due_minutes(day, CADENCE_MINUTES[result.kind],
                              naive_shanghai(dt.datetime.now(dt.timezone.utc))))
        log.info(f"{TABLES[result.kind]} {day}: minute {writes[-1].minute:%H:%M} stored "
                 f"({sum(w.rows for w in writes):,} rows; the day runs {first:%H:%M}-{last:%H:%M})")
        yield dg.AssetMaterialization(
            asset_key=TABLES[result.kind], partition=day.isoformat(),
            description="the minute of this refresh, stored by its table step",
            metadata={keys.TRADE_DATE: day.isoformat(), keys.WAREHOUSE: warehouse.describe(),
                      "minute": writes[-1].minute.strftime("%H:%M"),
                      "minutes_written": len(writes),
                      "minutes_replaced": sum(1 for w in writes if w.replaced),
                      "rows_written": sum(w.rows for w in writes),
                      "first_minute": first.strftime("%H:%M"),
                      "last_minute": last.strftime("%H:%M"),
                      "minutes_captured_so_far": captured,
                      "coverage_so_far": f"{captured}/{max(due, captured)} due minutes "
                                         f"captured (python -m findata_assets.run show "
                                         f"coverage --date {day} for the gaps)"})
