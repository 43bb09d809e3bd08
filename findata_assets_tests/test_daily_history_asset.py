"""The daily history as Dagster assets: one run over a partition range fetches each security once
and gives every day's partition of the three assets its own metadata (expected, stored, without
a line, failed); the agreement check; a ban goes to the alert webhook once, credential-free; a
background run waits for the close while the session is open."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.defs.history.assets import (
    AGREEMENT_CHECK, ASSETS, DELISTED_NOTE, build_history_asset)
from findata_assets.defs.history.resources import HistoryResource
from findata_assets.defs.storage.resources import store_resources
from findata_assets.defs.trading_days import trading_day_partitions
from findata_assets.history import sessions
from findata_assets.history.sessions import last_closed_session
from findata_assets.settings import Settings
from findata_assets_tests.test_sensors import WebhookReceiver

pytestmark = [pytest.mark.integration]
AS_OF = last_closed_session()
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _start(n: int) -> dt.date:
    day = AS_OF
    for _ in range(n - 1):
        day = tc.previous_trading_day(day)
    return day


@pytest.fixture
def fake(start_fake_eastmoney):
    return start_fake_eastmoney(scale=0.02, frozen=True, trade_date=AS_OF)


def _materialize(fake, mysql_url, s3_env, start: dt.date, instance, monkeypatch, **history):
    environ = {**s3_env, "FINDATA_DATABASE_URL": mysql_url}
    for name, value in environ.items():  # the resources read secrets as dg.EnvVar at run time
        monkeypatch.setenv(name, value)
    stores = store_resources(Settings.from_env(environ))
    options = {"concurrency": 2, "min_interval_ms": 0, "window": "always", **history}
    resources = {**stores, "history": HistoryResource(url=fake.kline_url, ranking_url=fake.url,
                                                      **options)}
    asset = build_history_asset(trading_day_partitions(_start(130)))
    return dg.materialize([asset], resources=resources, instance=instance,
                          tags={RANGE[0]: start.isoformat(), RANGE[1]: AS_OF.isoformat()})


def _day_metadata(instance, name: str, day: dt.date) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[day.isoformat()]),
        limit=1).records
    assert records, f"no materialization of {name} {day}"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_one_run_fills_every_day_of_the_range_with_its_own_metadata(
        fake, mysql_url, s3_env, monkeypatch):
    receiver = WebhookReceiver()
    monkeypatch.setenv("FINDATA_ALERT_WEBHOOK", receiver.url)
    fake.set_ban(30, window_s=60, cooldown_s=0.8)
    start = _start(5)
    with dg.instance_for_test() as instance:
        result = _materialize(fake, mysql_url, s3_env, start, instance, monkeypatch,
                              ban_cooldown_s=0.3,
                              ban_max_cooldown_s=1.0)
        assert result.success
        assert len(instance.get_runs()) == 1  # the whole range in one run
        assert set(fake.kline_answers.values()) == {1}  # each security fetched once
        days = [d for d in tc.trading_days(start, AS_OF)]
        for day in days:
            for kind, name in ASSETS.items():
                meta = _day_metadata(instance, name, day)
                assert meta["trade_date"] == day.isoformat()
                assert meta["expected_means"] == DELISTED_NOTE
                assert meta["stored"] + meta["without_line"] + meta["failed"] == meta["expected"]
                assert meta["dagster/row_count"] == meta["stored"]
            stocks = _day_metadata(instance, ASSETS["stock"], day)
            served = sum(1 for k in fake.klines.secids() if not k.startswith(("90.", "1.000001&"))
                         for line in fake.daily_lines(k) or [] if line[:10] == day.isoformat())
            assert stocks["stored"] == served and stocks["parquet_key"].endswith(
                f"trade_date={day.isoformat()}/part-0.parquet")
        assert _day_metadata(instance, ASSETS["market"], AS_OF)["stored"] == 1
        check = result.get_asset_check_evaluations()[0]
        assert check.check_name == AGREEMENT_CHECK and check.passed  # nothing to compare: passes
        # the ban: one alert per ban, the webhook's token never in it
        bans = fake.stats()["bans_started"]
        assert bans >= 1
        titles = [p["markdown"]["title"] for p in receiver.posts]
        assert titles.count("findata history: the source banned this address; the lane waits") \
            == bans
        assert all("tok123456" not in p["text"] for p in receiver.posts)
    receiver.close()


def test_a_background_run_waits_for_the_close_while_the_session_is_open(
        fake, mysql_url, s3_env, monkeypatch):
    # the session is open for the next 0.6 s: the run waits, says so, then fetches
    opened = {"until": None}

    def fake_seconds_to_close(now=None):
        import time
        if opened["until"] is None:
            opened["until"] = time.monotonic() + 0.6
        left = opened["until"] - time.monotonic()
        return left if left > 0 else None

    monkeypatch.setattr(sessions, "seconds_to_close", fake_seconds_to_close)
    import findata_assets.history.backfill as backfill_module
    monkeypatch.setattr(backfill_module, "seconds_to_close", fake_seconds_to_close)
    with dg.instance_for_test() as instance:
        result = _materialize(fake, mysql_url, s3_env, _start(2), instance, monkeypatch,
                              window="outside_session")
        assert result.success
        logs = " ".join(e.message or "" for e in instance.all_logs(result.run_id))
        assert "history:" in logs and "wait" in logs.lower()
        assert opened["until"] is not None  # asked, and the fetch went on after the wait
        assert set(fake.kline_answers.values()) == {1}
