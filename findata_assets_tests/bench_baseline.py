"""The baseline: the serial crawler the seed replaced, paging every row (one table, one page, one
INSERT per row at a time), run as `python -m findata_assets_tests.bench _baseline`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from findata_assets_tests.bench_measured_process import run_measured
from findata_assets_tests.bench_session import Session

_LEGACY_MONEY = ("main_flow_net_amount", "main_flow_net_percentage",
                 "extra_large_order_flow_net_amount", "extra_large_order_flow_net_percentage",
                 "large_order_flow_net_amount", "large_order_flow_net_percentage",
                 "medium_order_flow_net_amount", "medium_order_flow_net_percentage",
                 "small_order_flow_net_amount", "small_order_flow_net_percentage")
_OUR_FLOWS = ("main_net", "main_pct", "super_large_net", "super_large_pct", "large_net",
              "large_pct", "medium_net", "medium_pct", "small_net", "small_pct")
LEGACY_COLUMNS = ("code", "name", "flow_type", "market_type", "period", "latest_price",
                  "change_percentage", *_LEGACY_MONEY, "crawl_time")


def _legacy_ddl(table: str) -> str:
    numbers = ",\n".join(f"  `{c}` DOUBLE" for c in ("latest_price", "change_percentage",
                                                      *_LEGACY_MONEY))
    return (f"CREATE TABLE IF NOT EXISTS `{table}` (\n  `id` INT AUTO_INCREMENT PRIMARY KEY,\n"
            f"  `code` VARCHAR(16), `name` VARCHAR(64), `flow_type` VARCHAR(16),\n"
            f"  `market_type` VARCHAR(32), `period` VARCHAR(16),\n{numbers},\n"
            f"  `crawl_time` DATETIME\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def _legacy_number(value) -> float:
    return 0.0 if value in (None, "-", "") else float(value)  # the seed stored "-" as 0.0


def baseline_crawl(api_url: str, database_url: str, table_count: int = 41) -> dict:
    """The serial crawler, paging every row: one table, one page, one INSERT per row at a time."""
    import httpx
    import pymysql
    from sqlalchemy.engine import make_url

    from findata_assets.eastmoney import catalog

    specs = catalog.ALL_TABLES[:table_count]
    url = make_url(database_url)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username or "root",
                           password=url.password or "", database=url.database,
                           charset="utf8mb4", autocommit=False)
    http = httpx.Client(timeout=30)
    placeholders = ", ".join(["%s"] * len(LEGACY_COLUMNS))
    columns = ", ".join(f"`{c}`" for c in LEGACY_COLUMNS)
    fetch_s = store_s = 0.0
    requests = rows_total = 0
    per_table = {}
    try:
        with conn.cursor() as cur:
            for spec in specs:
                cur.execute(_legacy_ddl(spec.legacy_table_name))
        conn.commit()
        for spec in specs:
            started = time.perf_counter()
            rows: list[dict] = []
            pn, total = 1, None
            while True:
                params = {"pn": pn, "pz": 100, "po": 1, "np": 1, "fltt": 2, "invt": 2,
                          "ut": "b2884a393a59ad64002292a3e90d46a5", "fid": spec.period.fid,
                          "fs": spec.group.fs, "fields": ",".join(spec.period.fields)}
                response = http.get(api_url, params=params)
                requests += 1
                response.raise_for_status()
                data = response.json().get("data")
                if not data or not data.get("diff"):
                    break
                rows.extend(data["diff"])
                total = int(data["total"])
                if len(rows) >= total:
                    break
                pn += 1
            fetched = time.perf_counter()
            fetch_s += fetched - started
            fields = spec.field_map()
            crawl_time = dt.datetime.now().replace(microsecond=0)
            with conn.cursor() as cur:
                cur.execute(f"TRUNCATE TABLE `{spec.legacy_table_name}`")
                for row in rows:
                    cur.execute(
                        f"INSERT INTO `{spec.legacy_table_name}` ({columns}) VALUES ({placeholders})",
                        (row.get("f12"), row.get("f14"), spec.kind, spec.group.label_zh,
                         spec.period.label_zh, _legacy_number(row.get(fields["price"])),
                         _legacy_number(row.get(fields["change_pct"])),
                         *(_legacy_number(row.get(fields[c])) for c in _OUR_FLOWS), crawl_time))
            conn.commit()
            store_s += time.perf_counter() - fetched
            rows_total += len(rows)
            per_table[spec.name] = len(rows)
    finally:
        http.close()
        conn.close()
    return {"tables": len(specs), "rows": rows_total, "requests": requests,
            "fetch_s": round(fetch_s, 3), "store_s": round(store_s, 3), "per_table": per_table}


def run_baseline(s: Session, table_count: int, expected: dict[str, int]) -> dict:
    label = s.label("baseline")
    result_path = s.workdir / f"{label}.json"
    before = s.fake.requests()
    load = os.getloadavg()[0]
    m = run_measured([sys.executable, "-m", "findata_assets_tests.bench", "_baseline",
                      "--api-url", s.fake.url, "--database-url", s.database_url,
                      "--tables", str(table_count), "--result", str(result_path)],
                     s.env(), s.workdir, label, max(s.timeout_s, 1800))
    sample = {"ok": False, "wall_s": round(m.wall_s, 3), "peak_rss_mb": m.peak_rss_mb,
              "requests": s.fake.requests() - before, "load_1m": round(load, 2)}
    if m.returncode != 0 or m.timed_out:
        return sample | {"error": f"exit {m.returncode}: {m.stderr_tail()}"}
    result = json.loads(result_path.read_text())
    per_table = result.pop("per_table")
    sample |= result
    sample["rows_match_fake"] = per_table == expected
    sample["store_rows_per_s"] = round(result["rows"] / result["store_s"]) if result["store_s"] else None
    sample["ok"] = True
    return sample


def baseline_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench _baseline")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--tables", type=int, default=41)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    result = baseline_crawl(args.api_url, args.database_url, args.tables)
    Path(args.result).write_text(json.dumps(result))
    return 0
