"""`--scaling`: full_tables at several latencies and universe sizes, each cell beside its lower
bound (start-up + requests / concurrency x latency), and how time and RSS grow with the rows."""

from __future__ import annotations

from findata_assets_tests.bench_cli_runs import policy_specs, run_cli, summarize
from findata_assets_tests.bench_env import log
from findata_assets_tests.bench_session import Session

DEFAULT_SCALING_LATENCIES = (25.0, 100.0, 400.0)
DEFAULT_SCALING_SCALES = (1.0, 4.0, 16.0)


def measure_scaling(s: Session, args, startup_s: float) -> list[dict]:
    cells = [(lat, 1.0) for lat in args.scaling_latencies]
    cells += [(args.latency_ms, sc) for sc in args.scaling_scales
              if (args.latency_ms, sc) not in cells]
    rows = []
    for latency, scale in cells:
        s.start_fake(latency, scale, args.seed)
        expected = s.fake.totals(policy_specs("full_tables"))
        if args.scaling_only and args.warmup and not rows:  # instance storage and tables
            w = run_cli(s, "full_tables", expected, tag="-warmup")
            log(f"scaling warm-up: {w.wall_s:.2f} s" + ("" if w.ok else f" FAILED {w.error}"))
        samples = []
        for _ in range(args.scaling_repeat):
            sample = run_cli(s, "full_tables", expected,
                             timeout_s=max(s.timeout_s, 900 * scale ** 0.5),
                             tag=f"-lat{latency:g}-x{scale:g}")
            samples.append(sample)
            log(f"scaling {latency:g} ms x{scale:g}: {sample.wall_s:.2f} s, {sample.requests} "
                f"requests, {sample.rows} rows, RSS {sample.peak_rss_mb} MB"
                + ("" if sample.ok else f"  FAILED: {sample.error}"))
        summary = summarize(samples)
        cell = {"latency_ms": latency, "scale": scale, **{k: summary.get(k) for k in (
            "median_s", "min_s", "max_s", "requests", "rows", "store_rows_per_s", "peak_rss_mb",
            "median_cli_s", "failures", "errors")}}
        if summary.get("requests"):
            network = summary["requests"] / args.concurrency * latency / 1000
            cell |= {"network_bound_s": round(network, 3),
                     "lower_bound_s": round(startup_s + network, 3),
                     "x_lower_bound": round(summary["median_s"] / (startup_s + network), 2)}
        rows.append(cell)
    return rows


def scaling_exponents(cells: list[dict], latency_ms: float) -> dict:
    """Log-log slopes of time and peak RSS against rows, from the smallest to the largest
    universe at the main latency: 1 = linear in the rows, below 1 = fixed costs dominate."""
    import math

    ok = sorted((c for c in cells if c["latency_ms"] == latency_ms and c.get("median_s")
                 and c.get("rows")), key=lambda c: c["rows"])
    if len(ok) < 2 or ok[-1]["rows"] == ok[0]["rows"]:
        return {}
    lo, hi = ok[0], ok[-1]
    span = math.log(hi["rows"] / lo["rows"])
    out = {"from_rows": lo["rows"], "to_rows": hi["rows"],
           "time": round(math.log(hi["median_s"] / lo["median_s"]) / span, 2)}
    if lo.get("peak_rss_mb") and hi.get("peak_rss_mb"):
        out["peak_rss"] = round(math.log(hi["peak_rss_mb"] / lo["peak_rss_mb"]) / span, 2)
    return out
