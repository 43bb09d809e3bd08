"""Issue 3 end to end: the CLI's code path against MariaDB, the S3 server and the fake API."""

from __future__ import annotations

import json

import dagster as dg
import pymysql
import pytest
import sqlalchemy as sa

from findata_assets import trading_calendar as tc
from findata_assets.cli import operations
from findata_assets.cli.main import main, run_policy
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.snapshot import decode
from findata_assets.settings import Settings
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration
TEXT_COLUMNS = {"top_stock_code", "top_stock_name"}


@pytest.fixture
def platform(monkeypatch, mysql_url, s3_env, fake_eastmoney, dagster_home, tmp_path):
    """Environment of a production-like deployment, pointed at the test services."""
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINDATA_DATABASE_URL", mysql_url)
    monkeypatch.setenv("FINDATA_EASTMONEY_URL", fake_eastmoney.url)
    monkeypatch.setenv("FINDATA_EASTMONEY_CONCURRENCY", "8")
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    return fake_eastmoney


def _store():
    import os

    return object_store_from_settings(Settings.from_env(os.environ))


def _expected(fake, spec):
    """The fake's current rows in table form, computed without the project's parser."""
    rows = {}
    for raw in fake.expected_rows(spec):
        rows[raw["f12"]] = {
            col: None if raw[field] == "-" else raw[field] if col in TEXT_COLUMNS else float(raw[field])
            for col, field in spec.field_map().items()} | {"name": raw["f14"]}
    return rows


def _assert_table_equals_fake(warehouse, fake, spec, trade_date):
    stored = {r["code"]: r for r in warehouse.read(spec, trade_date)}
    expected = _expected(fake, spec)
    assert set(stored) == set(expected), spec.name
    for code, want in expected.items():
        got = stored[code]
        for col, value in want.items():
            assert got[col] == value, (spec.name, code, col)
    ranks = sorted(r["rank"] for r in stored.values())
    assert ranks == list(range(1, len(stored) + 1)), spec.name


def _all_succeeded(outcomes):
    return all(o.success for o in outcomes), [o.error for o in outcomes if not o.success]


