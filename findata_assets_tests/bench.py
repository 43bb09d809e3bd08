"""End-to-end benchmark of the refresh policies through the CLI, against the serial baseline.

    python -m findata_assets_tests.bench [--policy full|incremental|quick|all] [--latency-ms 100]
        [--concurrency 8] [--repeat 5] [--baseline-repeat 1] [--baseline-tables 41]
        [--scale 1] [--scaling] [--json FILE]

What one invocation does (see BENCHMARKS.md for results and run times):

1. Services: makes sure MariaDB answers (findata_assets_tests/mariadb_setup.py), creates a fresh
   database `findata_test_<hex>` (dropped at the end), starts a SeaweedFS S3 server on free
   ports with a fresh bucket, and starts the fake Eastmoney API as a separate process
   (`python -m findata_assets.fake_eastmoney --latency-ms N --scale X --seed S --frozen`). A
   frozen fake serves the same universe every time, so every run must store exactly the fake's
   totals (asked from the fake itself over HTTP, pz=1, before measuring).
2. Ours: each variant runs as a user runs it, `python -m findata_assets.run POLICY --json F`
   (`full`: the tables, the analysis and the report; `full_tables`, `incremental`, `quick`:
   with `--no-analysis`) in a child process (interpreter start included) with FINDATA_EASTMONEY_URL /
   FINDATA_EASTMONEY_CONCURRENCY / FINDATA_DATABASE_URL / FINDATA_S3_* / AWS_* pointing at the
   services above and DAGSTER_HOME a temp dir holding a copy of the repo's dagster.yaml. Each
   child runs under `/usr/bin/time` (or a small Python wrapper using RUSAGE_CHILDREN) on its own,
   so its peak RSS is its own. One untimed warm-up run per policy creates the instance storage and
   the tables (`--warmup 0` skips it). HTTP requests are deltas of the fake's /_fake/stats.
3. The baseline (what the seed replaced, made to fetch every row): one table at a time, one page
   at a time (fid = the period's fid, po=1, pz=100, every page), httpx sync, then `TRUNCATE` and
   one `INSERT` per row with pymysql (autocommit off, commit per table) into the legacy tables
   (`Stock_Flow_<Market>_<Period>`, legacy columns, "-" stored as 0.0) of the same database. It
   runs as a child process too (`python -m findata_assets_tests.bench _baseline ...`), right after
   the paired run of ours (full_tables, else the first variant), so ratios are taken pair by
   pair. Per run it also reads, from the run's own event log, the work inside the stock run
   (crawl step start to the last table committed) and, from the CLI's JSON, the analysis run.
   The report ends with the issue's goals, each with its measured value (`goals` in the JSON).
4. `--scaling`: full_tables at latency 25/100/400 ms (scale 1) and at scale 1/4/16 (100 ms), each cell
   beside its lower bound: start-up + requests / concurrency x latency. Start-up is the measured
   cost of `import findata_assets.run` + `build_definitions()` in a fresh interpreter.

A CLI run that exceeds --timeout is stack-dumped (py-spy, when installed) into the work folder,
killed, counted as a failure, and the following runs get a fresh DAGSTER_HOME (a killed run
leaves its `eastmoney` pool slots claimed in the instance, which would block every later run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from findata_assets_tests.bench_baseline import baseline_main
from findata_assets_tests.bench_cli_runs import VARIANTS
from findata_assets_tests.bench_env import log
from findata_assets_tests.bench_machine import machine_info, measure_startup
from findata_assets_tests.bench_policies import measure_policies
from findata_assets_tests.bench_profile import profile_full
from findata_assets_tests.bench_report import goals, print_report
from findata_assets_tests.bench_scaling import (DEFAULT_SCALING_LATENCIES, DEFAULT_SCALING_SCALES,
                                                measure_scaling, scaling_exponents)
from findata_assets_tests.bench_session import session


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", choices=(*VARIANTS, "all"), default="all",
                        help="full = tables + analysis + report; full_tables = tables only")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per policy first")
    parser.add_argument("--baseline-repeat", type=int, default=1,
                        help="baseline runs (0: none), each paired with a run of ours")
    parser.add_argument("--baseline-tables", type=int, default=41,
                        help="the first N catalog tables for the baseline")
    parser.add_argument("--scale", type=float, default=1.0, help="fake universe size, 1 = real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scaling", action="store_true",
                        help="also the scaling table (full at several latencies and scales)")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the scaling table (no policy runs, no baseline)")
    parser.add_argument("--scaling-latencies", type=_floats, default=DEFAULT_SCALING_LATENCIES)
    parser.add_argument("--scaling-scales", type=_floats, default=DEFAULT_SCALING_SCALES)
    parser.add_argument("--scaling-repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a CLI run counts as hung")
    parser.add_argument("--workdir", default=None, help="keep logs, JSON outcomes, dumps here")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also one `full` under py-spy, its samples summed by phase")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_baseline":
        return baseline_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.concurrency < 1 or args.repeat < 1:
        raise SystemExit("--concurrency and --repeat must be >= 1")
    policies = list(VARIANTS) if args.policy == "all" else [args.policy]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="findata-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict = {"meta": {
        "command": "python -m findata_assets_tests.bench " + " ".join(argv),
        "latency_ms": args.latency_ms, "concurrency": args.concurrency, "repeat": args.repeat,
        "warmup": args.warmup, "scale": args.scale, "seed": args.seed,
        "machine": machine_info(), "workdir": str(workdir)}}
    with session(workdir, args.concurrency, args.timeout, args.keep_database) as s:
        report["meta"]["database"] = s.database
        s.start_fake(args.latency_ms, args.scale, args.seed)
        startup_s = measure_startup(s)
        report["meta"]["startup_s"] = startup_s
        log(f"start-up (fresh interpreter, import + build_definitions): {startup_s:.2f} s")
        if not args.scaling_only:
            results, baseline = measure_policies(s, args, policies)
            report |= results
            if args.baseline_repeat:
                report["baseline"] = baseline
        if args.profile:
            report["profile"] = profile_full(s, workdir)
        if args.scaling or args.scaling_only:
            scaling_started = time.perf_counter()
            report["scaling"] = measure_scaling(s, args, startup_s)
            report["scaling_exponents"] = scaling_exponents(report["scaling"], args.latency_ms)
            report["meta"]["scaling_seconds"] = round(time.perf_counter() - scaling_started, 1)
    report["goals"] = goals(report)
    report["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    report["meta"]["uptime_after"] = machine_info()["uptime"]
    print_report(report, args.concurrency, args.latency_ms, startup_s)
    print(f"\nbench took {report['meta']['seconds']:.0f} s; logs and outcomes in {workdir}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    failed = any(isinstance(r, dict) and r.get("failures") for r in report.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
