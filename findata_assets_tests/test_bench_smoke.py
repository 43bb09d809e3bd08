"""Keeps the benchmark (findata_assets_tests/bench.py) working: a tiny run, not a timed test.

quick policy on a 0.02-scale universe, no latency, one run, the serial baseline on 2 tables; the
real services (MariaDB, SeaweedFS, the fake API as a process, the CLI as a child process).
"""

from __future__ import annotations

import json

import pytest

from findata_assets.eastmoney import catalog
from findata_assets.fake_eastmoney import Universe
from findata_assets_tests import bench
from findata_assets_tests.mariadb_setup import ENV_TEST_MYSQL_URL
from findata_assets_tests.scratch_databases import _server_connect

SCALE = 0.02
POLICY_KEYS = {"median_s", "min_s", "max_s", "requests", "rows", "store_rows_per_s",
               "peak_rss_mb"}


def _fake_total(spec: catalog.TableSpec) -> int:
    return len(Universe(seed=0, scale=SCALE).select(spec.group.fs))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(240)
def test_bench_smoke(mariadb_url, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_TEST_MYSQL_URL, mariadb_url)
    out = tmp_path / "bench.json"
    rc = bench.main(["--policy", "quick", "--scale", str(SCALE), "--latency-ms", "0",
                     "--repeat", "1", "--warmup", "0", "--baseline-repeat", "1",
                     "--baseline-tables", "2", "--timeout", "150",
                     "--workdir", str(tmp_path / "work"), "--json", str(out)])
    report = json.loads(out.read_text())
    quick = report["quick"]
    assert rc == 0, quick.get("errors") or report.get("baseline")
    assert POLICY_KEYS <= set(quick), sorted(quick)
    assert quick["failures"] == 0 and quick["runs"] == 1

    quick_table = catalog.table("stock", "all", "1d")
    expected = _fake_total(quick_table)
    assert expected > 0
    assert quick["rows"] == expected == quick["expected_rows"]
    assert quick["rows_match_fake"] is True
    # pages of 100 rows: at least ceil(total / 100) requests, and nothing absurd
    assert -(-expected // 100) <= quick["requests"] <= 3 * -(-expected // 100)
    assert quick["median_s"] > 0 and quick["min_s"] <= quick["median_s"] <= quick["max_s"]
    assert quick["store_rows_per_s"] > 0
    assert quick["peak_rss_mb"] > 50  # a Python process with Dagster imported

    baseline = report["baseline"]
    baseline_specs = catalog.ALL_TABLES[:2]
    expected_baseline = sum(_fake_total(spec) for spec in baseline_specs)
    assert POLICY_KEYS | {"ratio"} <= set(baseline), sorted(baseline)
    assert baseline["runs"] == 1 and baseline["tables"] == 2
    assert baseline["rows"] == expected_baseline and baseline["rows_match_fake"] is True
    assert baseline["requests"] >= sum(-(-_fake_total(s) // 100) for s in baseline_specs)
    assert baseline["ratio"] == pytest.approx(
        baseline["pairs"][0]["ours_s"] / baseline["pairs"][0]["baseline_s"], rel=1e-3)

    meta = report["meta"]
    assert meta["startup_s"] > 0 and meta["machine"]["nproc"] >= 1
    # the bench's database was dropped at the end
    conn = _server_connect(mariadb_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (meta["database"],))
            assert cur.fetchall() == ()
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_day_cost_and_history_benchmarks_run(mariadb_url, tmp_path, monkeypatch, capsys):
    """bench_day_cost and bench_history on a tiny universe: they run, and what they report adds
    up (housekeeping left less than the day added, the history file read back)."""
    from findata_assets_tests import bench_day_cost, bench_history

    monkeypatch.setenv(ENV_TEST_MYSQL_URL, mariadb_url)
    out = tmp_path / "day.json"
    assert bench_day_cost.main(["--quick", "1", "--incremental", "1", "--latency-ms", "0",
                                "--scale", str(SCALE), "--workdir", str(tmp_path / "work"),
                                "--json", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert 0 < summary["steady_total"] < summary["before_total"]
    intraday = "warehouse: intraday day"  # InnoDB keeps a table's first extent (1 MB) when empty
    assert summary["steady"][intraday] < summary["before"][intraday]
    assert summary["history_bytes"] > 0
    assert bench_history.main(["--stocks", "40", "--minutes", "20", "--days", "3",
                               "--repeat", "1"]) == 0
    assert "one_stock_3_days_s" in capsys.readouterr().out
