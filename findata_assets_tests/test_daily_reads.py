"""The daily history's research reads (reader.daily, daily_sectors, daily_market, flows() reaching
back, `show daily`) on MariaDB and SeaweedFS: some days as Parquet files, the others only in the
warehouse, the same frames either way."""

from __future__ import annotations

import datetime as dt
import math
import os

import pandas as pd
import pytest

from findata_assets import reader
from findata_assets import trading_calendar as tc
from findata_assets.cli.main import main as cli_main
from findata_assets.eastmoney import catalog
from findata_assets.storage import daily_files, daily_reads
from findata_assets.storage.daily_flow import COLUMNS, FLOW_COLUMNS, MARKET_CODE, DailyFlowStore
from findata_assets.storage.local_object_store import LocalObjectStore
from findata_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration
DAYS = tc.trading_days(dt.date(2026, 11, 2), dt.date(2026, 11, 11))  # 8 trading days
FILED = DAYS[:5]  # as Parquet too; DAYS[5:] only in the warehouse
STOCKS = ["600000", "688001", "000001", "300750", "900901", "200002", "601318"]
GAP = ("601318", DAYS[2])  # a suspended day: no row
BOARDS = {"BK0475": "industry", "BK0800": "concept", "BK0150": "region"}
NAMED = ["trade_date", "code", "name", "main_net", "main_pct", "super_large_net",
         "super_large_pct", "large_net", "large_pct", "medium_net", "medium_pct", "small_net",
         "small_pct", "close", "change_pct", "source"]


def _row(day: dt.date, code: str, kind: str, board=None) -> dict:
    i, k = DAYS.index(day), int(code[-3:]) if kind != "market" else 7
    main = (k % 5 - 2 + 0.5 * i) * 1e7 + (STOCKS.index(code) if code in STOCKS else k) * 1e3
    row = dict.fromkeys(COLUMNS)
    row.update(trade_date=day, code=code, kind=kind, board=board, name=f"名{code}",
               source="snapshot" if i == 0 else "kline", fetched_at=dt.datetime(2026, 11, 12, 9),
               main_net=main, main_pct=2.0 + 0.5 * i + k % 3, super_large_net=main * 0.6,
               super_large_pct=1.5, large_net=main * 0.4, large_pct=0.8, medium_net=-main * 0.3,
               medium_pct=-0.6, small_net=-main * 0.7, small_pct=-1.4, close=10 + i + k / 1000,
               change_pct=(-1) ** i * (1 + k % 4) * 0.5)
    if kind == "market":
        row.update(name="大盘", close=3300 + i, change_pct=0.1 * i, close_2=10500 + i,
                   change_pct_2=-0.2 * i)
    if (code, i) == ("000001", 3):  # NULLs stay NULL (NaN), never 0
        row.update(name=None, main_pct=None, small_net=None)
    return row


def _rows(day: dt.date) -> list[dict]:
    return ([_row(day, c, "stock") for c in STOCKS if (c, day) != GAP]
            + [_row(day, c, "board", b) for c, b in BOARDS.items()]
            + [_row(day, MARKET_CODE, "market")])


@pytest.fixture
def stored(clean_env, mysql_url, s3_env, tmp_path):
    """DAYS of daily rows in MariaDB, FILED also as Parquet in the S3 bucket; the reader on both."""
    from findata_assets.resources.object_store import object_store_from_settings
    from findata_assets.settings import Settings

    for name, value in {"FINDATA_DATABASE_URL": mysql_url, "FINDATA_HOME": str(tmp_path / "h"),
                        **s3_env}.items():
        clean_env.setenv(name, value)
    reader.reset()
    warehouse = Warehouse(mysql_url)
    store = DailyFlowStore(warehouse)
    archive = object_store_from_settings(Settings.from_env(os.environ))
    for day in DAYS:
        store.upsert(_rows(day))
    for day in FILED:
        daily_files.write_and_verify(archive, day, store.read_day(day))
    yield warehouse, archive
    reader.reset()
    warehouse.dispose()