def test_full_refresh_stores_41_tables_and_41_snapshots(platform, mysql_url):
    outcomes = run_policy("full")
    assert _all_succeeded(outcomes)[0], _all_succeeded(outcomes)[1]
    trade_date = platform.trade_date
    # the CLI's full policy ends with the analysis and the report of the collected trade date
    analysis = outcomes[-1]
    assert analysis.job == "analysis_report_job" and analysis.report.startswith("ok:")
    report = _store().get_bytes(f"reports/{trade_date.isoformat()}/report.md").decode()
    # the fake marks its responses: the report of its data says it is synthetic
    assert "合成数据，不是真实行情" in report
    warehouse = Warehouse(mysql_url)
    for spec in catalog.ALL_TABLES:
        _assert_table_equals_fake(warehouse, platform, spec, trade_date)
    # the materializations name the stores configured (the kinds stay storage-neutral)
    instance = dg.DagsterInstance.get()
    table = instance.fetch_materializations(dg.AssetKey("stock_flow"), limit=1).records[0]
    raw = instance.fetch_materializations(dg.AssetKey("stock_flow_raw"), limit=1).records[0]
    assert table.asset_materialization.metadata["warehouse"].value == warehouse.describe()
    assert "***" in warehouse.describe() or "@" not in warehouse.describe()
    assert raw.asset_materialization.metadata["archive"].value == _store().describe()
    # each partition's materialization holds its own numbers, never the run's totals
    stock_run = outcomes[0].run_id
    partitions = {r.asset_materialization.partition: r.asset_materialization.metadata
                  for r in instance.fetch_materializations(dg.AssetKey("stock_flow"),
                                                           limit=100).records
                  if r.run_id == stock_run}
    assert len(partitions) == 32
    stored_rows = 0
    for partition, metadata in partitions.items():
        spec = catalog.table_for_partition("stock", partition)
        stored = len(warehouse.read(spec, trade_date))
        stored_rows += stored
        assert metadata["table"].value == spec.name
        assert metadata["dagster/row_count"].value == stored == metadata["rows"].value
        assert 0 < metadata["store_seconds"].value < outcomes[0].seconds
        assert not {"store_seconds_by_table", "rows_stored"} & set(metadata), partition
    [summary] = [e.message for e in instance.all_logs(stock_run)
                 if e.message.startswith("stored 32 table(s)")]
    assert f"{stored_rows:,} rows" in summary  # the run's total, once, in its log
    keys = _store().list_keys("raw/")
    assert len(keys) == 41
    # stock run, sector run (each stores its intraday minute), analysis run
    assert [o.job for o in outcomes] == ["stock_flow_job", "sector_flow_job",
                                         "analysis_report_job"]
    assert {k.split("/")[1] for k in keys} == {t.name for t in catalog.ALL_TABLES}
    assert all(k.split("/")[2] == trade_date.isoformat() for k in keys)

    # again: no duplicate rows, and the archive keeps every snapshot
    outcomes = run_policy("full", with_analysis=False)
    assert [o.job for o in outcomes] == ["stock_flow_job", "sector_flow_job"]
    assert _all_succeeded(outcomes)[0]
    for spec in (catalog.table("stock", "all", "1d"), catalog.table("sector", "concept", "5d")):
        _assert_table_equals_fake(warehouse, platform, spec, trade_date)
    assert len(_store().list_keys("raw/")) == 82

    # a second trade date adds rows beside the first (an earlier session: a later one would
    # carry f124 values from the future, which the client rightly refuses to date by)
    other_day = tc.previous_trading_day(trade_date)
    platform.set_trade_date(other_day)
    assert _all_succeeded(run_policy("incremental"))[0]
    spec = catalog.table("stock", "sh_a", "1d")
    assert warehouse.trade_dates(spec) == [other_day, trade_date]
    _assert_table_equals_fake(warehouse, platform, spec, other_day)
    assert len(warehouse.read(spec, trade_date)) > 0
    untouched = catalog.table("stock", "sh_a", "3d")  # not in the incremental policy
    assert warehouse.trade_dates(untouched) == [trade_date]
    warehouse.dispose()


def _check_evaluations(run_id: str) -> dict[str, object]:
    instance = dg.DagsterInstance.get()
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    return {r.event_log_entry.dagster_event.event_specific_data.check_name:
            r.event_log_entry.dagster_event.event_specific_data for r in records}


def test_one_unparsable_cell_is_stored_null_a_warn_check_names_it_and_41_tables_land(
        platform, mysql_url):
    concept_5d = catalog.table("sector", "concept", "5d")
    board = platform.expected_rows(concept_5d)[2]["f12"]
    # f164 (5-day main net) exists only in the 5-day tables, and boards only in sector tables
    platform.set_overrides([(board, "f164", "NaN")])
    outcomes = run_policy("full", with_analysis=False)
    assert _all_succeeded(outcomes)[0], _all_succeeded(outcomes)[1]
    assert sum(len(o.tables) for o in outcomes) == 41
    warehouse = Warehouse(mysql_url)
    day = platform.trade_date
    for spec in catalog.ALL_TABLES:
        if spec != concept_5d:
            _assert_table_equals_fake(warehouse, platform, spec, day)
    stored = {r["code"]: r for r in warehouse.read(concept_5d, day)}
    assert len(stored) == len(platform.expected_rows(concept_5d))
    assert stored[board]["main_net"] is None and stored[board]["main_pct"] is not None
    warehouse.dispose()
    sector_run = next(o for o in outcomes if o.job == "sector_flow_job")
    checks = _check_evaluations(sector_run.run_id)
    parse = checks["values_parse"]
    assert not parse.passed and parse.severity == dg.AssetCheckSeverity.WARN
    failures = parse.metadata["failures"].value
    assert failures == {concept_5d.name: {"count": 1, "examples": [
        f"main_net (f164) of {board}: 'NaN'"]}}
    assert checks["complete"].passed
    assert _check_evaluations(next(o.run_id for o in outcomes if o.job == "stock_flow_job"))[
        "values_parse"].passed
    # the raw value stays in the archived snapshot
    [key] = [k for k in _store().list_keys(f"raw/{concept_5d.name}/")]
    archived = decode(key, _store().get_bytes(key))
    assert {r["f12"]: r for r in archived.rows}[board]["f164"] == "NaN"


