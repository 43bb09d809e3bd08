"""Synthetic rows for any catalog table, at roughly the real sizes (warehouse tests and its
benchmark)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Optional

# Rows per group, roughly the real sizes: ~17.8k stock rows per period, ~1k sector rows per period.
TYPICAL_ROWS = {
    "all": 5500, "sh_sz_a": 5100, "sh_a": 2300, "star": 580, "sz_a": 2850, "chinext": 1380,
    "sh_b": 42, "sz_b": 40, "industry": 496, "concept": 450, "region": 31,
}


def synthetic_rows(spec, trade_date: dt.date, count: Optional[int] = None, *, seed: int = 0,
                   null_rate: float = 0.02) -> list[dict]:
    """Rows with exactly the catalog columns, ranked by main_net desc, some values NULL."""
    from findata_assets.eastmoney import catalog

    count = TYPICAL_ROWS.get(spec.group.key, 100) if count is None else count
    rng = random.Random(f"{spec.name}/{trade_date}/{seed}")
    fetched_at = dt.datetime.combine(trade_date, dt.time(15, 0, 3, 123456))
    updated_at = dt.datetime.combine(trade_date, dt.time(15, 0, 0))
    sector = spec.kind == "sector"
    rows = []
    for i in range(count):
        code = f"BK{i:04d}" if sector else f"{(600000 if i % 2 else 0) + i:06d}"
        name = (f"板块{i}号" if sector else f"股票{i}号") + ("科技" if i % 3 == 0 else "")
        # like the API: money in whole yuan (2672467968.0), percentages and prices with 2 decimals
        def money(limit: float) -> float:
            return float(round(rng.uniform(-limit, limit)))

        def pct() -> float:
            return round(rng.uniform(-50, 50), 2)

        row = {
            "trade_date": trade_date, "code": code, "name": name, "rank": 0,
            "price": round(rng.uniform(1, 2000), 2),
            "change_pct": round(rng.uniform(-20, 20), 2),
            "main_net": money(5e9), "main_pct": pct(),
            "super_large_net": money(3e9), "super_large_pct": pct(),
            "large_net": money(2e9), "large_pct": pct(),
            "medium_net": money(1e9), "medium_pct": pct(),
            "small_net": money(1e9), "small_pct": pct(),
            "top_stock_code": f"{rng.randrange(1, 999999):06d}" if sector else None,
            "top_stock_name": f"龙头{i}" if sector else None,
            "updated_at": updated_at, "fetched_at": fetched_at,
        }
        for column in ("price", "change_pct", "main_net", "super_large_net", "small_pct"):
            if rng.random() < null_rate:
                row[column] = None
        rows.append(row)
    rows.sort(key=lambda r: (r["main_net"] is None, -(r["main_net"] or 0), r["code"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    assert all(set(r) == set(catalog.COLUMN_NAMES) for r in rows[:1])
    return rows
