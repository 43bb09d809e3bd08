"""fund_flow_analysis + fund_flow_report as Dagster assets: materialized for a trade date against
stored warehouse rows with the fake LLM (SQLite + local folder, MariaDB + S3), degraded without a
key or during an outage, skipped on a day without data, and backfilled over several days. The
key must not appear in any object, SQL row, metadata, event, log line or Dagster storage file."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
import zstandard

from findata_assets import trading_calendar as tc
from findata_assets.analysis import digest as digests
from findata_assets.cli.analysis_run import run_analysis_report
from findata_assets.defs.location import build_analysis_definitions
from findata_assets.defs.analysis.assets import build_analysis_asset
from findata_assets.defs.report.assets import build_report_asset
from findata_assets.defs.report.definitions import ANALYSIS_JOB_NAME
from findata_assets.analysis.history import TABLE_NAME, AnalysisHistory
from findata_assets.defs.trading_days import trading_day_partitions
from findata_assets.eastmoney import catalog
from findata_assets.settings import Settings, SettingsError
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.fake_openai import FakeOpenAI, narrative_for
from findata_assets_tests.flow_rows import make_day, store_day

# a user with history from 2025 on (FINDATA_PARTITIONS_START=2025-01-02)
HISTORY = trading_day_partitions(dt.date(2025, 1, 2))
ANALYSIS_ASSETS = [build_analysis_asset(HISTORY), build_report_asset(HISTORY)]


def ANALYSIS_RESOURCES(environ):  # noqa: N802 (the analysis' resources, as the samples build them)
    return dict(build_analysis_definitions(environ).resources)

KEY = "sk-asset-test-0123456789abcdef"
DAY = dt.date(2026, 3, 10)
ANALYSIS, REPORT = dg.AssetKey("fund_flow_analysis"), dg.AssetKey("fund_flow_report")


@pytest.fixture
def llm():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def env(tmp_path, monkeypatch, llm, dagster_home):
    """Embedded stores under a temp FINDATA_HOME, the fake LLM, the key in the environment."""
    for name in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    values = {"FINDATA_HOME": str(tmp_path / "home"), "FINDATA_LLM_BASE_URL": llm.base_url,
              "FINDATA_LLM_BACKOFF_S": "0.01", "FINDATA_LLM_MAX_RETRIES": "2",
              "FINDATA_LLM_TIMEOUT_S": "5", "DEEPSEEK_API_KEY": KEY}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def stores():
    settings = Settings.from_env(environ())
    return Warehouse(settings.database_url), object_store_from_settings(settings)


def code_location():
    from findata_assets.definitions import build_definitions

    return build_definitions(environ())


def latest(instance, key: dg.AssetKey, day: dt.date) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1).records
    assert records, f"{key.to_user_string()} {day} was not materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def assert_key_absent(instance, store, warehouse, caplog, home: Path) -> None:
    """The key is nowhere: objects, SQL rows, metadata/events, log lines, Dagster's files."""
    for object_key in store.list_keys(""):
        body = store.get_bytes(object_key)
        if object_key.endswith(".zst"):  # an archived snapshot: look inside, not at its bytes
            body = zstandard.ZstdDecompressor().decompress(body)
        assert KEY.encode() not in body, object_key
    with warehouse.engine.connect() as conn:
        for row in conn.execute(sa.text(f"SELECT * FROM {TABLE_NAME}")):
            assert KEY not in json.dumps([str(v) for v in row])
    for record in instance.get_run_records():
        for event in instance.all_logs(record.dagster_run.run_id):
            assert KEY not in repr(event) and KEY not in (event.message or "")
        assert KEY not in json.dumps(record.dagster_run.run_config, default=str)
    assert KEY not in caplog.text
    for path in home.rglob("*"):  # run storage, event log DB, compute logs, snapshots
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_the_job_materializes_analysis_and_report_from_stored_rows(env, llm, dagster_home, caplog):
    warehouse, store = stores()
    store_day(warehouse, make_day(DAY))
    defs = code_location()  # the real code location: flow assets upstream, AllPartitionMapping
    with dg.DagsterInstance.get() as instance, caplog.at_level(logging.DEBUG):
        outcome = run_analysis_report(defs, DAY, instance)
        assert outcome.success and outcome.status == "ok" and outcome.narrative_status == "ok"
        report_path = Path(outcome.report_location)
        assert report_path.is_file()
        assert outcome.report_url == (report_path.parent / "report.html").as_uri()

        expected = digests.compute(digests.load_inputs(warehouse, DAY))
        [request] = llm.requests
        row = AnalysisHistory(warehouse).get(DAY)
        assert row["digest_hash"] == digests.digest_hash(expected)
        assert json.loads(row["digest_json"]) == json.loads(digests.canonical_json(expected))
        assert row["narrative"] == narrative_for(request.body) and row["narrative_status"] == "ok"
        assert (row["model"], row["prompt_version"], row["lang"]) == (
            "deepseek-chat", "ff-narrative-v1", "zh")
        assert row["report_key"] == "reports/2026-03-10/report.md"
        assert json.loads(store.get_bytes("analysis/2026-03-10/digest.json")) == expected
        assert narrative_for(request.body) in report_path.read_text()

        meta = latest(instance, ANALYSIS, DAY)
        assert meta["narrative_status"] == "ok" and meta["llm_model"] == "deepseek-chat"
        assert meta["llm_prompt_version"] == "ff-narrative-v1" and meta["llm_requests_this_run"] == 1
        assert (meta["llm_prompt_tokens"], meta["llm_completion_tokens"]) == (
            row["prompt_tokens"], row["completion_tokens"]) and row["prompt_tokens"] > 0
        assert meta["digest_hash"] == row["digest_hash"]
        report_meta = latest(instance, REPORT, DAY)
        assert report_meta["report_key"] == row["report_key"]
        assert "主力净流入前10" in report_meta["report"]

        # the same day again: same digest, no second payment; one row per day, history upserted
        again = run_analysis_report(defs, DAY, instance)
        assert again.status == "ok" and again.narrative_status == "cached"
        assert len(llm.requests) == 1
        assert latest(instance, ANALYSIS, DAY)["llm_requests_this_run"] == 0
        after = AnalysisHistory(warehouse).get(DAY)
        assert after["created_at"] == row["created_at"] and after["narrative"] == row["narrative"]
        assert AnalysisHistory(warehouse).trade_dates() == [DAY]
        assert_key_absent(instance, store, warehouse, caplog, dagster_home)
    warehouse.dispose()


