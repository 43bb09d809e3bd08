"""The 41 Eastmoney fund-flow tables, as data.

Everything that differs between tables (which securities, which fields, which sort key, what the
MySQL table is called) lives here. Adding a market or a period is one entry in a dict below; no
other module branches on a market or board name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from findata_assets.settings.eastmoney import API_URL  # noqa: F401 (the default endpoint)

TableKind = Literal["stock", "sector"]
YI = 1e8  # 亿 (100 million yuan): the unit people read fund flows in
# Sorting by code keeps the page order stable while fund-flow values move during trading.
STABLE_SORT_FIELD = "f12"
CODE_FIELD = "f12"
NAME_FIELD = "f14"
MARKET_ID_FIELD = "f13"
UPDATED_AT_FIELD = "f124"


@dataclass(frozen=True)
class Group:
    """A set of securities the API selects with one `fs` filter: a stock market or a board type."""

    kind: TableKind
    key: str
    label_zh: str
    label_en: str
    fs: str
    legacy_name: str  # the table-name part used by the original crawler, for migration

    @property
    def terms(self) -> tuple[str, ...]:
        """The `fs` terms (boards) this group is the union of; `,` separates them."""
        return tuple(self.fs.split(","))


@dataclass(frozen=True)
class Period:
    """A ranking horizon and the API field codes that carry its values."""

    key: str
    label_zh: str
    label_en: str
    legacy_name: str
    fid: str  # the field the API ranks this period by (main net inflow)
    fields: tuple[str, ...]  # the field list public clients request for this period
    # column name -> API field code, for the period-specific columns of the shared schema
    columns: Mapping[str, str]


@dataclass(frozen=True)
class TableSpec:
    """One of the 41 tables: a group (market or board type) crossed with a period."""

    group: Group
    period: Period

    @property
    def kind(self) -> TableKind:
        return self.group.kind

    @property
    def name(self) -> str:
        """MySQL table name, also the archive folder name."""
        return f"{self.kind}_flow_{self.group.key}_{self.period.key}"

    @property
    def partition_key(self) -> str:
        """Dagster multi-partition key: dimensions sort by name, so the group comes first."""
        return f"{self.group.key}|{self.period.key}"

    @property
    def legacy_table_name(self) -> str:
        prefix = "Stock_Flow" if self.kind == "stock" else "Sector_Flow"
        return f"{prefix}_{self.group.legacy_name}_{self.period.legacy_name}"

    @property
    def label_zh(self) -> str:
        return f"{self.group.label_zh}{self.period.label_zh}资金流向"

    def required_fields(self) -> tuple[str, ...]:
        """Field codes every row of this table must carry (missing = schema drift)."""
        return (CODE_FIELD, NAME_FIELD, UPDATED_AT_FIELD, *self.field_map().values())

    def field_map(self) -> dict[str, str]:
        """Column name -> API field code for this table's value columns."""
        mapping = {"price": "f2", **self.period.columns}
        if self.kind == "stock":
            mapping.pop("top_stock_name", None)
            mapping.pop("top_stock_code", None)
        return mapping


def _period(key, label_zh, label_en, legacy, fid, fields, change, flows, top_name, top_code) -> Period:
    flow_columns = (
        "main_net", "main_pct", "super_large_net", "super_large_pct", "large_net",
        "large_pct", "medium_net", "medium_pct", "small_net", "small_pct",
    )
    codes = [f"f{n}" for n in flows]
    columns = {"change_pct": change, **dict(zip(flow_columns, codes, strict=True))}
    columns |= {"top_stock_name": top_name, "top_stock_code": top_code}
    return Period(key, label_zh, label_en, legacy, fid, tuple(fields.split(",")), columns)


