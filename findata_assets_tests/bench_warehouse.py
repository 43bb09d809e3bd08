"""Rows/s of the warehouse storing the 41 tables' synthetic rows, per insert mode and chunk size
(`python -m findata_assets_tests.services bench-warehouse`)."""

from __future__ import annotations

import datetime as dt
import time

from findata_assets_tests.synthetic_rows import synthetic_rows

BENCH_MODES = ("store", "store_many", "executemany", "server_only")


def bench_warehouse(url: str, chunk_size: int, mode: str = "store_many", repeats: int = 3,
                    trade_date: dt.date = dt.date(2026, 3, 2)) -> dict:
    """Store the 41 tables' worth of synthetic rows (~74k) `repeats` times; rows/s.

    mode: "store" (one call per table), "store_many" (one pipelined call), "executemany"
    (PyMySQL's own executemany rewrite), "server_only" (pre-rendered statements: the server's
    share alone). The first round fills empty tables ("fresh"); later rounds replace the same
    trade date (DELETE + INSERT, "replace").
    """
    from findata_assets.eastmoney import catalog
    from findata_assets.storage.warehouse import Warehouse

    data = {spec.name: synthetic_rows(spec, trade_date) for spec in catalog.ALL_TABLES}
    total = sum(len(rows) for rows in data.values())
    items = [(spec, data[spec.name]) for spec in catalog.ALL_TABLES]
    wh = Warehouse(url, chunk_size=chunk_size,
                   insert_method="executemany" if mode == "executemany" else "auto")
    seconds = []
    try:
        jobs = [(spec, wh.ensure_table(spec), rows) for spec, rows in items]
        rendered = list(wh._literal_stream(jobs, chunk_size)) if mode == "server_only" else None
        for _ in range(repeats):
            started = time.perf_counter()
            if mode == "store":
                for spec, rows in items:
                    wh.store(spec, rows)
            elif mode == "server_only":
                stream = iter(rendered)
                for spec, table, _rows in jobs:
                    wh._store_one(spec, table, stream)
            else:
                wh.store_many(items)
            seconds.append(time.perf_counter() - started)
    finally:
        wh.dispose()
    return {"mode": mode, "chunk_size": chunk_size, "rows": total,
            "tables": len(catalog.ALL_TABLES),
            "fresh_s": round(seconds[0], 3), "fresh_rows_per_s": round(total / seconds[0]),
            "replace_best_s": round(min(seconds[1:]), 3) if repeats > 1 else None,
            "replace_best_rows_per_s": round(total / min(seconds[1:])) if repeats > 1 else None}