def test_materialize_on_mariadb_and_s3(env, llm, mysql_url, s3_env, dagster_home, caplog):
    env.setenv("FINDATA_DATABASE_URL", mysql_url)
    for name, value in s3_env.items():
        env.setenv(name, value)
    warehouse, store = stores()
    store_day(warehouse, make_day(DAY, n_stocks=200))
    with dg.DagsterInstance.get() as instance, caplog.at_level(logging.DEBUG):
        result = dg.materialize(ANALYSIS_ASSETS, partition_key=DAY.isoformat(),
                                resources=ANALYSIS_RESOURCES(environ()), instance=instance)
        assert result.success
        row = AnalysisHistory(warehouse).get(DAY)
        assert row["narrative_status"] == "ok" and len(llm.requests) == 1
        assert row["digest_hash"] == digests.digest_hash(
            digests.compute(digests.load_inputs(warehouse, DAY)))
        report = latest(instance, REPORT, DAY)
        assert report["report_location"] == (
            f"s3://{s3_env['FINDATA_S3_BUCKET']}/reports/2026-03-10/report.md")
        assert store.exists("analysis/2026-03-10/digest.json")
        assert len(store.list_keys("reports/2026-03-10/charts/")) == 3
        assert httpx.get(report["report_url"], timeout=10).text == store.get_bytes(
            "reports/2026-03-10/report.html").decode()
        assert_key_absent(instance, store, warehouse, caplog, dagster_home)
    warehouse.dispose()


def test_without_a_key_the_digest_and_report_still_materialize(env, llm, dagster_home):
    env.delenv("DEEPSEEK_API_KEY")
    warehouse, store = stores()
    store_day(warehouse, make_day(DAY, n_stocks=120))
    with dg.DagsterInstance.get() as instance:
        outcome = run_analysis_report(code_location(), DAY, instance)
        assert outcome.status == "ok" and outcome.narrative_status == "skipped"
        meta = latest(instance, ANALYSIS, DAY)
        assert "DEEPSEEK_API_KEY is not set" in meta["narrative_detail"]
        assert "narrative" not in meta
    assert llm.requests == []
    assert "本期未生成 AI 解读" in Path(outcome.report_location).read_text()
    warehouse.dispose()


