"""Dagster partition definitions for the two table families, derived from the catalog."""

from __future__ import annotations

import dagster as dg

from findata_assets.defs.metadata_keys import RANGE_END_TAG, RANGE_START_TAG
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableKind

GROUP_DIMENSION = {"stock": "market", "sector": "board"}


def _multi_partitions(kind: TableKind) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        GROUP_DIMENSION[kind]: dg.StaticPartitionsDefinition(list(catalog.groups(kind))),
        "period": dg.StaticPartitionsDefinition(list(catalog.periods_of(kind))),
    })


STOCK_PARTITIONS = _multi_partitions("stock")
SECTOR_PARTITIONS = _multi_partitions("sector")
PARTITIONS: dict[TableKind, dg.MultiPartitionsDefinition] = {
    "stock": STOCK_PARTITIONS, "sector": SECTOR_PARTITIONS}


def range_tags(kind: TableKind, partition_keys: list[str]) -> dict[str, str]:
    """Run tags selecting the rectangle spanned by `partition_keys` (one run, many partitions).

    The keys must form a full rectangle (every group x every period named); anything else is
    split by the caller into several rectangles.
    """
    specs = [catalog.table_for_partition(kind, key) for key in partition_keys]
    groups = [g for g in catalog.groups(kind) if any(s.group.key == g for s in specs)]
    periods = [p for p in catalog.periods_of(kind) if any(s.period.key == p for s in specs)]
    rectangle = {f"{g}|{p}" for g in groups for p in periods}
    contiguous_groups = _is_contiguous(list(catalog.groups(kind)), groups)
    contiguous_periods = _is_contiguous(list(catalog.periods_of(kind)), periods)
    if rectangle != set(partition_keys) or not (contiguous_groups and contiguous_periods):
        raise ValueError(f"{kind} partitions {sorted(partition_keys)} do not form one contiguous "
                         "rectangle of groups x periods; split them into several runs")
    return {
        RANGE_START_TAG: f"{groups[0]}|{periods[0]}",
        RANGE_END_TAG: f"{groups[-1]}|{periods[-1]}",
    }


def _is_contiguous(order: list[str], chosen: list[str]) -> bool:
    positions = [order.index(item) for item in chosen]
    return positions == list(range(positions[0], positions[0] + len(positions)))
