"""Intraday flow history end to end: the CLI's quick refreshes against a drifting fake, MariaDB
and the S3 server; the rows of each minute equal its archived snapshot; a re-run adds nothing;
a backfill of the day from the archive equals what the live feed built."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa

from findata_assets.cli.main import run_policy
from findata_assets.defs.location import build_definitions
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.snapshot import Snapshot, decode, lane_of_key
from findata_assets.settings import Settings
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import COLUMNS, IntradayStore, rows_of
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 30)  # a Monday
ALL_1D = catalog.table("stock", "all", "1d")


@pytest.fixture
def drifting(monkeypatch, mysql_url, s3_env, start_fake_eastmoney, dagster_home, tmp_path):
    """A fake whose values move with its clock, in session on DAY; the platform pointed at it."""
    fake = start_fake_eastmoney(scale=0.05, frozen=False, now=dt.datetime(2026, 11, 30, 10, 30, 5))
    env = {"FINDATA_HOME": str(tmp_path / "home"), "FINDATA_DATABASE_URL": mysql_url,
           "FINDATA_EASTMONEY_URL": fake.url, **s3_env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return fake


def _stores():
    settings = Settings.from_env(os.environ)
    return Warehouse(settings.database_url), object_store_from_settings(settings)


def _by_minute(rows):
    out = {}
    for row in rows:
        out.setdefault(row["minute"], {})[row["code"]] = row
    return out


def test_three_quick_refreshes_give_three_minutes_each_equal_to_its_snapshot(drifting):
    for minute in (30, 31, 32):
        drifting.set_now(dt.datetime(2026, 11, 30, 10, minute, 5))
        outcomes = run_policy("quick")
        assert [o.job for o in outcomes] == ["stock_flow_job"]  # the minute is in its step
        assert all(o.success for o in outcomes), [o.error for o in outcomes]
    warehouse, archive = _stores()
    store = IntradayStore(warehouse)
    minutes = store.minutes("stock", DAY)
    assert [m.strftime("%H:%M") for m in minutes] == ["10:30", "10:31", "10:32"]
    with dg.DagsterInstance.get() as instance:  # the catalog shows the minute of each refresh
        records = instance.fetch_materializations(dg.AssetKey("stock_flow_intraday"),
                                                  limit=5).records
    assert [r.asset_materialization.metadata["last_minute"].value for r in records] == \
        ["10:32", "10:31", "10:30"]
    assert {r.asset_materialization.partition for r in records} == {DAY.isoformat()}
    live = _by_minute(store.read_day_dicts("stock", DAY))
    keys = archive.list_keys(f"raw/{ALL_1D.name}/{DAY.isoformat()}/")
    assert len(keys) == 3
    assert all(k.endswith(".quick.json.zst") and lane_of_key(k) == "quick" for k in keys)
    for key in keys:  # every archived snapshot is its minute, row for row
        snapshot = decode(key, archive.get_bytes(key))
        expected = {r["code"]: r for r in rows_of(ALL_1D, snapshot)}
        [minute] = {r["minute"] for r in expected.values()}
        assert live[minute] == expected
    # the values moved between the minutes (the fake drifts in session)
    first, last = live[minutes[0]], live[minutes[-1]]
    assert any(first[c]["main_net"] != last[c]["main_net"] for c in first)

    # the same minute again: replaced, not duplicated
    before = len(store.read_day("stock", DAY, ("code",)))
    assert all(o.success for o in run_policy("quick"))
    assert len(store.read_day("stock", DAY, ("code",))) == before
    assert store.minutes("stock", DAY) == minutes

    # an archive written before compression: a plain JSON snapshot (10:33) is read as well
    keys = sorted(archive.list_keys(f"raw/{ALL_1D.name}/{DAY.isoformat()}/"))
    assert all(k.endswith(".json.zst") for k in keys) and len(keys) == 4
    legacy = decode(keys[-1], archive.get_bytes(keys[-1]))
    legacy.updated_at = legacy.updated_at.replace(minute=33)
    legacy.fetched_at = legacy.fetched_at.replace(minute=33)
    legacy_key = f"raw/{ALL_1D.name}/{DAY.isoformat()}/{legacy.fetched_at:%Y%m%dT%H%M%S.%f}.json"
    archive.put_bytes(legacy_key, orjson.dumps(legacy.to_json()), "application/json")
    live[legacy.updated_at.replace(second=0, microsecond=0, tzinfo=None)] = {
        r["code"]: r for r in rows_of(ALL_1D, legacy)}

    # a backfill of the day from the archive (no API: the fake is stopped) equals the live rows
    drifting.stop()
    with warehouse.engine.begin() as conn:
        conn.execute(store.table("stock").delete())
    defs = build_definitions()
    job = defs.resolve_job_def("intraday_job")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=DAY.isoformat(), instance=instance,
                                        run_config={"ops": {"stock_flow_intraday": {
                                            "config": {"rebuild": True}}}})
    assert result.success
    rebuilt = _by_minute(store.read_day_dicts("stock", DAY))
    again = {m: rows for m, rows in live.items()}
    # the re-run replaced 10:32 with its newer snapshot: compare against what is archived now
    latest_key = keys[-1]  # the newest compressed one
    newest = {r["code"]: r for r in rows_of(ALL_1D, decode(latest_key,
                                                           archive.get_bytes(latest_key)))}
    again[minutes[-1]] = newest
    assert rebuilt == again
    [event] = result.asset_materializations_for_node("stock_flow_intraday")
    assert event.metadata["minutes_stored"].value == 4
    assert event.metadata["snapshots_read"].value == 5

    # once the warehouse no longer holds the day, its history file is built from the archive
    # (the plain JSON snapshot included) and equals what the warehouse held
    expected = store.read_day("stock", DAY, history.FILE_COLUMNS)
    with warehouse.engine.begin() as conn:
        conn.execute(store.table("stock").delete())
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("intraday_history_job").execute_in_process(
            partition_key=DAY.isoformat(), instance=instance,
            asset_selection=[dg.AssetKey("stock_flow_intraday_history")])
    [event] = result.asset_materializations_for_node("stock_flow_intraday_history")
    assert "archived snapshots" in event.metadata["verified_against"].value
    assert history.verify(archive, "stock", DAY, history.to_arrow(expected)) == len(expected)
    warehouse.dispose()


def test_the_report_draws_the_days_intraday_path(drifting):
    for minute in (30, 31):
        drifting.set_now(dt.datetime(2026, 11, 30, 10, minute, 5))
        assert all(o.success for o in run_policy("quick"))
    drifting.set_now(dt.datetime(2026, 11, 30, 10, 32, 5))
    outcomes = run_policy("full")
    assert [o.job for o in outcomes][-2:] == ["sector_flow_job", "analysis_report_job"]
    assert outcomes[-1].report.startswith("ok:"), outcomes[-1].report
    _, archive = _stores()
    report = archive.get_bytes(f"reports/{DAY.isoformat()}/report.md").decode()
    assert "](charts/intraday.png)" in report and "## 分时资金流" in report
    png = archive.get_bytes(f"reports/{DAY.isoformat()}/charts/intraday.png")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    with dg.DagsterInstance.get() as instance:
        [record] = instance.fetch_materializations(dg.AssetKey("fund_flow_report"), limit=1).records
    assert record.asset_materialization.metadata["intraday_minutes"].value == 3


def test_lunch_and_after_close_snapshots_add_no_minute(drifting):
    for hour, minute in ((11, 29), (11, 45), (12, 30), (15, 20)):
        drifting.set_now(dt.datetime(2026, 11, 30, hour, minute, 5))
        assert all(o.success for o in run_policy("quick"))
    warehouse, _ = _stores()
    minutes = IntradayStore(warehouse).minutes("stock", DAY)
    # 11:29, then the morning's close (11:30) for both lunch refreshes, then the close (15:00)
    assert [m.strftime("%H:%M") for m in minutes] == ["11:29", "11:30", "15:00"]
    warehouse.dispose()


def test_columns_are_the_1d_columns_at_a_minute():
    assert COLUMNS[:3] == ("trade_date", "code", "minute")
    assert set(COLUMNS) - {"minute", "board"} <= set(catalog.COLUMN_NAMES)


def test_two_runs_storing_the_same_minute_at_once_end_with_the_newer_fetch(mysql_url):
    """The quick and the incremental lane both hold 全部股票 today: at :05 both store the same new
    minute at once. Each DELETE of the empty minute takes a gap lock, each INSERT then waits for
    the other's: InnoDB picks a deadlock victim, whose write is tried again and yields to the
    newer fetch, never failing the run."""
    import threading

    store = IntradayStore(Warehouse(mysql_url))
    codes = [f"{600000 + i}" for i in range(3000)]

    def rows(minute: dt.datetime, fetched: dt.datetime, price: float) -> list[dict]:
        return [{"trade_date": DAY, "code": c, "minute": minute, "board": None, "name": c,
                 "price": price, **{k: None for k in ("change_pct", "main_net", "main_pct",
                                                      "super_large_net", "super_large_pct",
                                                      "large_net", "large_pct", "medium_net",
                                                      "medium_pct", "small_net", "small_pct")},
                 "fetched_at": fetched} for c in codes]

    errors = []
    for n in range(6):  # a few new minutes: the race does not always deadlock
        minute = dt.datetime(2026, 11, 30, 10, 5 + n)
        older, newer = minute.replace(second=3), minute.replace(second=4)
        start = threading.Barrier(2)

        def write(fetched: dt.datetime, price: float) -> None:
            start.wait()
            try:
                store.replace_minute_if_newer("stock", DAY, minute, None,
                                              rows(minute, fetched, price), fetched)
            except Exception as exc:  # noqa: BLE001 - the test reads it
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(older, 1.0)),
                   threading.Thread(target=write, args=(newer, 2.0))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        stored = store.read_minute("stock", DAY, minute)
        assert len(stored) == len(codes)
        assert {r["price"] for r in stored} == {2.0}  # the newer fetch, whoever came second
        assert {r["fetched_at"] for r in stored} == {newer}
        # once the newer fetch is stored, an older one changes nothing
        assert store.replace_minute_if_newer("stock", DAY, minute, None,
                                             rows(minute, older, 3.0), older) is None
    store.warehouse.dispose()


def test_an_older_fetch_that_read_first_still_yields_to_a_newer_one_committed_meanwhile(mysql_url):
    """The interleaving CI met: the older fetch reads the minute (empty), the newer one then
    stores and commits it, the older goes on. Its check must see what is committed, not its
    snapshot, or it deletes the newer rows and stores its own."""
    import threading

    minute, older, newer = (dt.datetime(2026, 11, 30, 10, 20, s) for s in (0, 3, 4))
    older_store, newer_store = (IntradayStore(Warehouse(mysql_url)) for _ in range(2))
    newer_done, read_first = threading.Event(), threading.Event()
    replace = older_store._replace

    def replace_after_the_newer_commit(*args, **kwargs):
        read_first.set()
        newer_done.wait(3)  # with a locking read the newer write waits for us instead
        return replace(*args, **kwargs)

    older_store._replace = replace_after_the_newer_commit

    def row(fetched: dt.datetime, price: float) -> list[dict]:
        return [{"trade_date": DAY, "code": "600000", "minute": minute, "board": None,
                 "name": "x", "price": price, "fetched_at": fetched}]

    def write_newer() -> None:
        read_first.wait(10)
        newer_store.replace_minute_if_newer("stock", DAY, minute, None, row(newer, 2.0), newer)
        newer_done.set()

    thread = threading.Thread(target=write_newer)
    thread.start()
    older_store.replace_minute_if_newer("stock", DAY, minute, None, row(older, 1.0), older)
    thread.join(60)
    stored = newer_store.read_minute("stock", DAY, minute)
    assert [(r["price"], r["fetched_at"]) for r in stored] == [(2.0, newer)]
    for store in (older_store, newer_store):
        store.warehouse.dispose()


def test_a_table_stores_from_an_archive_object_written_before_compression(drifting):
    """The table step re-run from the archive (a retry, a table-only materialization) reads an
    old plain-JSON snapshot: here the latest raw materialization names one."""
    drifting.set_now(dt.datetime(2026, 11, 30, 10, 30, 5))
    assert all(o.success for o in run_policy("quick"))
    warehouse, archive = _stores()
    [key] = archive.list_keys(f"raw/{ALL_1D.name}/{DAY.isoformat()}/")
    snapshot = decode(key, archive.get_bytes(key))
    main_net = ALL_1D.period.columns["main_net"]
    code = snapshot.rows[0]["f12"]
    snapshot.rows[0][main_net] = 123456.78  # so the stored table shows where it came from
    snapshot.fetched_at = snapshot.fetched_at.replace(second=30)
    legacy_key = f"raw/{ALL_1D.name}/{DAY.isoformat()}/{snapshot.fetched_at:%Y%m%dT%H%M%S.%f}.json"
    archive.put_bytes(legacy_key, orjson.dumps(snapshot.to_json()), "application/json")
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key="stock_flow_raw", partition=ALL_1D.partition_key,
            metadata={"archive_key": legacy_key}))
        result = build_definitions().resolve_job_def("stock_flow_job").execute_in_process(
            instance=instance, partition_key=ALL_1D.partition_key,
            asset_selection=[dg.AssetKey("stock_flow")])
    assert result.success
    table = warehouse.table(ALL_1D)
    with warehouse.engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.main_net).where(
            table.c.trade_date == DAY, table.c.code == code)).scalar()
    assert stored == 123456.78
    warehouse.dispose()


def test_a_minute_with_hostile_names_and_gaps_reads_back_as_given_on_mysql_and_sqlite(
        mysql_url, tmp_path):
    """MySQL takes a minute as rendered multi-row INSERTs (not the driver's parameters); what
    it stores must equal what SQLite (the driver's executemany) stores: quotes, backslashes,
    percent signs, control characters, 4-byte UTF-8, NULLs, a whole minute in several chunks."""
    minute, fetched = dt.datetime(2026, 11, 30, 10, 21), dt.datetime(2026, 11, 30, 10, 21, 4, 250000)
    names = ["O'Neil \\ 100%", 'say "hi"', "line\nbreak\r\x1a", "财经🚀", "%s %(x)s", None]
    rows = []
    for i in range(2500):  # more than one chunk of the warehouse's 2,000 rows
        row = {"trade_date": DAY, "code": f"{i:06d}", "minute": minute, "board": None,
               "name": names[i % len(names)], "fetched_at": fetched,
               "price": None if i % 7 == 0 else 10.0 + i / 3, "main_net": -1.5e12 + i}
        rows.append(row)
    stored = {}
    for label, url in (("mysql", mysql_url), ("sqlite", f"sqlite:///{tmp_path / 'wh.db'}")):
        store = IntradayStore(Warehouse(url, chunk_size=2000))
        store.replace_minute("stock", DAY, minute, None, rows, replaced=False)
        stored[label] = sorted(store.read_minute("stock", DAY, minute), key=lambda r: r["code"])
        store.warehouse.dispose()
    assert len(stored["mysql"]) == len(rows)
    assert stored["mysql"] == stored["sqlite"]
    by_code = {r["code"]: r for r in stored["mysql"]}
    assert by_code["000000"]["name"] == "O'Neil \\ 100%" and by_code["000000"]["price"] is None
    assert by_code["000003"]["name"] == "财经🚀" and by_code["000005"]["name"] is None
    assert by_code["000001"]["price"] == 10.0 + 1 / 3 and by_code["000002"]["main_net"] == -1.5e12 + 2