def test_a_day_reads_the_same_from_its_file_and_from_the_warehouse(stored, monkeypatch, tmp_path):
    warehouse, archive = stored
    asked = []
    read_days = daily_files.read_days
    monkeypatch.setattr(daily_files, "read_days", lambda store, days, columns: asked.append(
        list(days)) or read_days(store, days, columns))
    from_sql = []
    by_sql = daily_reads.DailyReads._warehouse
    monkeypatch.setattr(daily_reads.DailyReads, "_warehouse", lambda self, *a, **kw: (
        from_sql.append(kw.get("days")) or by_sql(self, *a, **kw)))
    market = reader.daily(start=DAYS[0], end=DAYS[-1])  # the whole market: files + warehouse
    assert asked == [FILED] and from_sql == [DAYS[5:]]  # each day from one home
    assert daily_reads.DailyReads(warehouse, archive)._files(
        "stock", ["code"], DAYS, None, None)[1] == DAYS[5:]  # the days without a file
    no_files = LocalObjectStore(tmp_path / "no_files")  # every day from the warehouse
    only_sql = daily_reads.DailyReads(warehouse, no_files).frame(
        "stock", daily_reads.STOCK_COLUMNS, start=DAYS[0], end=DAYS[-1])
    pd.testing.assert_frame_equal(market, only_sql)
    calls = len(asked)
    by_codes = reader.daily(STOCKS, start=DAYS[0], end=DAYS[-1])  # a few codes: the warehouse
    assert len(asked) == calls and from_sql[-1] is None  # no file fetched: by codes
    pd.testing.assert_frame_equal(market, by_codes)
    assert len(market) == len(DAYS) * len(STOCKS) - 1 and list(market.columns) == NAMED
    assert list(market[["trade_date", "code"]].itertuples(index=False)) == sorted(
        market[["trade_date", "code"]].itertuples(index=False))
    assert all(type(d) is dt.date for d in market["trade_date"])
    assert all(market[c].dtype == "float64" for c in NAMED[3:15])
    odd = market[(market["code"] == "000001") & (market["trade_date"] == DAYS[3])].iloc[0]
    assert math.isnan(odd["main_pct"]) and math.isnan(odd["small_net"]) and pd.isna(odd["name"])
    assert odd["main_net"] == pytest.approx(_row(DAYS[3], "000001", "stock")["main_net"])
    assert set(market["source"]) == {"snapshot", "kline"}


def test_one_stock_a_list_and_a_range(stored):
    one = reader.daily("600000")
    assert list(one["trade_date"]) == DAYS and set(one["code"]) == {"600000"}
    assert list(one["close"]) == pytest.approx([_row(d, "600000", "stock")["close"] for d in DAYS])
    gap = reader.daily(["601318", "000001"], start=DAYS[1], end=DAYS[3])
    assert len(gap) == 5 and (GAP[1], "601318") not in set(zip(gap["trade_date"], gap["code"]))
    day = reader.daily(start=FILED[-1], end=FILED[-1])  # one closed day of the whole market
    assert len(day) == len(STOCKS) and set(day["trade_date"]) == {FILED[-1]}
    assert reader.daily("600519").empty and list(reader.daily("600519").columns) == NAMED
    zh = reader.daily("600000", lang="zh")
    assert {"交易日", "代码", "主力净流入-净额", "收盘价", "来源"} <= set(zh.columns)


def test_boards_and_the_market(stored):
    boards = reader.daily_sectors(start=DAYS[0], end=DAYS[-1])
    assert len(boards) == len(DAYS) * len(BOARDS) and "board" in boards.columns
    assert dict(zip(boards["code"], boards["board"])) == BOARDS
    industry = reader.daily_sectors("industry")
    assert set(industry["code"]) == {"BK0475"} and len(industry) == len(DAYS)
    assert set(reader.daily_sectors(codes="BK0800", start=DAYS[5])["trade_date"]) == set(DAYS[5:])
    market = reader.daily_market(start=DAYS[4], end=DAYS[6])
    assert list(market.columns) == ["trade_date", *FLOW_COLUMNS, "sh_close", "sh_change_pct",
                                    "sz_close", "sz_change_pct", "source"]
    assert list(market["sh_close"]) == [3304, 3305, 3306]
    assert list(market["sz_close"]) == [10504, 10505, 10506]
    assert list(market["sz_change_pct"]) == pytest.approx([-0.8, -1.0, -1.2])
    assert "上证指数收盘" in reader.daily_market(lang="zh").columns


