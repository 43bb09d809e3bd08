"""The research reader and the compatibility views, on MariaDB and on SQLite."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa

from findata_assets import reader
from findata_assets.eastmoney import catalog
from findata_assets.storage import compat_views
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.object_store import LocalObjectStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.flow_rows import make_day, store_day

DAYS = [dt.date(2026, 11, 27), dt.date(2026, 11, 30)]
ALL_1D = catalog.table("stock", "all", "1d")


@pytest.fixture(params=["sqlite", "mariadb"])
def stored(request, tmp_path, monkeypatch):
    """Two days of every table in a fresh warehouse, the reader pointed at it."""
    if request.param == "mariadb":
        url = request.getfixturevalue("mysql_url")
    else:
        url = f"sqlite:///{tmp_path / 'r.db'}"
    monkeypatch.setenv("FINDATA_DATABASE_URL", url)
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path / "home"))
    reader.reset()
    warehouse = Warehouse(url)
    for seed, day in enumerate(DAYS):
        store_day(warehouse, make_day(day, n_stocks=60, n_sectors=12, seed=seed))
    yield warehouse
    reader.reset()
    warehouse.dispose()


def test_flows_are_typed_and_keep_nulls(stored):
    with stored.engine.begin() as conn:  # one unknown value, as the API's "-"
        table = stored.table(ALL_1D)
        conn.execute(table.update().where(table.c.trade_date == DAYS[1], table.c.rank == 1)
                     .values(main_pct=None))
    frame = reader.flows("all", "1d")
    assert sorted(set(frame["trade_date"])) == DAYS
    assert all(isinstance(d, dt.date) for d in frame["trade_date"])
    assert frame["main_net"].dtype == "float64" and frame["main_pct"].dtype == "float64"
    stored_rows = stored.read(ALL_1D, DAYS[1])
    assert len(frame[frame["trade_date"] == DAYS[1]]) == len(stored_rows)
    first = frame[(frame["trade_date"] == DAYS[1]) & (frame["rank"] == 1)].iloc[0]
    assert math.isnan(first["main_pct"])  # NULL is NaN, never 0
    expected = next(r for r in stored_rows if r["rank"] == 1)
    assert first["main_net"] == pytest.approx(expected["main_net"])  # yuan, as stored

    one_day = reader.flows("all", "1d", start="2026-11-30")
    assert set(one_day["trade_date"]) == {DAYS[1]}
    codes = list(one_day["code"][:3])
    picked = reader.flows("all", "1d", start=DAYS[1], end=DAYS[1], codes=codes)
    assert sorted(picked["code"]) == sorted(codes)
    zh = reader.flows("all", "1d", lang="zh")
    assert {"交易日", "代码", "主力净流入-净额"} <= set(zh.columns)


def test_sectors(stored):
    frame = reader.sectors("concept", "5d", end="2026-11-27")
    spec = catalog.table("sector", "concept", "5d")
    assert set(frame["trade_date"]) == {DAYS[0]}
    assert len(frame) == len(stored.read(spec, DAYS[0]))
    assert frame["code"].str.startswith("BK").all()


@pytest.mark.parametrize("call,message", [
    (lambda: reader.flows("mars", "1d"), "unknown stock group 'mars'"),
    (lambda: reader.flows("all", "2d"), "'2d'"),
    (lambda: reader.sectors("region", "3d"), "'3d'"),
    (lambda: reader.flows("all", "1d", start="2026-12-01", end="2026-11-01"),
     "start 2026-12-01 is after end 2026-11-01"),
    (lambda: reader.flows("all", "1d", start="30/11/2026"), "start must be a date"),
    (lambda: reader.flows("all", "1d", lang="fr"), "lang must be one of"),
    (lambda: reader.intraday_market("2026-11-30", minute="10h30"), "minute must be HH:MM"),
])
def test_bad_input_is_one_clear_error(stored, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_intraday_reads(stored):
    store = IntradayStore(stored)
    rows = []
    for minute in (dt.datetime(2026, 11, 30, 10, 30), dt.datetime(2026, 11, 30, 10, 31)):
        for i, code in enumerate(("600519", "000001")):
            rows = [{"trade_date": DAYS[1], "code": code, "minute": minute, "board": None,
                     **{c: None for c in ("name", "price", "change_pct", "main_pct",
                                          "super_large_net", "super_large_pct", "large_net",
                                          "large_pct", "medium_net", "medium_pct", "small_net",
                                          "small_pct")},
                     "main_net": 1e8 * (i + 1) + minute.minute, "fetched_at": minute}]
            store.replace_minute("stock", DAYS[1], minute, None,
                                 rows + [r for r in store.read_minute("stock", DAYS[1], minute)
                                         if r["code"] != code], replaced=False)
    day = reader.intraday("600519", "2026-11-30")
    assert list(day["minute"].dt.strftime("%H:%M")) == ["10:30", "10:31"]
    assert list(day["main_net"]) == [1e8 + 30, 1e8 + 31] and day["price"].isna().all()
    market = reader.intraday_market("2026-11-30", minute="10:31")
    assert list(market["code"]) == ["000001", "600519"]  # largest main net inflow first
    assert reader.intraday_market("2026-11-30", minute="11:00").empty


def test_report_reads_the_stored_markdown(stored, tmp_path):
    store = LocalObjectStore(tmp_path / "home" / "archive")
    store.put_bytes("reports/2026-11-30/report.md", "# 报告\n".encode(), "text/markdown")
    assert reader.report("2026-11-30") == "# 报告\n"
    with pytest.raises(LookupError, match="no report for 2026-11-27"):
        reader.report(dt.date(2026, 11, 27))


def test_compat_views_answer_the_original_schema(stored):
    names = compat_views.create_views(stored)
    assert len(names) == 41 and "Stock_Flow_SH&SZ_A_Shares_Today" in names
    with stored.engine.connect() as conn:
        views = set(sa.inspect(conn).get_view_names())
        assert {s.legacy_table_name for s in catalog.ALL_TABLES} <= views
        columns = [c["name"] for c in sa.inspect(conn).get_columns("Stock_Flow_All_Stocks_Today")]
        assert columns == list(compat_views.COLUMN_NAMES)
        # a SELECT written for the original schema, unchanged
        original = pd.read_sql(sa.text(
            "SELECT code, name, latest_price, change_percentage, main_flow_net_amount, "
            "extra_large_order_flow_net_amount, small_order_flow_net_percentage, crawl_time "
            "FROM Sector_Flow_Concept_Flow_5_Day ORDER BY main_flow_net_amount DESC"), conn)
    ours = stored.read(catalog.table("sector", "concept", "5d"), DAYS[1])  # the latest day only
    assert len(original) == len(ours)
    by_code = {r["code"]: r for r in ours}
    for row in original.itertuples():
        mine = by_code[row.code]
        assert (row.name if isinstance(row.name, str) else None) == mine["name"]
        assert row.latest_price == pytest.approx(mine["price"], nan_ok=True)
        for original, column in (("main_flow_net_amount", "main_net"),
                                 ("extra_large_order_flow_net_amount", "super_large_net")):
            value = getattr(row, original)
            if mine[column] is None:  # NULL stays NULL in the view (the original stored 0.0)
                assert value is None or math.isnan(value)
            else:
                assert value == pytest.approx(mine[column])
    assert compat_views.create_views(stored) == names  # again: replaced, not an error
    compat_views.drop_views(stored)
    with stored.engine.connect() as conn:
        assert not {s.legacy_table_name for s in catalog.ALL_TABLES} & set(
            sa.inspect(conn).get_view_names())


def test_compat_views_never_replace_a_real_table(stored):
    with stored.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE Stock_Flow_STAR_Market_Today (code VARCHAR(16))"))
    with pytest.raises(ValueError, match="table\\(s\\) named like the views exist.*Stock_Flow_STAR_Market_Today"):
        compat_views.create_views(stored)
    with stored.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE Stock_Flow_STAR_Market_Today"))


def test_show_and_compat_views_commands(stored, tmp_path):
    import os

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    show = subprocess.run([sys.executable, "-m", "findata_assets.run", "show", "all", "1d",
                           "--top", "5"], env=env, capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    assert lines[0] == "stock_flow_all_1d 2026-11-30 (top 5)" and len(lines) == 7
    bad = subprocess.run([sys.executable, "-m", "findata_assets.run", "show", "mars", "1d"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown stock group 'mars'")
    views = subprocess.run([sys.executable, "-m", "findata_assets.run", "compat-views"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert views.returncode == 0 and views.stdout.startswith("created 41 views"), views.stderr
    dropped = subprocess.run([sys.executable, "-m", "findata_assets.run", "drop-compat-views"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert dropped.returncode == 0 and "dropped 41 views" in dropped.stdout


def test_a_warehouse_down_is_one_clear_error_without_the_password(monkeypatch, tmp_path):
    from findata_assets.storage.preflight import StoreUnavailableError

    url = "mysql+pymysql://findata:s3cret-pw@127.0.0.1:9/findata"
    monkeypatch.setenv("FINDATA_DATABASE_URL", url)
    monkeypatch.setenv("FINDATA_DATABASE_TIMEOUT_S", "2")
    reader.reset()
    try:
        for call in (lambda: reader.flows("all", "1d"),
                     lambda: reader.intraday("600519", "2026-11-30")):
            with pytest.raises(StoreUnavailableError, match="^the warehouse .* does not answer .*"
                               "nothing was read: check FINDATA_DATABASE_URL") as caught:
                call()
            assert "s3cret-pw" not in str(caught.value) and "\n" not in str(caught.value)
    finally:
        reader.reset()
    import os

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    for command in (["show", "all", "1d"], ["compat-views"]):
        done = subprocess.run([sys.executable, "-m", "findata_assets.run", *command], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("error: the warehouse ") and "FINDATA_DATABASE_URL" in line
        assert "s3cret-pw" not in line
