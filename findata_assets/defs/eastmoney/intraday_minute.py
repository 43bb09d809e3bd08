"""The intraday minute, stored by the table step that stores its 1d table.

Every refresh with 全部股票 today (or a board type's today) also holds the day's next intraday
minute. It is written right after the table, in the same step, from the snapshot in memory: the
minute lands milliseconds after its table, with no second run to launch (a run per minute costs
seconds of latency and ~240 runs a day in Dagster's history). The intraday assets stay the way to
rebuild a day from the archive; the minute written here is reported as their materialization, so
the catalog shows each day's latest minute.
"""

from __future__ import annotations

from typing import Iterator

import dagster as dg

from findata_assets.defs import metadata_keys as keys
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.parsing import naive_shanghai
from findata_assets.eastmoney.snapshot import Snapshot
from findata_assets.storage.intraday import SOURCES, TABLES, IntradayStore, minute_of, rows_of
from findata_assets.storage.warehouse import Warehouse


def feeds_intraday(spec: TableSpec) -> bool:
    return spec in SOURCES[spec.kind]


def store_minutes(warehouse: Warehouse, tables: list[tuple[TableSpec, Snapshot, list[dict]]],
                  log: dg.DagsterLogManager) -> Iterator[dg.AssetMaterialization]:
    """The minutes of the 1d tables among `tables` (spec, snapshot, parsed rows), one
    materialization per family and day. Every minute, so only cheap index reads: this minute's
    stored fetch time, the day's first and last minute."""
    sources = [t for t in tables if feeds_intraday(t[0])]
    if not sources:
        return
    store = IntradayStore(warehouse)
    kind = sources[0][0].kind
    written = []
    for spec, snapshot, parsed in sources:
        minute = minute_of(snapshot)
        if minute is None:  # no f124: no data minute to file it under
            log.warning(f"{spec.name}: no f124 in the snapshot, no intraday minute")
            continue
        board = spec.group.key if spec.kind == "sector" else None
        stored = store.minute_fetched_at(kind, snapshot.trade_date, minute, board)
        if stored is not None and stored >= naive_shanghai(snapshot.fetched_at):
            continue  # a newer fetch of this minute is stored already
        written.append((snapshot.trade_date, store.replace_minute(
            kind, snapshot.trade_date, minute, board, rows_of(spec, snapshot, parsed),
            replaced=stored is not None)))
    for day in sorted({d for d, _ in written}):
        writes = [w for d, w in written if d == day]
        first, last = store.minute_span(kind, day)
        log.info(f"{TABLES[kind]} {day}: minute {writes[-1].minute:%H:%M} stored "
                 f"({sum(w.rows for w in writes):,} rows; the day runs {first:%H:%M}-{last:%H:%M})")
        yield dg.AssetMaterialization(
            asset_key=TABLES[kind], partition=day.isoformat(),
            description="the minute of this refresh, stored by its table step",
            metadata={keys.TRADE_DATE: day.isoformat(), keys.WAREHOUSE: warehouse.describe(),
                      "minute": writes[-1].minute.strftime("%H:%M"),
                      "minutes_written": len(writes),
                      "minutes_replaced": sum(1 for w in writes if w.replaced),
                      "rows_written": sum(w.rows for w in writes),
                      "first_minute": first.strftime("%H:%M"),
                      "last_minute": last.strftime("%H:%M")})