PERIODS: dict[str, Period] = {
    p.key: p
    for p in (
        _period("1d", "今日", "today", "Today", "f62",
                "f12,f14,f2,f3,f62,f184,f66,f69,f72,f75,f78,f81,f84,f87,f204,f205,f124",
                "f3", (62, 184, 66, 69, 72, 75, 78, 81, 84, 87), "f204", "f205"),
        _period("3d", "3日", "3 days", "3_Day", "f267",
                "f12,f14,f2,f127,f267,f268,f269,f270,f271,f272,f273,f274,f275,f276,f257,f258,f124",
                "f127", range(267, 277), "f257", "f258"),
        _period("5d", "5日", "5 days", "5_Day", "f164",
                "f12,f14,f2,f109,f164,f165,f166,f167,f168,f169,f170,f171,f172,f173,f257,f258,f124",
                "f109", range(164, 174), "f257", "f258"),
        _period("10d", "10日", "10 days", "10_Day", "f174",
                "f12,f14,f2,f160,f174,f175,f176,f177,f178,f179,f180,f181,f182,f183,f260,f261,f124",
                "f160", range(174, 184), "f260", "f261"),
    )
}

_SZ_MAIN, _SZ_SME, _CHINEXT, _SH_MAIN, _STAR = (
    "m:0+t:6+f:!2", "m:0+t:13+f:!2", "m:0+t:80+f:!2", "m:1+t:2+f:!2", "m:1+t:23+f:!2")
_SH_B, _SZ_B = "m:1+t:3+f:!2", "m:0+t:7+f:!2"

MARKETS: dict[str, Group] = {
    g.key: g
    for g in (
        Group("stock", "all", "全部股票", "All stocks", ",".join(
            (_SZ_MAIN, _SZ_SME, _CHINEXT, _SH_MAIN, _STAR, _SZ_B, _SH_B)), "All_Stocks"),
        Group("stock", "sh_sz_a", "沪深A股", "Shanghai & Shenzhen A shares",
              ",".join((_SZ_MAIN, _SZ_SME, _CHINEXT, _SH_MAIN, _STAR)), "SH&SZ_A_Shares"),
        Group("stock", "sh_a", "沪市A股", "Shanghai A shares", f"{_SH_MAIN},{_STAR}", "SH_A_Shares"),
        Group("stock", "star", "科创板", "STAR Market", _STAR, "STAR_Market"),
        Group("stock", "sz_a", "深市A股", "Shenzhen A shares",
              ",".join((_SZ_MAIN, _SZ_SME, _CHINEXT)), "SZ_A_Shares"),
        Group("stock", "chinext", "创业板", "ChiNext", _CHINEXT, "ChiNext_Market"),
        Group("stock", "sh_b", "沪市B股", "Shanghai B shares", _SH_B, "SH_B_Shares"),
        Group("stock", "sz_b", "深市B股", "Shenzhen B shares", _SZ_B, "SZ_B_Shares"),
    )
}

BOARDS: dict[str, Group] = {
    g.key: g
    for g in (
        Group("sector", "industry", "行业", "Industry", "m:90+t:2", "Industry_Flow"),
        Group("sector", "concept", "概念", "Concept", "m:90+t:3", "Concept_Flow"),
        Group("sector", "region", "地域", "Region", "m:90+t:1", "Regional_Flow"),
    )
}

STOCK_PERIODS: tuple[str, ...] = ("1d", "3d", "5d", "10d")
SECTOR_PERIODS: tuple[str, ...] = ("1d", "5d", "10d")  # the API has no 3-day sector ranking

STOCK_TABLES: tuple[TableSpec, ...] = tuple(
    TableSpec(m, PERIODS[p]) for m in MARKETS.values() for p in STOCK_PERIODS)
SECTOR_TABLES: tuple[TableSpec, ...] = tuple(
    TableSpec(b, PERIODS[p]) for b in BOARDS.values() for p in SECTOR_PERIODS)
ALL_TABLES: tuple[TableSpec, ...] = STOCK_TABLES + SECTOR_TABLES
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in ALL_TABLES}


def groups(kind: TableKind) -> dict[str, Group]:
    return MARKETS if kind == "stock" else BOARDS


def periods_of(kind: TableKind) -> tuple[str, ...]:
    return STOCK_PERIODS if kind == "stock" else SECTOR_PERIODS


