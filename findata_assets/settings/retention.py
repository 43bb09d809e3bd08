"""FINDATA_RETENTION_*: how long each store keeps what the every-minute lanes add (housekeeping).

    FINDATA_RETENTION_RUN_DAYS         succeeded quick/incremental/intraday Dagster runs (14)
    FINDATA_RETENTION_SNAPSHOT_DAYS    raw quick/incremental snapshots, once the day's Parquet is
                                       verified (30)
    FINDATA_RETENTION_WAREHOUSE_DAYS   closed intraday days kept in the warehouse besides the
                                       live day, once their Parquet is verified (5 trading days)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from findata_assets.settings.values import number

RUN_DAYS_ENV = "FINDATA_RETENTION_RUN_DAYS"
SNAPSHOT_DAYS_ENV = "FINDATA_RETENTION_SNAPSHOT_DAYS"
WAREHOUSE_DAYS_ENV = "FINDATA_RETENTION_WAREHOUSE_DAYS"


@dataclass(frozen=True)
class RetentionSettings:
    run_days: int = 14
    snapshot_days: int = 30
    warehouse_days: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "RetentionSettings":
        return cls(run_days=number(environ, RUN_DAYS_ENV, cls.run_days, int, 1, unit="days"),
                   snapshot_days=number(environ, SNAPSHOT_DAYS_ENV, cls.snapshot_days, int, 1,
                                         unit="days"),
                   warehouse_days=number(environ, WAREHOUSE_DAYS_ENV, cls.warehouse_days, int,
                                          0, unit="trading days"))