def test_an_llm_outage_degrades_loudly_then_recovers(env, llm, dagster_home, caplog):
    llm.set_failure(503)
    llm.echo_auth = True  # the failing provider quotes the Authorization header
    warehouse, store = stores()
    store_day(warehouse, make_day(DAY, n_stocks=120))
    defs = code_location()
    with dg.DagsterInstance.get() as instance, caplog.at_level(logging.DEBUG):
        outcome = run_analysis_report(defs, DAY, instance)
        assert outcome.status == "ok" and outcome.narrative_status == "failed"
        assert len(llm.requests) == 3  # 1 + FINDATA_LLM_MAX_RETRIES
        meta = latest(instance, ANALYSIS, DAY)
        assert "HTTP 503" in meta["narrative_detail"] and "Authorization" in meta["narrative_detail"]
        warnings = [e for e in instance.all_logs(outcome.run_id)
                    if e.level == logging.WARNING and "LLM NARRATIVE FAILED" in (e.message or "")]
        assert warnings
        llm.set_failure(None)
        llm.echo_auth = False
        recovered = run_analysis_report(defs, DAY, instance)  # a failure is not cached
        assert recovered.narrative_status == "ok" and len(llm.completions) == 1
        assert_key_absent(instance, store, warehouse, caplog, dagster_home)
    warehouse.dispose()


def test_a_day_without_rows_is_skipped_with_its_reason(env, llm, dagster_home):
    warehouse, _ = stores()
    store_day(warehouse, make_day(DAY, n_stocks=60))
    empty = dt.date(2026, 3, 11)
    with dg.DagsterInstance.get() as instance:
        outcome = run_analysis_report(code_location(), empty, instance)
        assert outcome.success  # the run (and a backfill around it) stays green
        reason = "skipped: no rows for 2026-03-11 in stock_flow_all_1d"
        assert outcome.status == reason and outcome.report_key is None
        observations = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=ANALYSIS, asset_partitions=["2026-03-11"]), limit=5)
        assert [o.asset_observation.metadata["status"].value for o in observations.records] == [reason]
        events = instance.all_logs(outcome.run_id)
        assert any(e.dagster_event and e.dagster_event.event_type_value == "STEP_SKIPPED"
                   and e.step_key == "fund_flow_report" for e in events)
        materialized = instance.get_materialized_partitions(ANALYSIS)
        assert "2026-03-11" not in materialized  # still missing: a later run can fill it
    assert llm.requests == []
    warehouse.dispose()


def test_a_backfill_rebuilds_every_trading_day_from_history(env, llm, dagster_home):
    warehouse, store = stores()
    stored_days = [dt.date(2026, 3, 9), dt.date(2026, 3, 10), dt.date(2026, 3, 12)]
    for seed, day in enumerate(stored_days):
        store_day(warehouse, make_day(day, n_stocks=80, n_sectors=20, seed=seed))
    keys = HISTORY.get_partition_keys_in_range(
        dg.PartitionKeyRange("2026-03-09", "2026-03-12"))
    assert keys == ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12"]
    defs = code_location()
    with dg.DagsterInstance.get() as instance:
        # what a backfill launches: one run of the job per partition
        outcomes = [run_analysis_report(defs, dt.date.fromisoformat(k), instance) for k in keys]
    assert [o.status for o in outcomes] == [
        "ok", "ok", "skipped: no rows for 2026-03-11 in stock_flow_all_1d", "ok"]
    history = AnalysisHistory(warehouse)
    assert history.trade_dates() == stored_days
    assert len({history.get(d)["digest_hash"] for d in stored_days}) == 3
    assert len(llm.completions) == 3
    assert {k.split("/")[1] for k in store.list_keys("reports/")} == {d.isoformat() for d in stored_days}
    warehouse.dispose()


def test_the_job_and_its_partitions_in_the_code_location(env):
    env.setenv("FINDATA_PARTITIONS_START", "2025-01-02")
    defs = code_location()
    job = defs.resolve_job_def(ANALYSIS_JOB_NAME)
    assert job.partitions_def == HISTORY
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "fund_flow_analysis", "fund_flow_report"}
    keys = HISTORY.get_partition_keys()
    assert "2026-03-10" in keys and "2026-10-01" not in keys and "2026-03-14" not in keys
    graph = defs.resolve_asset_graph()
    assert graph.get(ANALYSIS).parent_keys == {dg.AssetKey("stock_flow"), dg.AssetKey("sector_flow")}
    assert graph.get(REPORT).parent_keys == {ANALYSIS}
    from findata_assets.definitions import location  # the automation registers it
    module_defs = location()
    assert "analysis_after_full_refresh" in {s.name for s in module_defs.sensors}


def _partition_keys(defs: dg.Definitions) -> list[str]:
    return defs.resolve_job_def(ANALYSIS_JOB_NAME).partitions_def.get_partition_keys()


