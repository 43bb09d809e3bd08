"""The daily history backfill end to end: the fake's kline endpoint over real HTTP, real MariaDB,
a real S3 server (SeaweedFS). Every line served is stored once per security and day; a watched
close comes from the platform's snapshot and is compared with the source's line; a backfill
killed in the middle resumes without fetching any security twice; a ban pauses the lane, is
said once and costs nothing."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney.client import EastmoneyClient
from findata_assets.eastmoney.parsing import parse_table
from findata_assets.fake_eastmoney.klines import kline_params
from findata_assets.history.backfill import Backfill
from findata_assets.history.securities import BOARD_TABLES, STOCK_TABLE
from findata_assets.history.sessions import last_closed_session
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.settings import Settings
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.settings.history import HistorySettings
from findata_assets.storage import daily_files
from findata_assets.storage.daily_flow import COLUMNS, MARKET_CODE, DailyFlowStore
from findata_assets.storage.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AS_OF = last_closed_session()
SCALE = 0.02  # ~120 securities: every kind of profile, seconds not minutes
VALUES = [c for c in COLUMNS if c not in ("fetched_at", "source")]


def _days(n: int) -> tuple[dt.date, dt.date]:
    start = AS_OF
    for _ in range(n - 1):
        start = tc.previous_trading_day(start)
    return start, AS_OF


@pytest.fixture
def fake(start_fake_eastmoney):
    return start_fake_eastmoney(scale=SCALE, frozen=True, trade_date=AS_OF)


def _stores(mysql_url: str, s3_env: dict):
    settings = Settings.from_env({**s3_env, "FINDATA_DATABASE_URL": mysql_url})
    return Warehouse(mysql_url), object_store_from_settings(settings)


def _settings(fake, **history) -> tuple[HistorySettings, EastmoneySettings]:
    options = {"concurrency": 4, "min_interval_ms": 0, **history}
    return (HistorySettings(url=fake.kline_url, **options),
            EastmoneySettings(base_url=fake.url, max_attempts=3, page_deadline_s=5))


def _served(fake, start: dt.date, end: dt.date) -> dict[tuple[dt.date, str], list[str]]:
    """(day, code) -> the line the fake serves, for every security and day in [start, end]."""
    out = {}
    for key in fake.klines.secids():
        params = kline_params(key)
        code = MARKET_CODE if "secid2" in params else params["secid"].split(".", 1)[1]
        for line in fake.daily_lines(key) or []:
            day = dt.date.fromisoformat(line[:10])
            if start <= day <= end:
                out[(day, code)] = line.split(",")
    return out


def _stored(warehouse: Warehouse, start: dt.date, end: dt.date) -> dict[tuple, tuple]:
    rows = DailyFlowStore(warehouse).read(start=start, end=end, columns=VALUES + ["source"])
    return {(r[0], r[1]): r for r in rows}


def _assert_rows_are_the_lines(stored: dict, served: dict) -> None:
    assert set(stored) == set(served), (len(stored), len(served))
    index = {c: i for i, c in enumerate(VALUES)}
    for key, line in served.items():
        row = stored[key]
        assert row[index["main_net"]] == float(line[1]) and row[index["small_net"]] == float(line[2])
        assert row[index["super_large_pct"]] == float(line[10]), key
        assert row[index["close"]] == float(line[11]) and row[index["change_pct"]] == float(line[12])


def test_a_backfill_stores_every_line_once_and_files_each_day(fake, mysql_url, s3_env):
    warehouse, store = _stores(mysql_url, s3_env)
    start, end = _days(6)
    result = Backfill(warehouse, store, *_settings(fake)).run(start, end)
    served = _served(fake, start, end)
    stored = _stored(warehouse, start, end)
    _assert_rows_are_the_lines(stored, served)
    assert {r[-1] for r in stored.values()} == {"kline"}  # nothing watched: all from the source
    # each security asked once (the universe came from the ranking: no snapshot was stored)
    assert set(fake.kline_answers) == set(fake.klines.secids())
    assert set(fake.kline_answers.values()) == {1}
    assert result.fetched == len(fake.klines.secids()) and not result.failed
    # per day: stored == lines served; expected - stored - failed = securities without a line
    for report in result.days:
        lines = sum(1 for day, _ in served if day == report.day)
        assert report.total_stored == lines
        stocks = sum(1 for k in fake.klines.secids() if not k.startswith(("90.", "1.000001&")))
        assert report.expected["stock"] == stocks
        assert report.without_line("stock") == stocks - report.stored["stock"]
        # the day's Parquet file holds exactly the day's rows
        table, missing = daily_files.read_days(store, [report.day])
        assert not missing and table.num_rows == lines == report.parquet.rows
    suspended = fake.klines.of_kind("suspended")[0]
    code = suspended.split(".", 1)[1]
    assert (AS_OF, code) not in stored  # a suspended stock has no row on its last session
    warehouse.dispose()


def _store_close_snapshots(fake, warehouse: Warehouse) -> None:
    """The 1d tables of the fake's session, fetched now (after its close): a watched close."""
    with EastmoneyClient(fake.url) as client:
        specs = [STOCK_TABLE, *BOARD_TABLES.values()]
        for spec, snapshot in zip(specs, client.fetch_tables(specs).values()):
            warehouse.store(spec, parse_table(spec, snapshot).rows)