@pytest.mark.parametrize("call,message", [
    (lambda: reader.daily("600000", start="2026-11-11", end="2026-11-02"),
     "start 2026-11-11 is after end 2026-11-02"),
    (lambda: reader.daily("600000", start="11/02/2026"), "start must be a date (YYYY-MM-DD)"),
    (lambda: reader.daily(600000), "codes must be stock codes as strings (6 digits"),
    (lambda: reader.daily(["600000", "60000"]), "got '60000'"),
    (lambda: reader.daily("BK0475"), "codes must be stock codes"),
    (lambda: reader.daily("600000", lang="fr"), "lang must be one of ('en', 'zh')"),
    (lambda: reader.daily_sectors("mars"),
     "board must be one of ['industry', 'concept', 'region'] or None (all), got 'mars'"),
    (lambda: reader.daily_sectors(codes="600000"), "codes must be board codes"),
    (lambda: reader.daily_market(end="tomorrow"), "end must be a date"),
])
def test_bad_input_is_a_value_error_naming_the_choices(stored, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        call()


def _store_1d(warehouse: Warehouse, day: dt.date) -> None:
    """The all/1d and all/5d tables hold `day` (the platform watched it): not derived."""
    rows = [r for r in _rows(day) if r["kind"] == "stock"]
    for period in ("1d", "5d"):
        warehouse.store(catalog.table("stock", "all", period), [
            {**dict.fromkeys(catalog.COLUMN_NAMES), **{c: r[c] for c in FLOW_COLUMNS},
             "trade_date": day, "code": r["code"], "name": r["name"], "rank": rank,
             "price": r["close"], "change_pct": r["change_pct"], "fetched_at": r["fetched_at"]}
            for rank, r in enumerate(sorted(rows, key=lambda r: -r["main_net"]), 1)])


def test_flows_reach_back_over_the_daily_history_1d(stored):
    warehouse, _ = stored
    _store_1d(warehouse, DAYS[-1])
    frame = reader.flows("all", "1d")
    assert list(frame.columns) == [*catalog.COLUMN_NAMES, "derived_from_daily"]
    assert sorted(set(frame["trade_date"])) == DAYS
    assert frame["derived_from_daily"].dtype == bool
    assert set(frame[~frame["derived_from_daily"]]["trade_date"]) == {DAYS[-1]}
    day = frame[frame["trade_date"] == DAYS[3]]
    assert day["derived_from_daily"].all() and list(day["rank"]) == list(range(1, 8))
    expected = sorted(STOCKS, key=lambda c: -_row(DAYS[3], c, "stock")["main_net"])
    assert list(day["code"]) == expected  # rank 1 = the largest main net inflow
    row = day[day["code"] == "300750"].iloc[0]
    source = _row(DAYS[3], "300750", "stock")
    assert row["price"] == source["close"] and row["main_pct"] == source["main_pct"]
    assert row["small_net"] == source["small_net"] and row["fetched_at"] == source["fetched_at"]
    assert math.isnan(day[day["code"] == "000001"].iloc[0]["main_pct"])
    sh_a = reader.flows("sh_a", "1d", start=DAYS[0], end=DAYS[1])
    assert set(sh_a["code"]) == {"600000", "688001", "601318"}
    assert set(reader.flows("sz_b", "1d", start=DAYS[0], end=DAYS[0])["code"]) == {"200002"}
    assert set(reader.flows("chinext", "1d", end=DAYS[0])["code"]) == {"300750"}
    picked = reader.flows("all", "1d", start=DAYS[3], end=DAYS[3], codes=["300750"])
    assert len(picked) == 1 and picked["rank"].iloc[0] == expected.index("300750") + 1
    assert "由日线推算" in reader.flows("all", "1d", end=DAYS[0], lang="zh").columns


def test_flows_reach_back_5d_sums_shares_and_a_missing_day(stored):
    warehouse, _ = stored
    _store_1d(warehouse, DAYS[-1])
    frame = reader.flows("all", "5d", start=DAYS[4], end=DAYS[-1])
    assert set(frame["code"]) == set(STOCKS)
    assert list(frame[frame["derived_from_daily"]]["trade_date"].unique()) == DAYS[4:7]
    got = frame[(frame["trade_date"] == DAYS[5]) & (frame["code"] == "300750")].iloc[0]
    window = [_row(d, "300750", "stock") for d in DAYS[1:6]]  # the 5 days ending at DAYS[5]
    turnover = sum(r["main_net"] / r["main_pct"] * 100 for r in window)
    for net in ("main", "super_large", "large", "medium", "small"):
        assert got[f"{net}_net"] == pytest.approx(sum(r[f"{net}_net"] for r in window))
        assert got[f"{net}_pct"] == pytest.approx(
            sum(r[f"{net}_net"] for r in window) / turnover * 100)
    assert got["change_pct"] == pytest.approx(
        (math.prod(1 + r["change_pct"] / 100 for r in window) - 1) * 100)
    assert got["price"] == window[-1]["close"] and not math.isnan(got["main_net"])
    suspended = frame[(frame["trade_date"] == DAYS[5]) & (frame["code"] == "601318")].iloc[0]
    assert math.isnan(suspended["main_net"]) and math.isnan(suspended["change_pct"])
    assert suspended["price"] == _row(DAYS[5], "601318", "stock")["close"]
    after = frame[(frame["trade_date"] == DAYS[7]) & (frame["code"] == "601318")].iloc[0]
    assert not after["derived_from_daily"]  # the table's own day stays as the table has it
    # 000001 has a NULL main_pct on DAYS[3]: its turnover is unknown, so are its 5-day shares
    null_share = frame[(frame["trade_date"] == DAYS[4]) & (frame["code"] == "000001")].iloc[0]
    assert math.isnan(null_share["main_pct"]) and math.isnan(null_share["small_net"])
    assert null_share["main_net"] == pytest.approx(
        sum(_row(d, "000001", "stock")["main_net"] for d in DAYS[:5]))
    early = reader.flows("all", "5d", end=DAYS[3])  # fewer than 5 days before: NaN
    assert early["derived_from_daily"].all() and early["main_net"].isna().all()
    ranked = frame[frame["trade_date"] == DAYS[5]]
    assert list(ranked["code"])[-1] == "601318" and list(ranked["rank"]) == list(range(1, 8))
    # a market whose table does not hold DAYS[-1]: that day is derived too
    sz_a = reader.flows("sz_a", "5d", start=DAYS[4])
    assert set(sz_a["code"]) == {"000001", "300750"} and sz_a["derived_from_daily"].all()
    assert sorted(set(sz_a["trade_date"])) == DAYS[4:]


def test_show_daily(stored, capsys, dagster_home):
    assert cli_main(["show", "daily", "600000", "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"daily 600000 名600000 {DAYS[-3]}...{DAYS[-1]} (3 days)"
    assert len(out) == 5 and out[-1].lstrip().startswith(str(DAYS[-1]))  # newest last
    main_yi = _row(DAYS[-1], "600000", "stock")["main_net"] / 1e8
    assert f"{main_yi:,.2f}" in out[-1] and "main_net_yi" in out[1]
    assert cli_main(["show", "daily", "BK0800", "--date", str(DAYS[1]), "--end", str(DAYS[2]),
                     "--zh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"daily BK0800 名BK0800 {DAYS[1]}...{DAYS[2]} (2 days)")
    assert "主力净流入(亿)" in out and "收盘价" in out
    assert cli_main(["show", "daily", "market", "--start", str(DAYS[0])]) == 0
    out = capsys.readouterr().out
    assert "(8 days)" in out and "sh_close" in out and "10,507.00" in out
    assert cli_main(["show", "sh_a", "1d", "--date", str(DAYS[2])]) == 0  # the table holds none
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"stock_flow_sh_a_1d {DAYS[2]} (top 2 derived from the daily history)"
    assert cli_main(["show", "daily", "600519"]) == 1
    assert capsys.readouterr().out.strip() == "no daily rows of 600519 stored"
    for bad, message in ((["show", "daily", "6005"], "error: show daily takes a stock code (6 "
                                                     "digits, e.g. 600519), a board code (BK0475) "
                                                     "or 'market', got '6005'"),
                         (["show", "daily", "600000", "--start", "2026-13-01"],
                          "error: start must be a date"),
                         (["show", "daily"], "error: show daily needs a code")):
        assert cli_main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message) and "\n" not in err
