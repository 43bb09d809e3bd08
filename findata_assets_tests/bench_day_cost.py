"""The cost of a trading day, per store, before and after housekeeping (issue 20).

    python -m findata_assets_tests.bench_day_cost [--quick 3] [--incremental 2]
        [--latency-ms 20] [--scale 1] [--workdir DIR] [--json FILE]

Measured per run, times the day's run counts (241 quick, 48 incremental, 1 full), at real size
(the fake's 5,290 stocks, scale 1) on MariaDB, SeaweedFS and a SQLite DAGSTER_HOME set up as
bench_session.py sets them up:

1. The fake is pinned to the last closed trading day. After an untimed warm-up, each policy runs
   through the CLI (`python -m findata_assets.run quick|incremental|full`, a child process each)
   --quick / --incremental / 1 times; the growth of each store is measured around every run
   (the archive by lane, Dagster's files), and of the warehouse's daily tables over the day.
2. The day's intraday minutes (241 x every stock and board) are stored as the live feed stores
   them, then the history job writes the day's Parquet files (in this process).
3. Housekeeping runs as if a month and more had passed (now + 40 days, the retention defaults
   but FINDATA_RETENTION_WAREHOUSE_DAYS=0), and each store is measured again: what is left of the
   day is what a trading day costs in steady state. SQLite keeps the pages it freed for reuse;
   they are counted as free, not as growth.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from findata_assets_tests.bench_cli_runs import run_cli
from findata_assets_tests.bench_env import log
from findata_assets_tests.bench_fake_api import FakeApi
from findata_assets_tests.bench_session import Session, session
from findata_assets_tests.bench_history import fake_day

DAY_RUNS = {"quick": 241, "incremental": 48, "full": 1}
MB = 1e6


def archive_sizes(store) -> Counter:
    from findata_assets.eastmoney.snapshot import lane_of_key

    sizes = Counter()
    for key, size in store.list_objects("").items():
        area = key.split("/", 1)[0]
        sizes[f"raw:{lane_of_key(key)}" if area == "raw" else area] += size
    return sizes


def warehouse_sizes(engine) -> Counter:
    import sqlalchemy as sa

    from findata_assets.storage.intraday import TABLES

    sizes = Counter()
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT table_name FROM information_schema.tables WHERE "
                                     "table_schema = DATABASE() AND table_type = 'BASE TABLE'"
                                     )).scalars().all()
        for name in names:  # fresh statistics: InnoDB's sizes are estimates otherwise
            conn.execute(sa.text(f"ANALYZE TABLE `{name}`"))
        for name, size in conn.execute(sa.text(
                "SELECT table_name, data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'")):
            sizes["intraday" if name in TABLES.values() else "daily"] += int(size)
    return sizes


def dagster_sizes(home: Path) -> Counter:
    """Files under DAGSTER_HOME, and the free pages SQLite keeps in them for reuse."""
    sizes = Counter()
    for path in home.rglob("*"):
        if path.is_file():
            sizes["files"] += path.stat().st_size
            if path.suffix == ".db":
                with sqlite3.connect(path) as db:
                    free = db.execute("PRAGMA freelist_count").fetchone()[0]
                    sizes["free"] += free * db.execute("PRAGMA page_size").fetchone()[0]
    sizes["used"] = sizes["files"] - sizes["free"]
    return sizes


def measure(s: Session, store, engine) -> dict[str, Counter]:
    return {"archive": archive_sizes(store), "warehouse": warehouse_sizes(engine),
            "dagster": dagster_sizes(s.dagster_home)}


def delta(after: dict[str, Counter], before: dict[str, Counter]) -> dict[str, dict]:
    return {store: {k: after[store][k] - before[store][k]
                    for k in set(after[store]) | set(before[store])} for store in after}


@contextlib.contextmanager
def _restored(environ: dict[str, str]):
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)


def run_day(args) -> dict:
    import dagster as dg

    from findata_assets import trading_calendar as tc
    from findata_assets.defs.location import build_definitions
    from findata_assets.housekeeping.plan import carry_out, make_plan
    from findata_assets.settings import Settings
    from findata_assets.settings.retention import RetentionSettings
    from findata_assets.storage import intraday_history as history
    from findata_assets.storage.intraday import IntradayStore
    from findata_assets.resources.object_store import object_store_from_settings
    from findata_assets.storage.warehouse import Warehouse

    day = tc.previous_trading_day(dt.datetime.now(tc.TZ).date())
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="findata-day-cost-"))
    saved = dict(os.environ)  # this process reads the stores as the CLI runs do: put it back
    with session(workdir, concurrency=8, timeout_s=900) as s, _restored(saved):
        s.fake = FakeApi(workdir, args.latency_ms, args.scale, 0,
                               extra_args=("--trade-date", day.isoformat())).start()
        os.environ.update(s.env())
        settings = Settings.from_env(os.environ)
        store, warehouse = object_store_from_settings(settings), Warehouse(settings.database_url)
        log(f"day {day}: warm-up")
        assert run_cli(s, "quick").ok
        start = measure(s, store, warehouse.engine)
        per_run: dict[str, list[dict]] = {}
        for variant, count in (("quick", args.quick), ("incremental", args.incremental),
                               ("full", 1)):
            for _ in range(count):
                before = measure(s, store, warehouse.engine)
                sample = run_cli(s, variant)
                if not sample.ok:
                    raise SystemExit(f"{variant} run failed: {sample.error}")
                per_run.setdefault(variant, []).append(delta(measure(s, store, warehouse.engine),
                                                             before))
                log(f"{variant}: {sample.wall_s:.1f} s")
        runs_done = measure(s, store, warehouse.engine)

        intraday = IntradayStore(warehouse)
        started = time.perf_counter()
        stored_rows = {}
        for kind in ("stock", "sector"):
            rows = fake_day(round(5290 * args.scale), 241, kind=kind, day=day)
            stored_rows[kind] = len(rows)
            by_minute: dict = {}
            for row in rows:
                by_minute.setdefault((row[1], row[2]), []).append(row)
            for (minute, board), minute_rows in sorted(by_minute.items(),
                                                       key=lambda i: (i[0][0], i[0][1] or "")):
                intraday.replace_minute(kind, day, minute, board, [
                    {"trade_date": day, **dict(zip(history.FILE_COLUMNS, r))}
                    for r in minute_rows], replaced=True)
        log(f"stored the day's intraday minutes {stored_rows} in "
                  f"{time.perf_counter() - started:.0f} s")
        with_intraday = measure(s, store, warehouse.engine)
        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            assert defs.resolve_job_def("intraday_history_job").execute_in_process(
                partition_key=day.isoformat(), instance=instance).success
            with_history = measure(s, store, warehouse.engine)
            retention = RetentionSettings(warehouse_days=0)
            now = dt.datetime.now(tc.TZ) + dt.timedelta(days=40)
            plan = make_plan(instance, intraday, store, retention, now)
            log("housekeeping plan:\n  " + "\n  ".join(plan.summary_lines()))
            started = time.perf_counter()
            carry_out(plan, instance, intraday, store, log)
            housekeeping_s = time.perf_counter() - started
        after = measure(s, store, warehouse.engine)
        warehouse.dispose()
    return {"day": day.isoformat(), "per_run": per_run, "start": start, "runs_done": runs_done,
            "with_intraday": with_intraday, "with_history": with_history, "after": after,
            "intraday_rows": stored_rows, "housekeeping_s": round(housekeeping_s, 1)}


def _mean(samples: list[dict], store: str, key: str) -> float:
    return sum(d[store].get(key, 0) for d in samples) / len(samples)


def summarize(m: dict) -> dict:
    """Bytes a trading day adds per store: before retention (per run x the day's runs, plus the
    day's minutes and files) and after (what housekeeping left of the day)."""
    per_run = m["per_run"]
    raw_lanes = {f"raw:{lane}" for lane in DAY_RUNS}
    day = {"archive": 0.0, "dagster": 0.0}
    for variant, count in DAY_RUNS.items():
        samples = per_run[variant]
        day["archive"] += count * sum(_mean(samples, "archive", k) for k in
                                      raw_lanes | {"analysis", "reports"})
        day["dagster"] += count * _mean(samples, "dagster", "used")
    start, runs_done, after = m["start"], m["runs_done"], m["after"]
    intraday = m["with_intraday"]["warehouse"]["intraday"] - runs_done["warehouse"]["intraday"]
    history_bytes = m["with_history"]["archive"]["history"]
    daily = runs_done["warehouse"]["daily"] - start["warehouse"]["daily"]
    before = {"archive (raw snapshots, analysis, report)": day["archive"],
              "warehouse: daily tables": daily, "warehouse: intraday day": intraday,
              "Dagster instance": day["dagster"]}
    kept_archive = sum(v for k, v in after["archive"].items() if k != "history") - sum(
        v for k, v in start["archive"].items() if k != "history")
    steady = {"archive (raw snapshots, analysis, report)": kept_archive,
              "archive: history Parquet": after["archive"]["history"],
              "warehouse: daily tables": daily,
              "warehouse: intraday day": max(0, after["warehouse"]["intraday"]
                                             - start["warehouse"]["intraday"]),
              "Dagster instance": after["dagster"]["used"] - start["dagster"]["used"]}
    return {"before": before, "before_total": sum(before.values()),
            "steady": steady, "steady_total": sum(steady.values()),
            "history_bytes": history_bytes,
            "intraday_bytes_per_row": round(intraday / max(1, sum(m["intraday_rows"].values())),
                                            1),
            "raw_all_1d_quick_run": _mean(per_run["quick"], "archive", "raw:quick"),
            "dagster_quick_run": _mean(per_run["quick"], "dagster", "used")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_day_cost",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", type=int, default=3)
    parser.add_argument("--incremental", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--scale", type=float, default=1.0, help="universe size, 1 = real")
    parser.add_argument("--workdir", help="keep the services' files here (default: a temp dir)")
    parser.add_argument("--json", help="also write the measurements and summary here")
    args = parser.parse_args(argv)
    measured = run_day(args)
    summary = summarize(measured)
    print(f"a trading day ({measured['day']}): "
          f"{', '.join(f'{n} {v}' for v, n in DAY_RUNS.items())} runs")
    print(f"{'store':44} {'before':>12} {'steady':>12}")
    for name in summary["steady"]:
        before = summary["before"].get(name)
        print(f"{name:44} {'' if before is None else f'{before / MB:10.1f} MB':>12} "
              f"{summary['steady'][name] / MB:10.1f} MB")
    print(f"{'all stores':44} {summary['before_total'] / MB:10.1f} MB "
          f"{summary['steady_total'] / MB:10.1f} MB")
    print(f"one all|1d quick snapshot: {summary['raw_all_1d_quick_run'] / MB:.3f} MB; a quick "
          f"run in Dagster: {summary['dagster_quick_run'] / MB:.3f} MB; intraday in MariaDB: "
          f"{summary['intraday_bytes_per_row']} B/row; housekeeping took "
          f"{measured['housekeeping_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"measured": measured, "summary": summary},
                                              indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