def table(kind: TableKind, group_key: str, period_key: str) -> TableSpec:
    """Look a table up by its keys; an unknown key is a clear error listing the valid ones."""
    known = groups(kind)
    if group_key not in known:
        raise KeyError(f"unknown {kind} group {group_key!r}; expected one of {sorted(known)}")
    if period_key not in periods_of(kind):
        raise KeyError(
            f"unknown {kind} period {period_key!r}; expected one of {list(periods_of(kind))}")
    return TableSpec(known[group_key], PERIODS[period_key])


def table_for_partition(kind: TableKind, partition_key: str) -> TableSpec:
    """`all|1d` -> the stock table; anything malformed names the bad key."""
    parts = partition_key.split("|")
    if len(parts) != 2:
        raise KeyError(f"malformed {kind} partition key {partition_key!r}; expected 'group|period'")
    return table(kind, *parts)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: Literal["date", "code", "text", "int", "float", "datetime"]
    label_zh: str
    description: str
    nullable: bool = True
    unit: str = ""  # yuan, percent, ... ("" for names, codes and times)


# One schema shared by all 41 tables; stock tables leave the top-stock columns NULL.
COLUMNS: tuple[Column, ...] = (
    Column("trade_date", "date", "交易日", "trading day the snapshot belongs to (Asia/Shanghai)", False),
    Column("code", "code", "代码", "security or board code", False),
    Column("name", "text", "名称", "security or board name"),
    Column("rank", "int", "排名", "rank by main net inflow within this table, 1 = largest", False,
           "rank"),
    Column("price", "float", "最新价", "latest price (board index level for sectors)", unit="yuan"),
    Column("change_pct", "float", "涨跌幅", "price change over the period", unit="percent"),
    Column("main_net", "float", "主力净流入-净额", "main net inflow (super-large + large)",
           unit="yuan"),
    Column("main_pct", "float", "主力净流入-净占比", "main net inflow share of turnover",
           unit="percent"),
    Column("super_large_net", "float", "超大单净流入-净额", "super-large orders net inflow",
           unit="yuan"),
    Column("super_large_pct", "float", "超大单净流入-净占比", "super-large orders share of turnover",
           unit="percent"),
    Column("large_net", "float", "大单净流入-净额", "large orders net inflow", unit="yuan"),
    Column("large_pct", "float", "大单净流入-净占比", "large orders share of turnover",
           unit="percent"),
    Column("medium_net", "float", "中单净流入-净额", "medium orders net inflow", unit="yuan"),
    Column("medium_pct", "float", "中单净流入-净占比", "medium orders share of turnover",
           unit="percent"),
    Column("small_net", "float", "小单净流入-净额", "small orders net inflow", unit="yuan"),
    Column("small_pct", "float", "小单净流入-净占比", "small orders share of turnover",
           unit="percent"),
    Column("top_stock_code", "code", "主力净流入最大股代码", "sector's top inflow stock code (sectors only)"),
    Column("top_stock_name", "text", "主力净流入最大股", "sector's top inflow stock name (sectors only)"),
    Column("updated_at", "datetime", "更新时间", "API last-update time, Asia/Shanghai"),
    Column("fetched_at", "datetime", "抓取时间", "when the snapshot was fetched, Asia/Shanghai", False),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
PRIMARY_KEY: tuple[str, ...] = ("trade_date", "code")


def api_fields(kind: TableKind, column: str) -> dict[str, str]:
    """period key -> the API field code a column is read from, in the tables of a kind (empty:
    not from one field: the rank is ours, the trade date from f124 and the calendar)."""
    fixed = {"code": CODE_FIELD, "name": NAME_FIELD, "updated_at": UPDATED_AT_FIELD}
    out = {}
    for period in periods_of(kind):
        spec = table(kind, next(iter(groups(kind))), period)
        field = fixed.get(column) or spec.field_map().get(column)
        if field:
            out[period] = field
    return out
