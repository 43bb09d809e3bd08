"""The numeric digest of one trading day: deterministic figures computed from the warehouse.

Everything the narrative and the report say comes from here, so it is plain data (JSON-safe
dicts, money in yuan, shares in percent) and deterministic: the same rows give the same digest
and the same `digest_hash`, which is what the LLM cache is keyed on.

Conventions (each one is what a test checks against SQL over the same rows):
- ranking by main net inflow (`main_net`, the API's 主力净流入), ties broken by code; rows whose
  main_net is NULL ("-" in the API) are left out of rankings and of the breadth denominator;
- breadth = stocks with main_net > 0 / stocks with a main_net;
- main = super-large + large orders, retail = small orders (the issue's definition; medium orders
  are reported but belong to neither side);
- persistence = names in the top (bottom) n of the 1d, 5d and 10d rankings at once, n from
  `persistence_n` (a cap, or a share of the ranked 1d rows when that is smaller);
- `history`: the day seen from the daily history (daily_flow: 5/20-day leaders, streaks, the
  market's 20 days; history_signals.py), `{"missing": ...}` when it holds no day up to D.

A day the platform did not watch (a backfilled day: daily_flow rows, no 1d snapshot) is still
analysed: the 1d tables that lack it are taken from its daily rows (the stocks as 全部股票, the
boards per board type); what such a day cannot have (the other markets, the 5d/10d rankings, the
boards' top stocks, the intraday minutes) is named in `missing`, and `sources` says where each
section came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from findata_assets.analysis import day_notes, history_signals
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableSpec
from findata_assets.storage.daily_flow import TABLE as DAILY_TABLE
from findata_assets.storage.daily_flow import DailyFlowStore

DIGEST_VERSION = 2  # 2: the history section, the sections' sources, the missing notes
TOP_N = 10  # top / bottom stocks per market, leaders / laggards per board
DIVERGENCE_N = 5  # example names for each direction of main-vs-retail divergence
# "leads" = in the top n of each period's ranking, n = the cap or that share of the ranked 1d
# rows, whichever is smaller (never below 1): a top 10 of 6 regions would say nothing
PERSIST_STOCK = (50, 0.05)  # (cap, share): 50 of ~5,300 stocks
PERSIST_SECTOR = (10, 0.2)  # 10 of ~90 industries or ~450 concepts, 6 of 31 regions
HEATMAP_EACH_SIDE = 6  # heatmap rows per board: 1d leaders and laggards
REQUIRED_TABLE = catalog.table("stock", "all", "1d")
FLOW_FIELDS = ("super_large_net", "large_net", "medium_net", "small_net")
ENTRY_FIELDS = ("code", "name", "main_net", "main_pct", "change_pct", *FLOW_FIELDS)
SECTOR_ENTRY_FIELDS = (*ENTRY_FIELDS, "top_stock_code", "top_stock_name")
# the columns the digest reads (rank, price and the order classes' shares it does not need)
READ_COLUMNS = SECTOR_ENTRY_FIELDS
# the snapshot times the digest names: only each table's newest is read (decoding a datetime
# per row cost pymysql a third of the analysis's reads)
STAMP_COLUMNS = ("updated_at", "fetched_at")
# the 1d tables a day's daily_flow rows can stand in for: table name -> (kind, board)
DAILY_STAND_INS = {REQUIRED_TABLE.name: ("stock", None),
                   **{catalog.table("sector", b, "1d").name: ("board", b) for b in catalog.BOARDS}}
DAILY_READ = ("code", "kind", "board", "name", "main_net", "main_pct", "change_pct", *FLOW_FIELDS,
              "source", "fetched_at")


class NoDataError(LookupError):
    """The day has no rows in the table the digest cannot do without."""


@dataclass
class DayInputs:
    """Rows of one trade date, keyed by table name; tables without rows are listed as missing."""

    trade_date: dt.date
    rows: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    # table name -> the newest of each STAMP_COLUMNS (the rows do not carry them)
    newest: dict[str, dict[str, Any]] = field(default_factory=dict)
    # table name -> {"rows", "sources" (kline/snapshot counts), "fetched_at"} of the tables whose
    # rows were taken from daily_flow (the table itself lacks the day: it stays in `missing`)
    daily: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: Optional[history_signals.HistoryInputs] = None

    def of(self, spec: TableSpec) -> list[dict]:
        return self.rows.get(spec.name, [])


def input_tables() -> list[TableSpec]:
    """The tables the digest reads: every market's 1d table, all stocks 5d/10d, every board's
    1d/5d/10d. The 3d tables feed nothing here, so they are not read."""
    specs = [catalog.table("stock", m, "1d") for m in catalog.MARKETS]
    specs += [catalog.table("stock", "all", p) for p in ("5d", "10d")]
    specs += [catalog.table("sector", b, p) for b in catalog.BOARDS for p in catalog.SECTOR_PERIODS]
    return specs


def load_inputs(warehouse, trade_date: dt.date) -> DayInputs:
    """That day's rows from the warehouse, and its daily history; raises NoDataError when all
    stocks 1d has none and daily_flow holds no stock of the day either."""
    inputs = DayInputs(trade_date)
    for spec in input_tables():
        rows, newest = warehouse.read_with_newest(spec, trade_date, READ_COLUMNS, STAMP_COLUMNS)
        if rows:
            inputs.rows[spec.name] = rows
            inputs.newest[spec.name] = newest
        else:
            inputs.missing.append(spec.name)
    stand_in_daily_rows(warehouse, inputs)
    if not inputs.of(REQUIRED_TABLE):
        raise NoDataError(f"no rows for {trade_date} in {REQUIRED_TABLE.name}")
    snapshot = None if REQUIRED_TABLE.name in inputs.daily else REQUIRED_TABLE.name
    inputs.history = history_signals.load(warehouse, trade_date, inputs.of(REQUIRED_TABLE),
                                          snapshot)
    return inputs


def stand_in_daily_rows(warehouse, inputs: DayInputs) -> None:
    """The day's 1d tables that lack it, from its daily_flow rows (one read, only when one
    lacks it): the stocks as 全部股票, the boards per board type, no top stock (领涨股)."""
    lacking = [name for name in DAILY_STAND_INS if name in inputs.missing]
    if not lacking:
        return
    kinds = sorted({DAILY_STAND_INS[name][0] for name in lacking})
    day = inputs.trade_date
    rows = [dict(zip(DAILY_READ, r)) for r in DailyFlowStore(warehouse).read(
        kinds=kinds, start=day, end=day, columns=DAILY_READ)]
    for name in lacking:
        kind, board = DAILY_STAND_INS[name]
        mine = [r for r in rows if r["kind"] == kind and (kind == "stock" or r["board"] == board)]
        if not mine:
            continue
        sources: dict[str, int] = {}
        for r in mine:
            sources[r["source"]] = sources.get(r["source"], 0) + 1
        inputs.rows[name] = [{f: r.get(f) for f in READ_COLUMNS} for r in mine]
        inputs.daily[name] = {"rows": len(mine), "sources": dict(sorted(sources.items())),
                              "fetched_at": max(r["fetched_at"] for r in mine)}


# --- building blocks ------------------------------------------------------------------------------

def _entry(row: Mapping[str, Any], fields: Sequence[str] = ENTRY_FIELDS) -> dict:
    return {f: row.get(f) for f in fields}


def ranked(rows: Iterable[Mapping[str, Any]], key: str = "main_net") -> list[Mapping[str, Any]]:
    """Rows with a value, largest first, ties by code (the warehouse's own rank rule)."""
    present = [r for r in rows if r.get(key) is not None]
    return sorted(present, key=lambda r: (-r[key], r["code"]))


def _bottom(ranked_rows: list, n: int) -> list:
    """The n smallest, smallest first (ties by code, like the top list)."""
    return sorted(ranked_rows, key=lambda r: (r["main_net"], r["code"]))[:n]


def _fsum(rows: Iterable[Mapping[str, Any]], key: str) -> float:
    # fsum is exact and order-independent: the digest does not depend on row order
    return math.fsum(r[key] for r in rows if r.get(key) is not None)


def breadth(rows: Sequence[Mapping[str, Any]]) -> dict:
    values = [r.get("main_net") for r in rows]
    inflow = sum(1 for v in values if v is not None and v > 0)
    outflow = sum(1 for v in values if v is not None and v < 0)
    flat = sum(1 for v in values if v == 0)
    counted = inflow + outflow + flat
    return {"inflow": inflow, "outflow": outflow, "flat": flat,
            "no_data": len(values) - counted,
            "share_inflow": inflow / counted if counted else None}


def _main(row: Mapping[str, Any]) -> Optional[float]:
    sl, lg = row.get("super_large_net"), row.get("large_net")
    return None if sl is None or lg is None else sl + lg


def divergence(rows: Sequence[Mapping[str, Any]]) -> dict:
    """Main (super-large + large) against retail (small orders), summed and per stock."""
    both = [(r, _main(r), r.get("small_net")) for r in rows]
    both = [(r, m, s) for r, m, s in both if m is not None and s is not None]
    in_out = [(r, m) for r, m, s in both if m > 0 and s < 0]  # main buys, retail sells
    out_in = [(r, m) for r, m, s in both if m < 0 and s > 0]
    return {
        "main_net": math.fsum(m for _, m, _ in both),
        "retail_net": math.fsum(s for _, _, s in both),
        "stocks_compared": len(both),
        "main_in_retail_out": len(in_out),
        "main_out_retail_in": len(out_in),
        "opposite_share": (len(in_out) + len(out_in)) / len(both) if both else None,
        "top_main_in_retail_out": [
            _entry(r) for r, _ in sorted(in_out, key=lambda x: (-x[1], x[0]["code"]))[:DIVERGENCE_N]],
        "top_main_out_retail_in": [
            _entry(r) for r, _ in sorted(out_in, key=lambda x: (x[1], x[0]["code"]))[:DIVERGENCE_N]],
    }


def _market(group: catalog.Group, rows: list[dict]) -> dict:
    order = ranked(rows)
    return {
        "label_zh": group.label_zh, "label_en": group.label_en, "rows": len(rows),
        "top": [_entry(r) for r in order[:TOP_N]],
        "bottom": [_entry(r) for r in _bottom(order, TOP_N)],
        "breadth": breadth(rows),
        "flows": {k: _fsum(rows, k) for k in ("main_net", *FLOW_FIELDS)},
        "divergence": divergence(rows),
    }


def _board(group: catalog.Group, inputs: DayInputs) -> Optional[dict]:
    by_period = {p: inputs.of(catalog.table("sector", group.key, p)) for p in catalog.SECTOR_PERIODS}
    if not by_period["1d"]:
        return None
    order = ranked(by_period["1d"])
    leaders = order[:TOP_N]
    laggards = _bottom(order, TOP_N)
    values = {p: {r["code"]: r.get("main_net") for r in rows} for p, rows in by_period.items()}
    picked = [*order[:HEATMAP_EACH_SIDE],
              *reversed(_bottom(order, HEATMAP_EACH_SIDE))]  # leaders then laggards, top to bottom
    heat, seen = [], set()
    for r in picked:
        if r["code"] not in seen:
            seen.add(r["code"])
            heat.append({"code": r["code"], "name": r.get("name"),
                         **{p: values[p].get(r["code"]) for p in catalog.SECTOR_PERIODS}})
    return {
        "label_zh": group.label_zh, "label_en": group.label_en, "rows": len(by_period["1d"]),
        "leaders": [_entry(r, SECTOR_ENTRY_FIELDS) for r in leaders],
        "laggards": [_entry(r, SECTOR_ENTRY_FIELDS) for r in laggards],
        "breadth": breadth(by_period["1d"]),
        "heatmap": heat,
        "persistence": persistence(by_period, *PERSIST_SECTOR),
    }


def persistence_n(ranked_rows: int, cap: int, share: float) -> int:
    return max(1, min(cap, int(ranked_rows * share)))


def persistence(by_period: Mapping[str, list[dict]], cap: int, share: float) -> Optional[dict]:
    """Names in the top (bottom) n of every period's ranking, ordered by their 1d rank."""
    periods = ("1d", "5d", "10d")
    if not all(by_period.get(p) for p in periods):
        return None  # a period is missing: persistence cannot be judged
    orders = {p: ranked(by_period[p]) for p in periods}
    n = persistence_n(len(orders["1d"]), cap, share)
    result = {"n": n, "periods": list(periods)}
    for side in ("leaders", "laggards"):
        ranks = {}
        for p in periods:
            chosen = orders[p][:n] if side == "leaders" else _bottom(orders[p], n)
            ranks[p] = {r["code"]: i + 1 for i, r in enumerate(chosen)}
        common = set.intersection(*(set(ranks[p]) for p in periods))
        first = {r["code"]: r for r in orders["1d"]}
        names = sorted(common, key=lambda c: (ranks["1d"][c], c))
        result[side] = [{"code": c, "name": first[c].get("name"),
                         **{f"rank_{p}": ranks[p][c] for p in periods},
                         **{f"main_net_{p}": _value(by_period[p], c) for p in periods}}
                        for c in names]
    return result


def _value(rows: list[dict], code: str) -> Optional[float]:
    return next((r.get("main_net") for r in rows if r["code"] == code), None)


def _iso(value: Any) -> Optional[str]:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else None


def _latest(inputs: DayInputs, key: str, tables: Optional[Iterable[str]] = None) -> Optional[str]:
    """The newest `key` over `tables` (default: every table read)."""
    names = inputs.newest if tables is None else tables
    values = [inputs.newest[n].get(key) for n in names if n in inputs.newest]
    values = [v for v in values if v is not None]
    return _iso(max(values)) if values else None


# --- the digest -----------------------------------------------------------------------------------

def compute(inputs: DayInputs) -> dict:
    """The digest of a day (JSON-safe). Sections whose tables are missing are left out."""
    if not inputs.of(REQUIRED_TABLE):
        raise NoDataError(f"no rows for {inputs.trade_date} in {REQUIRED_TABLE.name}")
    markets = {key: _market(group, inputs.of(catalog.table("stock", key, "1d")))
               for key, group in catalog.MARKETS.items()
               if inputs.of(catalog.table("stock", key, "1d"))}
    boards = {key: b for key, group in catalog.BOARDS.items()
              if (b := _board(group, inputs)) is not None}
    stock_periods = {p: inputs.of(catalog.table("stock", "all", p)) for p in ("1d", "5d", "10d")}
    stock_persistence = persistence(stock_periods, *PERSIST_STOCK)
    from_daily = REQUIRED_TABLE.name in inputs.daily
    history = history_signals.compute(inputs.history, inputs.trade_date)
    return {
        "version": DIGEST_VERSION,
        "trade_date": inputs.trade_date.isoformat(),
        "snapshot": {"updated_at": _latest(inputs, "updated_at"),
                     "fetched_at": _latest(inputs, "fetched_at"),
                     # the snapshot the headline numbers come from: a later refresh replaces
                     # the warehouse's rows, the report keeps naming this one
                     "source_table": DAILY_TABLE if from_daily else REQUIRED_TABLE.name,
                     "source_fetched_at": (_iso(inputs.daily[REQUIRED_TABLE.name]["fetched_at"])
                                           if from_daily else
                                           _latest(inputs, "fetched_at", [REQUIRED_TABLE.name])),
                     "timezone": "Asia/Shanghai"},
        "tables": {name: len(rows) for name, rows in sorted(inputs.rows.items())
                   if name not in inputs.daily},
        "missing_tables": sorted(inputs.missing),
        "units": {"money": "yuan", "share": "percent"},
        "markets": markets,
        "boards": boards,
        "stock_persistence": stock_persistence,
        "history": history,
        "sources": {
            "markets": {k: _source(inputs, catalog.table("stock", k, "1d")) for k in markets},
            "boards": {k: _source(inputs, catalog.table("sector", k, "1d")) for k in boards},
            "stock_persistence": ([catalog.table("stock", "all", p).name for p in stock_periods]
                                  if stock_persistence else None),
            "history": DAILY_TABLE if "coverage" in history else None,
            "from_daily_flow": {name: {"rows": v["rows"], "sources": v["sources"]}
                                for name, v in sorted(inputs.daily.items())}},
        "missing": day_notes.missing_notes(inputs, markets, boards, stock_persistence,
                                           REQUIRED_TABLE.name),
    }


def _source(inputs: DayInputs, spec: TableSpec) -> str:
    return DAILY_TABLE if spec.name in inputs.daily else spec.name


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def digest_hash(digest: Mapping[str, Any]) -> str:
    """sha256 of the canonical digest without the snapshot's fetch times: re-crawling unchanged
    data must not make the LLM narrative be paid for again."""
    hashed = dict(digest)
    hashed["snapshot"] = {k: v for k, v in digest.get("snapshot", {}).items()
                          if k not in ("fetched_at", "source_fetched_at")}
    return hashlib.sha256(canonical_json(hashed).encode("utf-8")).hexdigest()