def test_a_watched_close_comes_from_the_snapshot_and_is_checked_against_the_line(
        fake, mysql_url, s3_env):
    warehouse, store = _stores(mysql_url, s3_env)
    _store_close_snapshots(fake, warehouse)
    table = warehouse.table(STOCK_TABLE)
    first = sorted(k.split(".", 1)[1] for k in fake.klines.of_kind("normal")
                   if not k.startswith("90."))[0]
    with warehouse.engine.begin() as conn:  # the platform saw another close for one stock
        conn.execute(table.update().where(table.c.code == first, table.c.trade_date == AS_OF)
                     .values(main_net=table.c.main_net + 1000))
    start, end = _days(3)
    result = Backfill(warehouse, store, *_settings(fake)).run(start, end)
    stored = _stored(warehouse, start, end)
    sources = {key: row[-1] for key, row in stored.items()}
    assert sources[(AS_OF, first)] == "snapshot"
    assert sources[(tc.previous_trading_day(AS_OF), first)] == "kline"
    assert sources[(AS_OF, MARKET_CODE)] == "kline"  # no snapshot holds the indices
    last = result.days[-1]
    assert last.agreement.compared > 50
    assert last.agreement.differing == 1  # only the stock changed on purpose
    assert last.agreement.worst[1:3] == (first, "main_net")
    assert result.days[0].agreement.compared == 0  # no watched close that day
    warehouse.dispose()


def test_a_ban_pauses_the_lane_says_so_once_and_loses_nothing(fake, mysql_url, s3_env):
    warehouse, store = _stores(mysql_url, s3_env)
    fake.set_ban(25, window_s=60, cooldown_s=1.0, kind="drop")
    events = []
    start, end = _days(4)
    history, eastmoney = _settings(fake, concurrency=2, ban_after=3, ban_cooldown_s=0.4,
                                   ban_max_cooldown_s=2.0)
    result = Backfill(warehouse, store, history, eastmoney,
                      on_event=lambda kind, text: events.append((kind, text))).run(start, end)
    bans = fake.stats()["bans_started"]
    assert bans >= 2  # ~120 securities against 25 requests a ban
    assert [k for k, _ in events].count("ban") == bans  # each ban said once
    assert [k for k, _ in events].count("resumed") == bans
    assert not result.failed  # a ban never fails a security
    assert set(fake.kline_answers.values()) == {1}  # ... and nothing answered is asked again
    assert set(fake.kline_answers) == set(fake.klines.secids())
    _assert_rows_are_the_lines(_stored(warehouse, start, end), _served(fake, start, end))
    warehouse.dispose()


def _cli(env: dict, start: dt.date, end: dt.date) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "findata_assets.run", "history", "--start", start.isoformat(),
         "--end", end.isoformat()], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=env["FINDATA_HOME"], text=True)


