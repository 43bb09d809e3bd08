"""Ours, measured: one `python -m findata_assets.run POLICY` per sample as a user runs it, checked
against the fake's totals, and the samples of a variant summarized."""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from findata_assets_tests.bench_measured_process import run_measured
from findata_assets_tests.bench_session import Session

# What one benchmark run measures: name -> (policy, with the analysis and report). `full` is
# what a user runs (tables, analysis, report); `full_tables` is the tables alone, the seed's job.
VARIANTS: dict[str, tuple[str, bool]] = {
    "full": ("full", True), "full_tables": ("full", False),
    "incremental": ("incremental", False), "quick": ("quick", False),
    "full_stalled": ("full", False)}


@dataclass
class RunSample:
    policy: str
    ok: bool
    wall_s: float
    cli_s: Optional[float]
    requests: int
    rows: int
    tables: int
    store_s: float
    peak_rss_mb: Optional[float]
    load_1m: float
    rows_match: Optional[bool] = None
    error: Optional[str] = None
    run_seconds: dict = field(default_factory=dict)
    stock_work_s: Optional[float] = None  # crawl step start -> last stock table committed
    analysis_s: Optional[float] = None  # the analysis_report_job run, as the CLI timed it


def run_events(dagster_home: Path, run_ids: list[str]) -> dict[str, list]:
    """Each run's Dagster events, read from the instance at `dagster_home`."""
    import dagster as dg

    # the instance's storage reads DAGSTER_HOME and sets DAGSTER_EVENT_BATCH_SIZE: put both back
    previous = {name: os.environ.get(name) for name in ("DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE")}
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            return {r: [e for e in instance.all_logs(r) if e.dagster_event] for r in run_ids}
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stock_work_seconds(dagster_home: Path, run_id: str) -> Optional[float]:
    """From the run's own event log: the crawl step's start to the last table materialization
    (they are logged together once the IO manager has committed every table)."""
    events = run_events(dagster_home, [run_id])[run_id]
    starts = [e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_START"
              and e.step_key == "stock_flow_raw"]
    stored = [e.timestamp for e in events
              if e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
              and e.step_key == "stock_flow"]
    return round(max(stored) - min(starts), 3) if starts and stored else None


def run_cli(s: Session, variant: str, expected: Optional[dict[str, int]] = None,
            timeout_s: Optional[float] = None, tag: str = "") -> RunSample:
    policy, with_analysis = VARIANTS[variant]
    label = s.label(f"{variant}{tag}")
    json_path = s.workdir / f"{label}.json"
    before = s.fake.requests()
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "findata_assets.run", policy, "--json", str(json_path)]
    if not with_analysis:
        command.append("--no-analysis")
    m = run_measured(command, s.env(), s.workdir, label, timeout_s or s.timeout_s)
    requests = s.fake.requests() - before
    sample = RunSample(variant, False, m.wall_s, None, requests, 0, 0, 0.0, m.peak_rss_mb, load)
    if m.timed_out:
        sample.error = (f"timed out after {m.wall_s:.0f} s (stack dump: {m.dump_path}); "
                        f"a fresh DAGSTER_HOME is used from now on")
        s.new_dagster_home()
        return sample
    try:
        outcome = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        sample.error = f"exit {m.returncode}, no JSON outcome ({exc}):\n{m.stderr_tail()}"
        return sample
    tables = [t for run in outcome.get("runs", []) for t in run.get("tables", [])]
    sample.cli_s = float(outcome.get("seconds", 0.0))
    sample.rows = sum(int(t["rows"]) for t in tables)
    sample.tables = len(tables)
    sample.store_s = sum(float(t.get("store_seconds") or 0.0) for t in tables)
    sample.run_seconds = {r["job"]: r["seconds"] for r in outcome.get("runs", [])}
    sample.analysis_s = sample.run_seconds.get("analysis_report_job")
    stock = next((r for r in outcome.get("runs", []) if r["job"] == "stock_flow_job"), None)
    if stock is not None and stock.get("run_id"):
        sample.stock_work_s = stock_work_seconds(s.dagster_home, stock["run_id"])
    failed = [f"{r['job']}: {r.get('error')}" for r in outcome.get("runs", []) if not r["success"]]
    if expected is not None:
        got = {t["table"]: int(t["rows"]) for t in tables}
        sample.rows_match = got == expected
        if not sample.rows_match:
            diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                    if got.get(k) != expected.get(k)}
            failed.append(f"rows differ from the fake's totals (got, expected): {diff}")
    if m.returncode != 0 or failed:
        sample.error = f"exit {m.returncode}: " + "; ".join(failed or [m.stderr_tail()])
        return sample
    sample.ok = True
    return sample


def policy_specs(variant: str):
    from findata_assets.defs.refresh.policies import get_policy
    from findata_assets.eastmoney import catalog

    p = get_policy(VARIANTS[variant][0])
    return ([catalog.table_for_partition("stock", k) for k in p.stock_partitions]
            + [catalog.table_for_partition("sector", k) for k in p.sector_partitions])


def _median(values: list) -> Optional[float]:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(samples: list[RunSample]) -> dict:
    ok = [x for x in samples if x.ok]
    out: dict = {"runs": len(ok), "failures": len(samples) - len(ok),
                 "errors": [x.error for x in samples if not x.ok]}
    if not ok:
        return out | {"median_s": None, "min_s": None, "max_s": None, "requests": None,
                      "rows": None, "store_rows_per_s": None, "peak_rss_mb": None}
    walls = [x.wall_s for x in ok]
    store_s = statistics.median([x.store_s for x in ok])
    rss = [x.peak_rss_mb for x in ok if x.peak_rss_mb is not None]
    return out | {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3), "max_s": round(max(walls), 3),
        "requests": int(statistics.median([x.requests for x in ok])),
        "rows": int(statistics.median([x.rows for x in ok])),
        "tables": int(statistics.median([x.tables for x in ok])),
        "store_rows_per_s": (round(statistics.median([x.rows / x.store_s for x in ok
                                                      if x.store_s > 0]))
                             if store_s > 0 else None),
        "peak_rss_mb": round(max(rss), 1) if rss else None,
        "median_cli_s": round(statistics.median([x.cli_s for x in ok]), 3),
        "walls_s": [round(w, 3) for w in walls],
        "rows_match_fake": all(x.rows_match is not False for x in ok),
        "stock_work_s": _median([x.stock_work_s for x in ok]),
        "analysis_s": _median([x.analysis_s for x in ok]),
        "load_1m": [round(x.load_1m, 2) for x in samples],
    }
