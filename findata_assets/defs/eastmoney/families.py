"""The two table families (stock, sector) as objects: everything the assets, IO managers,
planner, policies, analysis and CLI need to know about a family, in one place.

    STOCK.raw_key / STOCK.table_key   the assets' keys (stock_flow_raw, stock_flow)
    STOCK.job_name                    stock_flow_job
    STOCK.partitions                  the market x period partitions definition
    STOCK.spec("all|1d")              the catalog's TableSpec of a partition key
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import dagster as dg

from findata_assets.defs.eastmoney.partitions import PARTITIONS
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableKind, TableSpec


@dataclass(frozen=True)
class FlowFamily:
    kind: TableKind
    label: str  # how descriptions name it

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(f"{self.kind}_flow_raw")

    @property
    def table_key(self) -> dg.AssetKey:
        return dg.AssetKey(f"{self.kind}_flow")

    @property
    def job_name(self) -> str:
        return f"{self.kind}_flow_job"

    @property
    def partitions(self) -> dg.MultiPartitionsDefinition:
        return PARTITIONS[self.kind]

    def spec(self, partition_key: str) -> TableSpec:
        """The table of a partition key; a key outside the catalog is a clear error."""
        return catalog.table_for_partition(self.kind, partition_key)

    def specs(self, partition_keys: Iterable[str]) -> list[TableSpec]:
        return [self.spec(key) for key in partition_keys]


STOCK = FlowFamily("stock", "stock")
SECTOR = FlowFamily("sector", "sector (board)")
FAMILIES: dict[TableKind, FlowFamily] = {"stock": STOCK, "sector": SECTOR}
TABLE_KEYS = frozenset(f.table_key for f in FAMILIES.values())  # the assets that store tables
TABLE_ASSETS = frozenset(k.to_user_string() for k in TABLE_KEYS)


def family_of(asset_key: dg.AssetKey) -> FlowFamily:
    """The family whose raw or table asset `asset_key` is."""
    for family in FAMILIES.values():
        if asset_key in (family.raw_key, family.table_key):
            return family
    raise KeyError(f"{asset_key.to_user_string()} is not a fund-flow asset")
