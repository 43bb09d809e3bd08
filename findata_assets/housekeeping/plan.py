"""Housekeeping as one plan over the three stores, so a dry run and a real run list the same:

    plan = make_plan(instance, intraday, archive, retention, now)
    print("\n".join(plan.summary_lines()))      # the dry run stops here
    carry_out(plan, instance, intraday, archive, log)

Order of deletion: the warehouse days (their Parquet verified again just before), then the raw
snapshots (their day's history verified), then Dagster's runs (the bookkeeping, last).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.housekeeping import archive_snapshots, dagster_runs, warehouse_days
from findata_assets.housekeeping.dagster_runs import format_bytes
from findata_assets.settings.retention import RetentionSettings
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.object_store import ObjectStore


@dataclass
class HousekeepingPlan:
    now: dt.datetime
    warehouse: warehouse_days.WarehousePlan
    snapshots: archive_snapshots.SnapshotPlan
    runs: dagster_runs.RunRetentionPlan

    def summary_lines(self) -> list[str]:
        w, s = self.warehouse, self.snapshots
        lines = [f"warehouse: {len(w.delete)} intraday day(s) to delete, {w.rows:,} rows, "
                 f"~{format_bytes(w.bytes)} (days before {w.oldest_kept}; kept "
                 f"{len(w.kept_unverified)} whose Parquet is not verified)"]
        lines += [f"  {d.table} {d.day}: {d.rows:,} rows" for d in w.delete]
        lines += [f"  kept {d.table} {d.day}: {d.reason}" for d in w.kept_unverified]
        lanes = ", ".join(f"{lane} {n:,}" for lane, n in sorted(s.by_lane().items())) or "none"
        kept = ", ".join(f"{why} {n:,}" for why, n in sorted(s.kept.items())) or "none"
        lines.append(f"archive: {len(s.delete):,} raw snapshots to delete ({lanes}), "
                     f"{format_bytes(s.bytes)} (days before {s.cutoff}); kept {sum(s.kept.values()):,}"
                     f" ({kept}), {format_bytes(s.kept_bytes)}")
        lines += [f"  not verified: {day}: {why}" for day, why in sorted(s.unverified_days.items())]
        return lines + self.runs.summary_lines()

    def as_metadata(self) -> dict:
        w, s = self.warehouse, self.snapshots
        return {"warehouse_days_to_delete": len(w.delete), "warehouse_rows_to_delete": w.rows,
                "warehouse_bytes_to_delete": w.bytes,
                "warehouse_days_kept_unverified": len(w.kept_unverified),
                "snapshots_to_delete": len(s.delete), "snapshot_bytes_to_delete": s.bytes,
                "snapshots_kept": sum(s.kept.values()),
                **{f"dagster_{k}": v for k, v in self.runs.as_metadata().items()}}


def make_plan(instance: dg.DagsterInstance, intraday: IntradayStore, archive: ObjectStore,
              retention: RetentionSettings, now: dt.datetime | None = None) -> HousekeepingPlan:
    now = (now or dt.datetime.now(tc.TZ)).astimezone(tc.TZ)
    warehouse = warehouse_days.plan(intraday, archive, now.date(), retention.warehouse_days)
    unsound = frozenset((d.kind, d.day) for d in warehouse.kept_unverified)
    return HousekeepingPlan(
        now=now, warehouse=warehouse,
        snapshots=archive_snapshots.plan(archive, now.date(), retention.snapshot_days, unsound),
        runs=dagster_runs.plan(instance, now, retention.run_days))


@dataclass
class HousekeepingResult:
    warehouse: warehouse_days.WarehouseResult
    snapshots_deleted: int
    runs: dagster_runs.RunRetentionResult

    def as_metadata(self) -> dict:
        return {"warehouse_rows_deleted": self.warehouse.deleted_rows,
                "warehouse_days_deleted": len(self.warehouse.deleted_days),
                "history_files_rebuilt": len(self.warehouse.rebuilt),
                "snapshots_deleted": self.snapshots_deleted,
                **{f"dagster_{k}": v for k, v in self.runs.as_metadata().items()}}


def carry_out(plan: HousekeepingPlan, instance: dg.DagsterInstance, intraday: IntradayStore,
              archive: ObjectStore, log=print) -> HousekeepingResult:
    warehouse = warehouse_days.apply(intraday, archive, plan.warehouse, log)
    snapshots = archive_snapshots.apply(archive, plan.snapshots, log)
    runs = dagster_runs.apply(instance, plan.runs)
    for line in runs.summary_lines():
        log(line)
    return HousekeepingResult(warehouse, snapshots, runs)
