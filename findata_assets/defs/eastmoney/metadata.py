"""What a materialization tells the person looking at it in the UI."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.families import FAMILIES
from findata_assets.eastmoney.catalog import (
    CODE_FIELD, COLUMN_NAMES, NAME_FIELD, UPDATED_AT_FIELD, YI, TableSpec)
from findata_assets.eastmoney.parsing import ParsedTable
from findata_assets.eastmoney.snapshot import Snapshot

TOP_N = 5


def snapshot_metadata(snapshot: Snapshot) -> dict[str, dg.RawMetadataValue]:
    return {
        keys.TABLE: snapshot.table,
        "rows": len(snapshot.rows),
        "api_total": snapshot.total,
        "pages": snapshot.pages,
        "requests": snapshot.requests,  # hedges and retries included
        "hedged_requests": snapshot.hedges,  # duplicates sent for late pages
        "deadlines_expired": snapshot.deadlines_expired,  # requests cut off (stalled)
        "page_size": snapshot.page_size,
        keys.TRADE_DATE: snapshot.trade_date.isoformat(),
        "snapshot_time": snapshot.updated_at.isoformat() if snapshot.updated_at else "unknown",
        "fetched_at": snapshot.fetched_at.isoformat(),
        "shared_fetch_with": ", ".join(snapshot.shared_with) or "-",
        keys.SYNTHETIC: snapshot.synthetic,  # True: the bundled fake API, not market data
        "empty_terms": ", ".join(snapshot.empty_terms) or "-",  # board terms that selected none
        "stray_f124_rows": snapshot.stray_updates,  # f124 after the fetch: left out of the date
        "trade_date_from": "calendar (no f124)" if snapshot.trade_date_fallback else "f124",
    }


def table_metadata(spec: TableSpec, snapshot: Snapshot,
                   parsed: ParsedTable) -> dict[str, dg.RawMetadataValue]:
    rows = parsed.rows
    nulls = {col: sum(1 for r in rows if r[col] is None) for col in COLUMN_NAMES}
    return {
        **snapshot_metadata(snapshot),
        keys.TABLE: spec.name,
        keys.ROW_COUNT: len(rows),
        "null_counts": dg.MetadataValue.json({c: n for c, n in nulls.items() if n}),
        # cells that were neither a value nor "-": stored NULL, raw value kept in the archive
        "unparsable_cells": len(parsed.bad_cells),
        "unparsable_cells_by_column": dg.MetadataValue.json(parsed.bad_cells_by_column()),
        f"top_{TOP_N}_main_net_inflow": dg.MetadataValue.md(top_inflow_markdown(rows)),
        "dagster/column_lineage": column_lineage(spec),
    }


def column_lineage(spec: TableSpec) -> dg.TableColumnLineage:
    """Each column read from one API field, as lineage to that field of the raw snapshot asset
    (f62 -> main_net in today's tables, f267 in the 3-day ones); trade_date comes from f124."""
    raw = FAMILIES[spec.kind].raw_key
    fields = {"trade_date": UPDATED_AT_FIELD, "code": CODE_FIELD, "name": NAME_FIELD,
              "updated_at": UPDATED_AT_FIELD, **spec.field_map()}
    return dg.TableColumnLineage(deps_by_column={
        column: [dg.TableColumnDep(asset_key=raw, column_name=field)]
        for column, field in fields.items()})


def top_inflow_markdown(rows: list[dict], n: int = TOP_N) -> str:
    ranked = sorted((r for r in rows if r["main_net"] is not None), key=lambda r: r["rank"])[:n]
    lines = ["| rank | code | name | main net (亿元) | main % | change % |",
             "|---:|---|---|---:|---:|---:|"]
    for r in ranked:
        lines.append(f"| {r['rank']} | {r['code']} | {r['name']} | {r['main_net'] / YI:,.2f} "
                     f"| {_fmt(r['main_pct'])} | {_fmt(r['change_pct'])} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
