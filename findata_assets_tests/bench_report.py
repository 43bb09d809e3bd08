"""The benchmark's report: the issue's goals checked against the results, and the printed
tables."""

from __future__ import annotations

from findata_assets_tests.bench_cli_runs import VARIANTS

# The issue's goals, checked in the report: (variant, field, "<=" or ">=", goal, what).
GOALS = (
    ("full", "median_s", "<=", 6.0, "full with analysis and report, CLI end to end (s)"),
    ("full_tables", "median_s", "<=", 4.0, "full, tables only (s)"),
    ("incremental", "median_s", "<=", 3.0, "incremental (s)"),
    ("quick", "median_s", "<=", 2.5, "quick (s)"),
    ("full_tables", "stock_work_s", "<=", 1.5,
     "work inside the stock run, crawl step start to last table committed (s)"),
    ("full_tables", "store_rows_per_s", ">=", 150_000, "store into MariaDB (rows/s)"),
    ("full", "analysis_s", "<=", 1.0, "analysis + report run (s)"),
    ("baseline", "speedup", ">=", 20.0, "serial baseline / full tables, paired (x)"),
    ("full", "peak_rss_mb", "<=", 300.0, "peak RSS of full (MB)"),
    ("full_stalled", "x_full_tables", "<=", 1.5,
     "full tables with 1 page in 10 stalled / without (x)"),
)


def goals(report: dict) -> list[dict]:
    out = []
    for variant, key, op, goal, what in GOALS:
        now = (report.get(variant) or {}).get(key)
        met = None if now is None else (now <= goal if op == "<=" else now >= goal)
        out.append({"variant": variant, "field": key, "what": what, "op": op, "goal": goal,
                    "now": now, "met": met})
    return out


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: dict, concurrency: int, latency_ms: float, startup_s: float) -> None:
    print(f"\nfindata benchmark: latency {latency_ms:g} ms, concurrency {concurrency}, scale "
          f"{report['meta']['scale']:g}; start-up (interpreter + imports + definitions) "
          f"{startup_s:.2f} s")
    head = (f"{'policy':12} {'median_s':>9} {'min_s':>7} {'max_s':>7} {'bound_s':>8} "
            f"{'requests':>8} {'rows':>7} {'store_rows/s':>12} {'rss_MB':>7} {'fail':>4}")
    print(head)
    for name in VARIANTS:
        r = report.get(name)
        if not r:
            continue
        bound = (startup_s + r["requests"] / concurrency * latency_ms / 1000
                 if r.get("requests") else None)
        print(f"{name:12} {fmt(r['median_s']):>9} {fmt(r['min_s']):>7} {fmt(r['max_s']):>7} "
              f"{fmt(bound):>8} {fmt(r['requests'], 'd'):>8} {fmt(r['rows'], 'd'):>7} "
              f"{fmt(r['store_rows_per_s'], ',d'):>12} {fmt(r['peak_rss_mb'], '.0f'):>7} "
              f"{r['failures']:>4}")
    b = report.get("baseline")
    if b and b.get("runs"):
        print(f"{'baseline':12} {fmt(b['median_s']):>9} {fmt(b['min_s']):>7} "
              f"{fmt(b['max_s']):>7} {'':>8} {b['requests']:>8} {b['rows']:>7} "
              f"{fmt(b['store_rows_per_s'], ',d'):>12} {fmt(b['peak_rss_mb'], '.0f'):>7} "
              f"{b['failures']:>4}")
        pairs = ", ".join(f"{p['ours_s']:.2f}/{p['baseline_s']:.2f}" for p in b["pairs"])
        print(f"{b['paired_with']} / baseline ({b['tables']} tables), pair by pair: ratio "
              f"{b['ratio']:.4f} = {b['speedup']:.1f}x faster "
              f"({pairs})")
    if report.get("goals"):
        print(f"\n{'goal':76} {'now':>10} {'goal':>10}  met")
        for g in report["goals"]:
            print(f"{g['what']:76} {fmt(g['now'], ',.2f'):>10} {g['op']} {g['goal']:>8,g}  "
                  f"{'yes' if g['met'] else 'no' if g['met'] is False else '-'}")
    for name, r in report.items():
        if isinstance(r, dict) and r.get("errors"):
            for error in r["errors"]:
                print(f"{name} FAILED: {error}")
    if report.get("profile"):
        prof = report["profile"]
        print(f"\nprofile of one full (py-spy, active threads, {prof['wall_s']:.2f} s wall, "
              f"{prof['sampled_cpu_s']:.2f} s of samples): {prof['raw']}")
        for name, seconds in sorted(prof["by_phase_s"].items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:6.2f} s  {name}")
    if report.get("scaling"):
        print(f"\nscaling (full_tables): {'latency_ms':>10} {'scale':>5} {'median_s':>9} "
              f"{'requests':>8} {'rows':>8} {'bound_s':>8} {'x_bound':>7} {'rss_MB':>7}")
        for c in report["scaling"]:
            print(f"{'':15} {c['latency_ms']:>10g} {c['scale']:>5g} {fmt(c['median_s']):>9} "
                  f"{fmt(c['requests'], 'd'):>8} {fmt(c['rows'], 'd'):>8} "
                  f"{fmt(c.get('lower_bound_s')):>8} {fmt(c.get('x_lower_bound')):>7} "
                  f"{fmt(c['peak_rss_mb'], '.0f'):>7}")
        if report.get("scaling_exponents"):
            e = report["scaling_exponents"]
            print(f"growth with the rows ({e['from_rows']:,} -> {e['to_rows']:,}): time ~ rows^"
                  f"{e['time']}, peak RSS ~ rows^{e.get('peak_rss')}")
