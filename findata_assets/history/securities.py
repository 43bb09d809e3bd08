"""Which securities a backfill fetches, in which order: the market first, then the boards, then
the stocks by turnover (largest first), so the most useful history lands first.

The list is today's universe: the latest 1d snapshots in the warehouse (全部股票 and the three
board tables), or, on a new install with none, the 1d ranking fetched once. The source lists no
delisted security, so a backfill cannot hold one either (said in each day's metadata).
Turnover (成交额) is not a field of the ranking but follows from two that are: the main net share
is main net / turnover x 100, so turnover = main_net / main_pct x 100 (f62 / f184).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Optional

from findata_assets.eastmoney import catalog, klines
from findata_assets.storage.daily_flow import MARKET_CODE
from findata_assets.storage.warehouse import Warehouse

STOCK_TABLE = catalog.table("stock", "all", "1d")
BOARD_TABLES = {key: catalog.table("sector", key, "1d") for key in catalog.groups("sector")}
ORDER_FIELD = "turnover = main_net / main_pct x 100 (f62 / f184) of the latest 1d snapshot"


@dataclass(frozen=True)
class Security:
    secid: str
    code: str
    kind: str  # stock, board or market
    board: Optional[str]  # the board type of a board (industry, concept, region)
    name: Optional[str]
    turnover: Optional[float]  # yuan, of the latest snapshot (the order)


MARKET = Security(klines.MARKET_SECID, MARKET_CODE, "market", None, "沪深两市", None)


def turnover(row: dict) -> Optional[float]:
    main, pct = row.get("main_net"), row.get("main_pct")
    if main is None or not pct:
        return None
    return abs(main / pct * 100)


@dataclass
class Universe:
    securities: list[Security]
    as_of: Optional[dt.date]  # the trade date of the snapshots it came from
    source: str  # where the list came from, for the run log

    def counts(self) -> dict[str, int]:
        out = {"stock": 0, "board": 0, "market": 0}
        for s in self.securities:
            out[s.kind] += 1
        return out


def _ordered(stocks: list[Security], boards: list[Security]) -> list[Security]:
    by_turnover = lambda s: (-(s.turnover or 0.0), s.code)  # noqa: E731
    return [MARKET, *sorted(boards, key=by_turnover), *sorted(stocks, key=by_turnover)]


def _securities(kind: str, board: Optional[str], rows: list[dict]) -> list[Security]:
    out = []
    for row in rows:
        try:
            secid = klines.secid_for(row["code"])
        except ValueError:
            continue  # a code the kline endpoint has no rule for: nothing to ask
        out.append(Security(secid, row["code"], kind, board, row.get("name"), turnover(row)))
    return out


def from_warehouse(warehouse: Warehouse) -> Optional[Universe]:
    """Today's universe from the latest stored 1d snapshots; None when none is stored."""
    columns = ["code", "name", "main_net", "main_pct"]
    days = warehouse.trade_dates(STOCK_TABLE)
    if not days:
        return None
    stocks = _securities("stock", None, warehouse.read(STOCK_TABLE, days[-1], columns))
    boards = []
    for key, spec in BOARD_TABLES.items():
        board_days = warehouse.trade_dates(spec)
        if board_days:
            boards += _securities("board", key, warehouse.read(spec, board_days[-1], columns))
    return Universe(_ordered(stocks, boards), days[-1], f"the 1d snapshots of {days[-1]} in "
                                                         f"{warehouse.describe()}")


def from_ranking(fetch_tables: Callable) -> Universe:
    """Today's universe from the 1d ranking (`EastmoneyClient.fetch_tables`): 57 requests."""
    from findata_assets.eastmoney.parsing import parse_table

    specs = [STOCK_TABLE, *BOARD_TABLES.values()]
    snapshots = fetch_tables(specs)
    stocks, boards, day = [], [], None
    for spec in specs:
        snapshot = snapshots[spec.name]
        rows = parse_table(spec, snapshot).rows
        if spec is STOCK_TABLE:
            stocks, day = _securities("stock", None, rows), snapshot.trade_date
        else:
            boards += _securities("board", spec.group.key, rows)
    fetched = max(s.fetched_at for s in snapshots.values())
    return Universe(_ordered(stocks, boards), day,
                    f"the 1d ranking fetched at {fetched:%Y-%m-%d %H:%M} (no 1d snapshot stored)")
