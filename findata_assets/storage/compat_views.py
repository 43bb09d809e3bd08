"""The original crawler's tables as views, for a migration without a big bang.

Its consumers read `Stock_Flow_<Market>_<Period>` and `Sector_Flow_<Board>_<Period>` with its own
column names. One view per original table selects our table's latest trade date under those
names. Differences the README's migration section states: our NULLs stay NULL (the original
stored "-" as 0.0), every row is there (it kept the top 50), `crawl_time` is our fetch time.
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.storage.warehouse import Warehouse

# original column <- our column (None: a constant of the table, see _constant)
ORIGINAL_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("code", "code"),
    ("name", "name"),
    ("flow_type", None),
    ("market_type", None),
    ("period", None),
    ("latest_price", "price"),
    ("change_percentage", "change_pct"),
    ("main_flow_net_amount", "main_net"),
    ("main_flow_net_percentage", "main_pct"),
    ("extra_large_order_flow_net_amount", "super_large_net"),
    ("extra_large_order_flow_net_percentage", "super_large_pct"),
    ("large_order_flow_net_amount", "large_net"),
    ("large_order_flow_net_percentage", "large_pct"),
    ("medium_order_flow_net_amount", "medium_net"),
    ("medium_order_flow_net_percentage", "medium_pct"),
    ("small_order_flow_net_amount", "small_net"),
    ("small_order_flow_net_percentage", "small_pct"),
    ("crawl_time", "fetched_at"),
)
COLUMN_NAMES = tuple(original for original, _ in ORIGINAL_COLUMNS)


def _constant(spec: catalog.TableSpec, column: str) -> str:
    """The original's per-table columns: its table-name parts (Stock_Flow, All_Stocks, Today)."""
    return {"flow_type": "Stock_Flow" if spec.group.kind == "stock" else "Sector_Flow",
            "market_type": spec.group.legacy_name, "period": spec.period.legacy_name}[column]


def view_sql(spec: catalog.TableSpec, quote: Callable[[str], str]) -> str:
    """SELECT of one view: our table's rows of its latest trade date, the original's columns."""
    table = quote(spec.name)
    items = []
    for original, ours in ORIGINAL_COLUMNS:
        source = quote(ours) if ours else "'" + _constant(spec, original) + "'"
        items.append(f"{source} AS {quote(original)}")
    return (f"SELECT {', '.join(items)} FROM {table} "
            f"WHERE {quote('trade_date')} = (SELECT MAX({quote('trade_date')}) FROM {table})")


def _quoter(warehouse: Warehouse) -> Callable[[str], str]:
    preparer = warehouse.engine.dialect.identifier_preparer
    return preparer.quote_identifier  # always quoted: the original names hold '&'


def create_views(warehouse: Warehouse) -> list[str]:
    """Create (or replace) every view; our tables are created when missing. The views' names."""
    quote, names = _quoter(warehouse), []
    for spec in catalog.ALL_TABLES:
        warehouse.ensure_table(spec)
    with warehouse.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    clashes = sorted(spec.legacy_table_name for spec in catalog.ALL_TABLES
                     if spec.legacy_table_name in tables)
    if clashes:  # the original crawler's own tables in this database: never drop them
        raise ValueError(f"{len(clashes)} table(s) named like the views exist in "
                         f"{warehouse.describe()} (the original crawler's?), e.g. {clashes[0]}: "
                         f"rename or move them, or point FINDATA_DATABASE_URL elsewhere")
    with warehouse.engine.begin() as conn:
        for spec in catalog.ALL_TABLES:
            name = quote(spec.legacy_table_name)
            conn.execute(sa.text(f"DROP VIEW IF EXISTS {name}"))
            conn.execute(sa.text(f"CREATE VIEW {name} AS {view_sql(spec, quote)}"))
            names.append(spec.legacy_table_name)
    return names


def drop_views(warehouse: Warehouse) -> list[str]:
    """Drop every view this module creates (absent ones are fine). The names dropped."""
    quote = _quoter(warehouse)
    with warehouse.engine.begin() as conn:
        for spec in catalog.ALL_TABLES:
            conn.execute(sa.text(f"DROP VIEW IF EXISTS {quote(spec.legacy_table_name)}"))
    return [spec.legacy_table_name for spec in catalog.ALL_TABLES]