def test_a_column_mostly_unparsable_is_a_hard_error_naming_table_and_column(platform):
    platform.set_overrides([("*", "f184", "--")])  # 1-day main net share, every stock
    outcomes = run_policy("quick")
    assert not outcomes[0].success
    error = outcomes[0].error
    assert "stock_flow_all_1d: column main_pct (f184) is unparsable in" in error
    assert "refusing to store a column of NULLs" in error and "\n" not in error


class _Killer:
    """Kills the MariaDB connection that sends the first INSERT into `table` (a name), or into
    the `table`-th table (a number) of the `kind` family the store reaches (the stock and sector
    runs of a cycle store side by side)."""

    def __init__(self, mysql_url: str, table: str | int, kind: str = "stock"):
        self.url, self.table, self.thread_ids = sa.engine.make_url(mysql_url), table, []
        self.kind = kind
        self.tables: list[str] = []  # in the order their inserts began
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._on_statement)

    def _on_statement(self, conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip()[:120]
        if not head.upper().startswith("INSERT INTO") or self.thread_ids:
            return
        name = head.split()[2].strip("`")
        if conn.engine.dialect.name != "mysql" or name not in catalog.TABLES_BY_NAME or \
                catalog.TABLES_BY_NAME[name].kind != self.kind:
            return  # Dagster's own storage, or another table
        if name not in self.tables:
            self.tables.append(name)
        if name == self.table or len(self.tables) == self.table:
            thread_id = conn.connection.dbapi_connection.thread_id()
            admin = pymysql.connect(host=self.url.host, port=self.url.port or 3306,
                                    user=self.url.username, password=self.url.password or "")
            with admin.cursor() as c:
                c.execute(f"KILL {int(thread_id)}")
            admin.close()
            self.thread_ids.append(thread_id)

    def remove(self) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._on_statement)


_kill_connection_on_insert_into = _Killer


def test_killed_connection_mid_store_keeps_previous_rows_and_rerun_completes(platform, mysql_url):
    assert _all_succeeded(run_policy("quick"))[0]
    spec = catalog.table("stock", "all", "1d")
    warehouse = Warehouse(mysql_url)
    before = warehouse.read(spec, platform.trade_date)

    platform.advance(5)  # new values, so a half-written store would be visible
    killed = _kill_connection_on_insert_into(mysql_url, spec.name)
    try:
        outcomes = run_policy("quick")
    finally:
        killed.remove()
    assert killed.thread_ids, "the store never reached its insert"
    assert not outcomes[0].success
    assert spec.name in outcomes[0].error or "Lost connection" in outcomes[0].error \
        or "server has gone away" in outcomes[0].error.lower()
    after_failure = warehouse.read(spec, platform.trade_date)
    assert after_failure == before  # the failed store left the table exactly as it was

    assert _all_succeeded(run_policy("quick"))[0]
    _assert_table_equals_fake(warehouse, platform, spec, platform.trade_date)
    assert warehouse.read(spec, platform.trade_date) != before
    warehouse.dispose()


