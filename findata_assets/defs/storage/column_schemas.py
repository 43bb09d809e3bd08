"""`dagster/column_schema` of every table asset, from the one definition each table has: the
SQLAlchemy table the warehouse is created from (names, types as the MySQL DDL spells them,
nullability) and the catalog (English description, Chinese label, unit, the API field a column
is read from). The catalog's Columns section then says what `super_large_pct` means and in what
unit, and cannot drift from the DDL (test_column_schemas.py compares it with the warehouse).
"""

from __future__ import annotations

from typing import Optional

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from findata_assets.analysis.history import build_table as build_analysis_table
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableKind
from findata_assets.storage import intraday_history
from findata_assets.storage.intraday import build_intraday_table
from findata_assets.storage.warehouse_schema import build_table

COLUMN_SCHEMA = "dagster/column_schema"
_CATALOG = {c.name: c for c in catalog.COLUMNS}
_INTRADAY_ONLY = {  # columns the intraday tables add to the catalog's
    "minute": ("数据分钟", "the minute of the data (its newest API update time, f124), "
                         "Asia/Shanghai wall time", ""),
    "board": ("板块类型", "board type of a sector row (industry, concept, region); NULL for "
                        "stocks", ""),
}


def sql_type(column: sa.Column) -> str:
    """The column's type as the MySQL/MariaDB DDL spells it, lower case (varchar(16), double)."""
    return column.type.compile(dialect=mysql.dialect()).lower()


def describe(name: str, kind: Optional[TableKind] = None) -> tuple[str, str]:
    """(description, unit) of a column: English, the Chinese label, the unit and, in the flow
    tables of `kind`, the API field per period (f62 -> main_net in today's tables)."""
    if name in _INTRADAY_ONLY:
        label, text, unit = _INTRADAY_ONLY[name]
    elif name in _CATALOG:
        column = _CATALOG[name]
        label, text, unit = column.label_zh, column.description, column.unit
    else:
        return "", ""
    parts = [f"{text} ({label})"]
    if unit:
        parts.append(f"unit: {unit}")
    if kind is not None:
        fields = catalog.api_fields(kind, name)
        if len(set(fields.values())) == 1:
            parts.append(f"API field {next(iter(fields.values()))}")
        elif fields:
            parts.append("API field " + ", ".join(f"{f} ({p})" for p, f in fields.items()))
    return "; ".join(parts), unit


def _column(name: str, type_: str, nullable: bool, kind: Optional[TableKind],
            comment: Optional[str] = None) -> dg.TableColumn:
    description, unit = describe(name, kind)
    return dg.TableColumn(name=name, type=type_, description=description or comment or "",
                          constraints=dg.TableColumnConstraints(nullable=nullable),
                          tags={"unit": unit} if unit else {})


def schema_of(table: sa.Table, kind: Optional[TableKind] = None) -> dg.TableSchema:
    return dg.TableSchema(columns=[_column(c.name, sql_type(c), bool(c.nullable), kind,
                                           c.comment) for c in table.columns])


def flow_table_schema(kind: TableKind) -> dg.TableSchema:
    """The 32 stock (9 sector) tables share one schema: that of any of them."""
    spec = catalog.table(kind, next(iter(catalog.groups(kind))), catalog.periods_of(kind)[0])
    return schema_of(build_table(spec), kind)


def intraday_table_schema(kind: TableKind) -> dg.TableSchema:
    return schema_of(build_intraday_table(kind), kind)


def history_file_schema(kind: TableKind) -> dg.TableSchema:
    """The Parquet file's columns (Arrow types), `trade_date` from the Hive path first."""
    columns = [_column("trade_date", "date32[day] (from the path: trade_date=YYYY-MM-DD)",
                       False, kind)]
    columns += [_column(name, arrow_type, name not in ("code", "minute", "fetched_at"), kind)
                for name, arrow_type in intraday_history.file_column_types().items()]
    return dg.TableSchema(columns=columns)


def raw_fields_schema(kind: TableKind) -> dg.TableSchema:
    """The API fields a raw snapshot's rows carry (JSON numbers or "-"), each with the columns
    of the tables it feeds: the far end of the tables' column lineage."""
    feeds: dict[str, list[str]] = {}
    for column in catalog.COLUMNS:
        for period, field in catalog.api_fields(kind, column.name).items():
            feeds.setdefault(field, []).append(f"{column.name} ({period})")
    return dg.TableSchema(columns=[
        dg.TableColumn(name=field, type="json", description="feeds " + ", ".join(columns))
        for field, columns in sorted(feeds.items(), key=lambda item: int(item[0][1:]))])


def analysis_table_schema() -> dg.TableSchema:
    return schema_of(build_analysis_table())


def with_schema(schema: dg.TableSchema) -> dict:
    """An asset's definition metadata carrying `schema`."""
    return {COLUMN_SCHEMA: schema}
