"""A day's coverage with its causes (the minute log + the instance's runs and ticks), and how the
history asset shows it: metadata and the `minutes_captured` check (warn below
FINDATA_COVERAGE_WARN_SHARE, 0.99 by default; fail below FINDATA_COVERAGE_FAIL_SHARE, 0.90)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import dagster as dg

from findata_assets import environment
from findata_assets import trading_calendar as tc
from findata_assets.coverage.day_coverage import DayCoverage, compute
from findata_assets.defs.intraday.attempts import cadence, day_attempts
from findata_assets.settings.operations import coverage_shares
from findata_assets.storage.intraday import SOURCES, IntradayStore
from findata_assets.storage.warehouse import Warehouse

CHECK_NAME = "minutes_captured"
SECTOR_BOARDS = frozenset(spec.group.key for spec in SOURCES["sector"])


def now_local() -> dt.datetime:
    return dt.datetime.now(tc.TZ).replace(tzinfo=None)


def day_coverage(instance: Optional[dg.DagsterInstance], warehouse: Warehouse, family: str,
                 day: dt.date, now: Optional[dt.datetime] = None) -> DayCoverage:
    """`day`'s coverage of `family` as of `now` (naive Asia/Shanghai; default: the clock). No
    instance: the missing minutes' causes are not known ("no tick" stands for every one)."""
    stored = IntradayStore(warehouse).logged_minutes(family, day)
    attempts = day_attempts(instance, family, day) if instance is not None else []
    boards = SECTOR_BOARDS if family == "sector" else frozenset()
    return compute(day, family, stored, attempts, cadence(family), boards, now or now_local())


def metadata(coverage: DayCoverage) -> dict:
    table = "\n".join(f"| {r.span} | {r.minutes} | {r.cause} | {r.detail} |"
                      for r in coverage.missing)
    return {"minutes_due": coverage.due, "minutes_captured": coverage.stored,
            "minutes_missing": coverage.missing_minutes, "minutes_late": len(coverage.late),
            "coverage_pct": dg.MetadataValue.float(round(100 * coverage.share, 2)),
            "coverage": coverage.summary(),
            "missing_ranges": dg.MetadataValue.md(
                "| minutes | count | cause | detail |\n|---|---:|---|---|\n" + table
                if table else "none")}


def check_result(asset_key: dg.AssetKey, coverage: DayCoverage) -> dg.AssetCheckResult:
    warn, fail = coverage_shares(environment.current())
    severity = dg.AssetCheckSeverity.ERROR if coverage.share < fail else \
        dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=CHECK_NAME, passed=coverage.share >= warn,
        severity=severity, description=coverage.summary(),
        metadata={"share": round(coverage.share, 4), "warn_below": warn, "fail_below": fail,
                  "minutes_captured": coverage.stored, "minutes_due": coverage.due})


def check_spec(asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    warn, fail = coverage_shares(environment.current())
    return dg.AssetCheckSpec(
        CHECK_NAME, asset=asset_key,
        description=f"the day's session minutes stored: warns below {warn:.0%}, fails below "
                    f"{fail:.0%} (FINDATA_COVERAGE_WARN_SHARE, FINDATA_COVERAGE_FAIL_SHARE)")
