"""Issue 21: every table asset's `dagster/column_schema` is the warehouse table's own columns
(names, types, nullability), compared with the tables as MariaDB created them, so the catalog
cannot drift from the DDL; and each column says what it is, in what unit, from which API field."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from findata_assets.analysis.history import AnalysisHistory, TABLE_NAME
from findata_assets.defs.location import build_definitions
from findata_assets.eastmoney import catalog
from findata_assets.storage import intraday_history
from findata_assets.storage.intraday import TABLES, IntradayStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets.storage.warehouse_schema import build_table

pytestmark = pytest.mark.integration
SCHEMA = "dagster/column_schema"


@pytest.fixture(scope="module")
def defs():
    return build_definitions({"FINDATA_PARTITIONS_START": "2026-11-02"})


def _schema(defs, name: str) -> list[tuple[str, str, bool]]:
    key = dg.AssetKey(name)
    schema = defs.get_assets_def(key).specs_by_key[key].metadata[SCHEMA]
    return [(c.name, c.type, c.constraints.nullable) for c in schema.columns]


def _reflected(warehouse: Warehouse, table: str) -> list[tuple[str, str, bool]]:
    def spelled(type_) -> str:  # MariaDB reports INT with its display width: int(11)
        return re.sub(r"^integer\(\d+\)$", "integer",
                      type_.compile(dialect=mysql.dialect()).lower())

    columns = sa.inspect(warehouse.engine).get_columns(table)
    return [(c["name"], spelled(c["type"]), bool(c["nullable"])) for c in columns]


def test_each_table_assets_schema_is_its_warehouse_tables(defs, mysql_url):
    warehouse = Warehouse(mysql_url)
    try:
        for kind in ("stock", "sector"):
            for spec in catalog.ALL_TABLES:
                if spec.kind == kind:
                    build_table(spec).create(warehouse.engine, checkfirst=True)
                    assert _schema(defs, f"{kind}_flow") == _reflected(warehouse, spec.name)
            IntradayStore(warehouse).table(kind)  # created as the live feed creates it
            assert _schema(defs, TABLES[kind]) == _reflected(warehouse, TABLES[kind])
        AnalysisHistory(warehouse).get(dt.date(2026, 11, 30))  # creates its table
        assert _schema(defs, "fund_flow_analysis") == _reflected(warehouse, TABLE_NAME)
    finally:
        warehouse.dispose()


def test_the_history_files_schema_is_the_parquet_files(defs):
    arrow = intraday_history.arrow_schema()
    for kind in TABLES:
        schema = _schema(defs, f"{TABLES[kind]}_history")
        assert schema[0][0] == "trade_date"  # the Hive partition column, from the path
        assert [(n, t) for n, t, _ in schema[1:]] == [(f.name, str(f.type)) for f in arrow]


def test_columns_say_what_they_are_in_what_unit_from_which_field(defs):
    key = dg.AssetKey("stock_flow")
    columns = {c.name: c for c in defs.get_assets_def(key).specs_by_key[key].metadata[
        SCHEMA].columns}
    assert len(columns) == 20
    super_large = columns["super_large_pct"]
    assert "super-large" in super_large.description and "超大单净流入-净占比" in super_large.description
    assert super_large.tags == {"unit": "percent"} and "unit: percent" in super_large.description
    assert "f62 (1d)" in columns["main_net"].description and columns["main_net"].tags == {
        "unit": "yuan"}
    assert all(c.description for c in columns.values())
