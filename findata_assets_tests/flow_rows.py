"""Synthetic warehouse rows for the analysis/report tests (hand-made, seeded, with edge cases).

Unlike the fake Eastmoney universe these rows carry what the digest must get right: NULL flows
("-"), exact ties in main_net, zero flows, NULL small orders, and 1d/5d/10d values correlated
through a per-security "strength" so that some names lead in every period.
"""

from __future__ import annotations

import datetime as dt
import random

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableSpec

MARKET_PREFIXES = {  # which codes belong to which market (by leading digits)
    "all": ("0", "3", "6", "2", "9"), "sh_sz_a": ("0", "3", "6"), "sh_a": ("6",),
    "star": ("688",), "sz_a": ("0", "3"), "chinext": ("3",), "sh_b": ("9",), "sz_b": ("2",),
}
SYLLABLES = "华信达安科金通源中海天成明泰新能电宏光瑞"


def _name(rng: random.Random, code: str) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)) + ("|B" if code.startswith("9") else "")


def stock_codes(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    prefixes = ["600", "601", "688", "000", "002", "300", "900", "200"]
    weights = [30, 20, 10, 20, 15, 20, 2, 2]
    codes = set()
    while len(codes) < n:
        codes.add(rng.choices(prefixes, weights)[0] + f"{rng.randrange(1000):03d}")
    return sorted(codes)


def _flows(rng: random.Random, base: float) -> dict:
    sl = round(base * rng.uniform(0.2, 0.8), 2)
    lg = round(base - sl + rng.uniform(-3e6, 3e6), 2)
    small = round(-(sl + lg) * rng.uniform(0.3, 1.2) + rng.uniform(-2e7, 2e7), 2)
    medium = round(rng.uniform(-5e7, 5e7), 2)
    return {"super_large_net": sl, "large_net": lg, "main_net": round(sl + lg, 2),
            "medium_net": medium, "small_net": small}


def make_rows(spec: TableSpec, trade_date: dt.date, codes: list[str], seed: int,
              fetched_at: dt.datetime | None = None) -> list[dict]:
    """Rows of one table for one day; `seed` varies the day, the codes' strength is fixed."""
    period_scale = {"1d": 1, "3d": 2, "5d": 3, "10d": 5}[spec.period.key]
    table_rng = random.Random(f"{spec.name}-{seed}-{trade_date}")
    updated = dt.datetime.combine(trade_date, dt.time(15, 0)) - dt.timedelta(
        seconds=table_rng.randrange(5))
    fetched = fetched_at or dt.datetime.combine(trade_date, dt.time(15, 5, 7, 123000))
    rows = []
    for i, code in enumerate(codes):
        # per security: the same stock has the same figures in every market table it is in
        strength = random.Random(f"strength-{code}").gauss(0, 1)
        rng = random.Random(f"{code}-{spec.period.key}-{seed}-{trade_date}")
        base = (strength * 0.8 + rng.gauss(0, 0.6)) * 2e8 * period_scale
        row = {c: None for c in catalog.COLUMN_NAMES}
        row.update(trade_date=trade_date, code=code, name=_name(rng, code), rank=0,
                   price=round(rng.uniform(2, 200), 2), change_pct=round(rng.uniform(-10, 10), 2),
                   updated_at=updated, fetched_at=fetched, **_flows(rng, base))
        for k in ("main", "super_large", "large", "medium", "small"):
            row[f"{k}_pct"] = round(row[f"{k}_net"] / 1e9, 2)
        if i % 17 == 5:  # "-" from the API: no flows at all
            for k in ("main_net", "main_pct", "super_large_net", "large_net", "medium_net",
                      "small_net"):
                row[k] = None
        elif i % 23 == 7:  # flat
            row.update(main_net=0.0, super_large_net=0.0, large_net=0.0)
        elif i % 29 == 3:  # small orders missing only
            row["small_net"] = None
        elif i % 31 == 11:  # small orders exactly balanced: neither side of a divergence
            row["small_net"] = 0.0
        if spec.kind == "sector":
            row.update(top_stock_code="600000", top_stock_name=_name(rng, "6"))
        rows.append(row)
    if len(rows) > 12:  # an exact tie at the very top and at the very bottom: order by code
        present = sorted((r for r in rows if r["main_net"] is not None), key=lambda r: -r["main_net"])
        present[1]["main_net"] = present[0]["main_net"]
        present[-2]["main_net"] = present[-1]["main_net"]
    ranked = sorted(rows, key=lambda r: (r["main_net"] is None, -(r["main_net"] or 0), r["code"]))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    return rows


def make_day(trade_date: dt.date, n_stocks: int = 300, n_sectors: int = 40, seed: int = 0,
             tables: list[TableSpec] | None = None, fetched_at: dt.datetime | None = None
             ) -> dict[str, list[dict]]:
    """A day of rows for every table (or `tables`) keyed by table name, markets as subsets of
    one code universe."""
    codes = stock_codes(n_stocks)
    boards = {b: [f"BK{i:04d}" for i in range(k * 1000, k * 1000 + n_sectors)]
              for k, b in enumerate(catalog.BOARDS, 1)}
    out = {}
    for spec in tables or catalog.ALL_TABLES:
        if spec.kind == "stock":
            members = [c for c in codes if c.startswith(MARKET_PREFIXES[spec.group.key])]
        else:
            members = boards[spec.group.key][: n_sectors if spec.group.key != "region" else 31]
            if spec.period.key != "1d":
                members = members[:-2]  # boards too new for 5d/10d: heatmap gaps
        out[spec.name] = make_rows(spec, trade_date, members, seed, fetched_at)
    return out


def store_day(warehouse, day: dict[str, list[dict]]) -> None:
    for name, rows in day.items():
        warehouse.store(catalog.TABLES_BY_NAME[name], rows)