def test_a_store_killed_part_way_records_what_committed_and_retry_stores_the_rest(
        platform, mysql_url, capsys):
    """Issue 11, item 3: a database connection killed at the 10th of 32 stock tables."""
    stock = list(catalog.STOCK_TABLES)
    killed = _kill_connection_on_insert_into(mysql_url, 10)
    try:
        outcomes = run_policy("full", with_analysis=False)
    finally:
        killed.remove()
    stock_run = outcomes[0]
    assert killed.thread_ids and not stock_run.success
    committed, victim = killed.tables[:9], killed.tables[9]
    stored = {t.table for t in stock_run.tables}
    assert stored == set(committed)  # the CLI counts what committed
    assert f"9 of 32 tables stored, 23 not stored ({victim}, " in stock_run.error
    assert "the transaction was rolled back and the previous rows are intact" in stock_run.error
    assert "Lost connection" in stock_run.error or "gone away" in stock_run.error.lower()
    instance = dg.DagsterInstance.get()
    assert operations.tables_stored(instance, stock_run.run_id) == 9  # so does `run status`
    warehouse = Warehouse(mysql_url)
    for name in committed:
        _assert_table_equals_fake(warehouse, platform, catalog.TABLES_BY_NAME[name],
                                  platform.trade_date)
    assert not warehouse.trade_dates(catalog.TABLES_BY_NAME[victim])

    requests = platform.request_count
    assert main(["retry", stock_run.run_id]) == 0
    printed = capsys.readouterr().out
    assert platform.request_count == requests  # from the archive: the API is not called
    assert "stock_flow_job: ok" in printed
    for spec in stock:
        _assert_table_equals_fake(warehouse, platform, spec, platform.trade_date)
    retry = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": stock_run.run_id}))
    assert len(retry) == 1 and retry[0].status == dg.DagsterRunStatus.SUCCESS
    assert retry[0].remote_job_origin.location_name == "findata"
    warehouse.dispose()


def test_embedded_defaults_sqlite_and_local_folder(monkeypatch, fake_eastmoney, dagster_home,
                                                    tmp_path, capsys):
    for name in ("FINDATA_DATABASE_URL", "FINDATA_S3_ENDPOINT", "FINDATA_S3_BUCKET",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("FINDATA_HOME", str(home))
    monkeypatch.setenv("FINDATA_EASTMONEY_URL", fake_eastmoney.url)
    report = tmp_path / "out.json"
    assert main(["quick", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "stock_flow_all_1d" in printed and "1 tables" in printed
    outcome = json.loads(report.read_text())
    spec = catalog.table("stock", "all", "1d")
    assert outcome["runs"][0]["tables"][0]["rows"] == len(fake_eastmoney.expected_rows(spec))
    warehouse = Warehouse(f"sqlite:///{home / 'findata.db'}")
    _assert_table_equals_fake(warehouse, fake_eastmoney, spec, fake_eastmoney.trade_date)
    archived = list((home / "archive" / "raw" / spec.name).rglob("*.json.zst"))
    assert len(archived) == 1
    snapshot = decode(archived[0].name, archived[0].read_bytes())
    assert snapshot.total == len(fake_eastmoney.expected_rows(spec))
    warehouse.dispose()


def test_a_scheduled_run_takes_no_step_retry_that_would_start_after_its_lanes_next_tick(
        platform, dagster_home, monkeypatch):
    """A quick tick's crawl that fails near the next tick is not retried by the step: the next
    tick fetches afresh, and a retry would only hold the lane ("lane busy" for that tick)."""
    from datetime import datetime, timedelta

    from findata_assets.defs.location import location
    from findata_assets.defs.metadata_keys import RETRY_BEFORE_TAG
    from findata_assets.defs.refresh.planning import plan_runs
    from findata_assets.defs.refresh.policies import POLICIES

    monkeypatch.setenv("FINDATA_EASTMONEY_MAX_ATTEMPTS", "2")
    platform.set_faults(1.0, ["503"])
    [planned] = plan_runs(POLICIES["quick"], "quick-20260302T1001")
    # already past: any retry delay (10 s +- 10 s of jitter) would start after it
    retry_before = (datetime.now(tc.TZ) - timedelta(seconds=1)).isoformat(timespec="seconds")
    with dg.DagsterInstance.get() as instance:
        result = location().resolve_job_def(planned.job_name).execute_in_process(
            instance=instance, tags={**planned.tags, RETRY_BEFORE_TAG: retry_before},
            raise_on_error=False)
        assert not result.success
        events = instance.all_logs(result.run_id)
    kinds = [e.dagster_event.event_type for e in events if e.dagster_event]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds  # the step gave up at once
    assert kinds.count(dg.DagsterEventType.STEP_FAILURE) == 1
    said = [e.user_message for e in events if "no step retry" in (e.user_message or "")]
    assert said and f"would start after {retry_before[11:19]}" in said[0], said
    assert "HTTP 503" in said[0]
