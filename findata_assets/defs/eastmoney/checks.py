"""Data-quality checks on the stored fund-flow tables.

Asset checks in Dagster are per asset, not per partition, while one run stores many tables; so
each check is evaluated over every table of the run and its metadata names the tables that fail.
"""

from __future__ import annotations

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.eastmoney.parsing import ParsedTable

# Eastmoney rounds each order class separately, so main = super + large holds only approximately.
MAIN_SUM_ABS_TOLERANCE_YUAN = 1.0
MAIN_SUM_REL_TOLERANCE = 1e-3
SHARE_COLUMNS = ("main_pct", "super_large_pct", "large_pct", "medium_pct", "small_pct")
EXAMPLES_PER_TABLE = 3

CHECKS: dict[str, tuple[str, dg.AssetCheckSeverity]] = {
    "complete": ("rows stored = the total the API reported", dg.AssetCheckSeverity.ERROR),
    "codes_unique": ("no code appears twice in a table for a trade date", dg.AssetCheckSeverity.ERROR),
    "main_is_super_plus_large": (
        "main net = super-large net + large net (within rounding)", dg.AssetCheckSeverity.WARN),
    "shares_within_bounds": (
        "every net share (main/super-large/large/medium/small pct) lies in [-100, 100]",
        dg.AssetCheckSeverity.WARN),
    "values_parse": (
        "every cell is a value or the API's '-' (an unparsable cell is stored as NULL)",
        dg.AssetCheckSeverity.WARN),
    "trading_calendar_ahead": (
        f"the trading calendar knows the coming trading days: its horizon is more than "
        f"{tc.HORIZON_WARNING_DAYS} days away, or next year's holidays are supplied "
        f"({tc.HOLIDAYS_FILE_ENV}); else the schedules would run on holidays",
        dg.AssetCheckSeverity.WARN),
}


def check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset_key, description=description)
            for name, (description, _) in CHECKS.items()]


def _unparsable(spec: TableSpec, total: int, parsed: ParsedTable) -> list[str]:
    return [f"{c.column} ({c.field}) of {c.code}: {c.raw!r}" for c in parsed.bad_cells]


def _incomplete(spec: TableSpec, total: int, parsed: ParsedTable) -> list[str]:
    rows = parsed.rows
    return [] if len(rows) == total else [f"{len(rows)} rows, API total {total}"]


def _duplicates(spec: TableSpec, total: int, parsed: ParsedTable) -> list[str]:
    seen: set[str] = set()
    dupes = [r["code"] for r in parsed.rows if r["code"] in seen or seen.add(r["code"])]
    return [f"duplicate code {code}" for code in dupes]


def _main_mismatch(spec: TableSpec, total: int, parsed: ParsedTable) -> list[str]:
    problems = []
    for r in parsed.rows:
        parts = (r["main_net"], r["super_large_net"], r["large_net"])
        if None in parts:
            continue  # unknown values ("-") cannot disagree
        main, super_large, large = parts
        tolerance = max(MAIN_SUM_ABS_TOLERANCE_YUAN, MAIN_SUM_REL_TOLERANCE * abs(main))
        if abs(main - (super_large + large)) > tolerance:
            problems.append(f"{r['code']}: main {main} != {super_large} + {large}")
    return problems


def _shares_out_of_bounds(spec: TableSpec, total: int, parsed: ParsedTable) -> list[str]:
    return [f"{r['code']}: {col} = {r[col]}" for r in parsed.rows for col in SHARE_COLUMNS
            if r[col] is not None and not -100 <= r[col] <= 100]


_EVALUATORS = {
    "complete": _incomplete,
    "codes_unique": _duplicates,
    "main_is_super_plus_large": _main_mismatch,
    "shares_within_bounds": _shares_out_of_bounds,
    "values_parse": _unparsable,
}


def evaluate(asset_key: dg.AssetKey,
             tables: list[tuple[TableSpec, int, ParsedTable]]) -> list[dg.AssetCheckResult]:
    """One result per check over all `(spec, api_total, parsed)` stored by this run."""
    results = []
    for name, (_, severity) in CHECKS.items():
        if name == "trading_calendar_ahead":  # about the calendar, not about one table
            results.append(_calendar_result(asset_key, severity))
            continue
        failing: dict[str, list[str]] = {}
        for spec, total, parsed in tables:
            problems = _EVALUATORS[name](spec, total, parsed)
            if problems:
                failing[spec.name] = problems
        metadata: dict[str, dg.RawMetadataValue] = {
            "tables_checked": len(tables),
            "tables_failing": len(failing),
        }
        if failing:
            metadata["failures"] = dg.MetadataValue.json(
                {table: {"count": len(p), "examples": p[:EXAMPLES_PER_TABLE]}
                 for table, p in failing.items()})
        results.append(dg.AssetCheckResult(
            asset_key=asset_key, check_name=name, passed=not failing, severity=severity,
            metadata=metadata))
    return results


def _calendar_result(asset_key: dg.AssetKey, severity) -> dg.AssetCheckResult:
    problem = tc.horizon_problem(tc.today())
    metadata: dict[str, dg.RawMetadataValue] = {"horizon": tc.calendar_horizon().isoformat()}
    if problem is not None:
        metadata |= {"problem": problem[0], "what_to_do": " / ".join(problem[1])}
    return dg.AssetCheckResult(asset_key=asset_key, check_name="trading_calendar_ahead",
                               passed=problem is None, severity=severity, metadata=metadata)
