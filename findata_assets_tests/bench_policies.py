"""The refresh policies measured run by run (warm-up, repeats, the stalled fake's variant), each
baseline run paired with a run of ours."""

from __future__ import annotations

import statistics

from findata_assets_tests.bench_baseline import run_baseline
from findata_assets_tests.bench_cli_runs import RunSample, policy_specs, run_cli, summarize
from findata_assets_tests.bench_env import log
from findata_assets_tests.bench_session import Session

# Variants measured against a fake that stalls a share of its pages: after the headers it
# trickles the body one byte every 2 s for STALL_S (the fake's "trickle" fault).
STALLED = {"full_stalled": 0.1}
STALL_S = 90.0


def measure_policies(s: Session, args, policies: list[str]) -> tuple[dict, dict]:
    from findata_assets.eastmoney import catalog

    results: dict = {}
    paired_with = "full_tables" if "full_tables" in policies else policies[0]
    baseline_specs = catalog.ALL_TABLES[:args.baseline_tables]
    baseline_expected = s.fake.totals(baseline_specs) if args.baseline_repeat else {}
    baseline_samples: list[dict] = []
    pairs: list[tuple[float, float]] = []
    for policy in policies:
        expected = s.fake.totals(policy_specs(policy))
        for i in range(args.warmup):
            w = run_cli(s, policy, expected, tag="-warmup")
            log(f"{policy} warm-up: {w.wall_s:.2f} s" + ("" if w.ok else f" FAILED {w.error}"))
        if policy in STALLED:
            s.fake.control(fault_rate=STALLED[policy], fault_kinds=["trickle"], trickle_s=STALL_S)
        samples: list[RunSample] = []
        attempts = 0
        while sum(x.ok for x in samples) < args.repeat and attempts < args.repeat * 2:
            attempts += 1
            sample = run_cli(s, policy, expected)
            samples.append(sample)
            log(f"{policy} #{attempts}: {sample.wall_s:.2f} s wall, cli {sample.cli_s} s, "
                f"{sample.requests} requests, {sample.rows} rows, store {sample.store_s:.3f} s, "
                f"RSS {sample.peak_rss_mb} MB, load {sample.load_1m:.2f}"
                + ("" if sample.ok else f"  FAILED: {sample.error}"))
            if policy == paired_with and len(baseline_samples) < args.baseline_repeat \
                    and sample.ok:
                b = run_baseline(s, args.baseline_tables, baseline_expected)
                baseline_samples.append(b)
                log(f"baseline: {b['wall_s']:.2f} s wall, {b['requests']} requests, "
                    f"{b.get('rows')} rows (fetch {b.get('fetch_s')} s, store {b.get('store_s')} s)"
                    + ("" if b["ok"] else f"  FAILED: {b.get('error')}"))
                if b["ok"]:
                    pairs.append((sample.wall_s, b["wall_s"]))
        if policy in STALLED:
            stalled = s.fake.stats()["faults"].get("trickle", 0)
            s.fake.control(fault_rate=0.0)
            log(f"{policy}: the fake stalled {stalled} page(s) in all")
        results[policy] = summarize(samples) | {"expected_rows": sum(expected.values())}
        if policy in STALLED and results.get("full_tables", {}).get("median_s"):
            results[policy]["x_full_tables"] = round(
                results[policy]["median_s"] / results["full_tables"]["median_s"], 2)
    ok = [b for b in baseline_samples if b["ok"]]
    baseline: dict = {"paired_with": paired_with, "tables": len(baseline_specs),
                      "runs": len(ok), "failures": len(baseline_samples) - len(ok),
                      "samples": baseline_samples, "expected_rows": sum(baseline_expected.values())}
    if ok:
        walls = [b["wall_s"] for b in ok]
        ratios = [ours / base for ours, base in pairs]
        baseline |= {
            "median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3), "requests": ok[0]["requests"], "rows": ok[0]["rows"],
            "store_rows_per_s": ok[0]["store_rows_per_s"],
            "peak_rss_mb": max((b["peak_rss_mb"] or 0) for b in ok) or None,
            "rows_match_fake": all(b["rows_match_fake"] for b in ok),
            "pairs": [{"ours_s": round(a, 3), "baseline_s": round(b, 3)} for a, b in pairs],
            "ratio": round(statistics.median(ratios), 4),  # ours / baseline, pair by pair
            "speedup": round(statistics.median(base / ours for ours, base in pairs), 2),
        }
    return results, baseline