def test_a_killed_backfill_resumes_without_fetching_anything_twice(
        fake, mysql_url, s3_env, tmp_path: Path, mariadb_url):
    from findata_assets_tests.scratch_databases import temporary_database

    start, end = _days(5)
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    env = {**os.environ, **s3_env, "FINDATA_DATABASE_URL": mysql_url, "FINDATA_HOME": str(home),
           "DAGSTER_HOME": str(home / "dagster"), "FINDATA_EASTMONEY_URL": fake.url,
           "FINDATA_HISTORY_CONCURRENCY": "1", "FINDATA_HISTORY_MIN_INTERVAL_MS": "150"}
    total = len(fake.klines.secids())
    first = _cli(env, start, end)
    deadline = time.monotonic() + 120
    while sum(fake.kline_answers.values()) < total // 2:
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the backfill did not get half way"
        time.sleep(0.01)
    time.sleep(0.06)  # between two requests (150 ms apart): the answer before is archived
    first.send_signal(signal.SIGKILL)
    first.wait()
    answered_first = sum(fake.kline_answers.values())
    assert answered_first < total
    second = _cli(env, start, end)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    assert "daily_history_job" in out and ": ok" in out
    # every security answered exactly once over both runs: the resumed run read the archive
    assert set(fake.kline_answers) == set(fake.klines.secids())
    assert set(fake.kline_answers.values()) == {1}
    resumed = _stored(Warehouse(mysql_url), start, end)
    # the same rows as an uninterrupted backfill into another database
    fake.reset_counts()
    with temporary_database(mariadb_url) as other_url:
        other = Warehouse(other_url)
        _, store = _stores(other_url, {**s3_env, "FINDATA_S3_BUCKET": s3_env[
            "FINDATA_S3_BUCKET"] + "-b"})
        Backfill(other, store, *_settings(fake)).run(start, end)
        straight = _stored(other, start, end)
        other.dispose()
    assert resumed == straight and len(resumed) > 100
    with Warehouse(mysql_url).engine.connect() as conn:  # stored once per security and day
        assert conn.execute(sa.text("SELECT COUNT(*) FROM daily_flow")).scalar() == len(resumed)


def test_a_second_backfill_waits_for_the_lane_and_says_so(fake, mysql_url, s3_env):
    import threading

    from findata_assets.history import lane_lock

    warehouse, store = _stores(mysql_url, s3_env)
    events, done = [], {}
    start, end = _days(2)
    backfill = Backfill(Warehouse(mysql_url), store, *_settings(fake),
                        on_event=lambda kind, text: events.append((kind, text)))
    with lane_lock.hold(warehouse):  # another process's backfill, as far as MariaDB knows
        worker = threading.Thread(target=lambda: done.setdefault("result",
                                                                 backfill.run(start, end)))
        worker.start()
        time.sleep(3)
        assert not fake.kline_requests  # not one request while the lane is held
        assert [k for k, _ in events] == ["waiting"]
        assert "another history backfill holds the lane" in events[0][1]
    worker.join(60)
    assert done["result"].fetched == len(fake.klines.secids())
    warehouse.dispose()


def test_a_wrong_history_url_is_one_line_naming_the_setting(fake, mysql_url, s3_env, tmp_path):
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    env = {**os.environ, **s3_env, "FINDATA_DATABASE_URL": mysql_url, "FINDATA_HOME": str(home),
           "DAGSTER_HOME": str(home / "dagster"), "FINDATA_EASTMONEY_URL": fake.url,
           "FINDATA_HISTORY_URL": fake.url.replace("/api/qt/clist/get", "/wrong/path")}
    start, end = _days(2)
    done = _cli(env, start, end)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 1, out
    assert "HTTP 404" in out and "check FINDATA_HISTORY_URL" in out
    assert "Traceback" not in out and "Stack Trace" not in out  # the trace stays in the run log
    assert not fake.kline_answers  # nothing was answered, nothing stored