def test_the_trading_day_partitions_start_at_the_first_day_collected(env):
    latest = tc.latest_trading_day(dt.datetime.now(tc.TZ))
    collectable = tc.previous_trading_day(latest)
    # nothing collected yet: the days a refresh now could still fill (the latest, or just after
    # the open the one before), and today's when it is a trading day
    nothing = _partition_keys(code_location())
    assert nothing[0] == collectable.isoformat() and len(nothing) <= 3
    warehouse, _ = stores()
    assert warehouse.first_trade_date(catalog.table("stock", "all", "1d")) is None
    store_day(warehouse, make_day(DAY, n_stocks=30, n_sectors=5))
    keys = _partition_keys(code_location())  # a user who started collecting on 2026-03-10
    assert keys[0] == "2026-03-10" and keys[-1] >= collectable.isoformat()
    assert keys == [d.isoformat() for d in tc.trading_days(DAY, dt.date.fromisoformat(keys[-1]))]
    # the daily history reaches further back: the partitions start at its first day, and the
    # history's own partitions at the oldest day the source still serves
    from findata_assets.history.sessions import source_first_day
    from findata_assets.storage.daily_flow import COLUMNS, DailyFlowStore

    row = dict.fromkeys(COLUMNS)
    row.update(trade_date=dt.date(2026, 3, 5), code="600000", kind="stock", source="kline",
               fetched_at=dt.datetime(2026, 12, 1, 16, 0))
    DailyFlowStore(warehouse).upsert([row])
    defs = code_location()
    assert _partition_keys(defs)[0] == "2026-03-05"
    history = defs.resolve_job_def("daily_history_job").partitions_def.get_partition_keys()
    assert history[0] == min(dt.date(2026, 3, 5), source_first_day()).isoformat()
    # the setting wins, earlier (history imported from elsewhere) or later
    env.setenv("FINDATA_PARTITIONS_START", "2026-03-02")
    assert _partition_keys(code_location())[0] == "2026-03-02"
    warehouse.dispose()


def test_a_location_built_before_an_earlier_first_day_is_built_again(env):
    from findata_assets.defs.location import location, location_covering

    before = location()  # nothing collected yet: the partitions start near today
    assert DAY.isoformat() not in _partition_keys(before)
    assert location_covering(before, set(_partition_keys(before))) is before  # covered: kept
    warehouse, _ = stores()
    store_day(warehouse, make_day(DAY, n_stocks=30, n_sectors=5))  # a cycle stored that day
    after = location_covering(before, {DAY.isoformat()})
    assert after is not before and _partition_keys(after)[0] == DAY.isoformat()
    assert location() is after  # the cached location is the new one
    warehouse.dispose()


def test_a_database_down_at_load_still_loads_the_location_and_says_so(env, caplog):
    env.setenv("FINDATA_DATABASE_URL", "mysql+pymysql://findata:s3cret-pw@127.0.0.1:9/findata")
    env.setenv("FINDATA_DATABASE_TIMEOUT_S", "2")
    with caplog.at_level(logging.WARNING):
        keys = _partition_keys(code_location())
    assert keys[0] == tc.previous_trading_day(tc.latest_trading_day(dt.datetime.now(tc.TZ))).isoformat()
    [warning] = [r.getMessage() for r in caplog.records if "first collected day" in r.getMessage()]
    assert "FINDATA_PARTITIONS_START" in warning and "s3cret-pw" not in warning


def test_a_bad_partitions_start_is_one_clear_error(env):
    env.setenv("FINDATA_PARTITIONS_START", "2026/03/10")
    with pytest.raises(SettingsError, match=r"^FINDATA_PARTITIONS_START must be a date \(YYYY-MM-DD\), got '2026/03/10'"):
        code_location()


@pytest.mark.parametrize("name,value", [
    ("FINDATA_REPORT_LANG", "fr"), ("FINDATA_REPORT_URL_EXPIRY_S", "0"),
    ("FINDATA_REPORT_URL_EXPIRY_S", "604801"), ("FINDATA_LLM_BASE_URL", "api.deepseek.com"),
    ("FINDATA_LLM_MAX_RETRIES", "many"),
])
def test_bad_analysis_settings_fail_at_load_naming_the_variable(env, name, value):
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        ANALYSIS_RESOURCES(environ())


def test_resource_defaults_and_the_key_as_env_var(env):
    env.delenv("FINDATA_LLM_BASE_URL")
    resources = ANALYSIS_RESOURCES(environ())
    llm_res = resources["llm"]
    assert (llm_res.base_url, llm_res.model) == ("https://api.deepseek.com", "deepseek-chat")
    assert isinstance(llm_res.api_key, dg.EnvVar) and llm_res.api_key == "DEEPSEEK_API_KEY"
    assert KEY not in repr(resources)
    assert (resources["report_settings"].lang, resources["report_settings"].url_expiry_s) == (
        "zh", 604800)
    env.delenv("DEEPSEEK_API_KEY")
    assert ANALYSIS_RESOURCES(environ())["llm"].api_key is None
