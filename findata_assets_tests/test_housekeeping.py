"""Issue 20, retention end to end on MariaDB, SeaweedFS and a real Dagster instance: the dry run
lists per store what would go; the real run deletes exactly that; a day whose Parquet is
missing, truncated or differs stays in the warehouse (named in one line, its file rebuilt);
full-refresh, manual and old-format snapshots, failed and full-refresh runs and each partition's
latest materialization survive; what went from the warehouse still reads from Parquet."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import orjson
import pandas as pd
import pytest

from findata_assets import reader
from findata_assets import trading_calendar as tc
from findata_assets.cli.main import main as cli_main
from findata_assets.defs.location import build_definitions
from findata_assets.defs.metadata_keys import POLICY_TAG
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.snapshot import Snapshot, archive_key, encode
from findata_assets.housekeeping.plan import carry_out, make_plan
from findata_assets.settings.retention import RetentionSettings
from findata_assets.storage import intraday_history as history
from findata_assets_tests.intraday_rows import store_day

pytestmark = pytest.mark.integration
VERIFIED, TRUNCATED, MISSING, DIFFERS = (dt.date(2026, 11, 20), dt.date(2026, 11, 23),
                                         dt.date(2026, 11, 24), dt.date(2026, 11, 25))
NO_DATA = dt.date(2026, 11, 2)
CODES = [f"{600000 + i}" for i in range(300)]
MINUTES = 4
RETENTION = RetentionSettings(run_days=14, snapshot_days=5, warehouse_days=2)
HISTORY = dg.AssetKey("stock_flow_intraday_history")


def _snapshot(table: str, day: dt.date, second: int, lane: str | None, minute: dt.time,
              suffix: str = ".json.zst", shared_with: tuple[str, ...] = ()) -> Snapshot:
    """A snapshot of `table` fetched at 10:00:<second>, its data minute `minute`."""
    spec = catalog.TABLES_BY_NAME[table]
    fetched = dt.datetime.combine(day, dt.time(10, 0, second), tzinfo=tc.TZ)
    return Snapshot(table=table, kind=spec.kind, group_key=spec.group.key,
                    period_key=spec.period.key, url="", params={}, fetched_at=fetched,
                    updated_at=dt.datetime.combine(day, minute, tzinfo=tc.TZ), trade_date=day,
                    total=0, page_size=100, pages=1, requests=1, shared_with=list(shared_with),
                    rows=[], lane=lane or "unknown")


def _put(archive, snapshot: Snapshot, suffix: str = ".json.zst") -> str:
    key = archive_key(snapshot)
    if snapshot.lane == "unknown":  # a key from before keys named their lane
        key = key.replace(".unknown.json.zst", suffix)
    body = encode(snapshot) if key.endswith(".zst") else orjson.dumps(snapshot.to_json())
    archive.put_bytes(key, body, "application/json")
    return key


@pytest.fixture
def platform(platform_stores):
    intraday, _ = platform_stores
    for day in (VERIFIED, TRUNCATED, MISSING, DIFFERS):
        store_day(intraday, day, CODES, MINUTES)
    return platform_stores


def history_run(instance, day: dt.date, policy: str | None) -> dg.ExecuteInProcessResult:
    """The day's stock history file materialized in a run of `policy`'s lane."""
    job = build_definitions().resolve_job_def("intraday_history_job")
    return job.execute_in_process(partition_key=day.isoformat(), instance=instance,
                                  asset_selection=[HISTORY], raise_on_error=False,
                                  tags={POLICY_TAG: policy} if policy else None)


def _archive_snapshots(archive) -> dict[str, set[str]]:
    """Snapshots of every kind of lane, old and new; what retention may delete and what not."""
    all_1d, sh_a, all_5d = "stock_flow_all_1d", "stock_flow_sh_a_1d", "stock_flow_all_5d"
    in_file = dt.time(9, 31)  # store_day stores 09:30-09:33
    deletable = {_put(archive, _snapshot(all_1d, VERIFIED, 1, "quick", in_file)),
                 _put(archive, _snapshot(all_1d, VERIFIED, 2, "quick", in_file)),
                 # a market's today table from the same pages as 全部股票: its rows are those
                 _put(archive, _snapshot(sh_a, VERIFIED, 3, "incremental", in_file,
                                         shared_with=(all_1d,)))}
    kept = {_put(archive, _snapshot(all_1d, VERIFIED, 4, "full", in_file)),
            _put(archive, _snapshot(all_1d, VERIFIED, 5, "manual", in_file)),
            _put(archive, _snapshot(all_1d, VERIFIED, 6, None, in_file), ".json"),
            _put(archive, _snapshot(all_1d, VERIFIED, 7, "quick", dt.time(14, 0))),  # not filed
            _put(archive, _snapshot(sh_a, VERIFIED, 8, "incremental", in_file)),  # fetched apart
            _put(archive, _snapshot(all_5d, VERIFIED, 9, "incremental", in_file)),
            _put(archive, _snapshot(all_1d, TRUNCATED, 1, "quick", in_file)),  # not verified
            _put(archive, _snapshot(all_1d, dt.datetime.now(tc.TZ).date(), 1, "quick", in_file))}
    return {"deletable": deletable, "kept": kept}


def test_housekeeping_deletes_exactly_what_its_dry_run_listed(platform, capsys, monkeypatch):
    intraday, archive = platform
    snapshots = _archive_snapshots(archive)
    with dg.DagsterInstance.get() as instance:
        full = history_run(instance, VERIFIED, "full")
        superseded = history_run(instance, VERIFIED, "quick")
        latest = history_run(instance, VERIFIED, "quick")
        failed = history_run(instance, NO_DATA, "quick")  # no minute anywhere: fails
        for day in (TRUNCATED, DIFFERS):
            assert history_run(instance, day, "incremental").success
        assert full.success and superseded.success and latest.success and not failed.success
        before = reader.intraday("600123", VERIFIED)
        # a truncated file, and one whose values differ from the warehouse
        body = archive.get_bytes(history.history_key("stock", TRUNCATED))
        archive.put_bytes(history.history_key("stock", TRUNCATED), body[: len(body) // 2])
        changed = [list(r) for r in intraday.read_day("stock", DIFFERS, history.FILE_COLUMNS)]
        changed[3][history.FILE_COLUMNS.index("small_net")] = -1.0
        history.write_day(archive, "stock", DIFFERS, history.to_arrow(changed))

        # runs ended just now: seen from three weeks on, they are past the 14-day window
        now = dt.datetime.now(tc.TZ) + dt.timedelta(days=21)
        dry = make_plan(instance, intraday, archive, RETENTION, now)
        lines = dry.summary_lines()
        assert [(d.kind, d.day) for d in dry.warehouse.delete] == [("stock", VERIFIED)]
        kept = {d.day: d.reason for d in dry.warehouse.kept_unverified}
        assert set(kept) == {TRUNCATED, MISSING, DIFFERS}
        assert "truncated" in kept[TRUNCATED] and "missing" in kept[MISSING]
        assert "small_net of" in kept[DIFFERS] and all("\n" not in r for r in kept.values())
        assert set(dry.snapshots.delete) == snapshots["deletable"]
        assert set(dry.runs.run_ids) == {superseded.run_id}
        assert lines[0].startswith("warehouse: 1 intraday day(s) to delete, 1,200 rows")
        assert any(line.startswith("archive: 3 raw snapshots to delete (incremental 1, quick 2)")
                   for line in lines), lines
        assert dry.snapshots.kept["its minute is not in the day's history file"] == 1
        assert dry.snapshots.kept["not in the intraday history (fetched apart from its source)"] \
            == 1

        # the real run, planned again: the same; then it deletes exactly that
        plan = make_plan(instance, intraday, archive, RETENTION, now)
        # (the same plan; byte figures of InnoDB are estimates that its statistics move)
        assert [(d.kind, d.day, d.rows) for d in plan.warehouse.delete] == [
            (d.kind, d.day, d.rows) for d in dry.warehouse.delete]
        assert plan.snapshots.delete == dry.snapshots.delete
        assert plan.runs.run_ids == dry.runs.run_ids
        logged = []
        result = carry_out(plan, instance, intraday, archive, logged.append)

        assert intraday.stored_days("stock") == [TRUNCATED, MISSING, DIFFERS]
        assert result.warehouse.deleted_rows == len(CODES) * MINUTES
        remaining = set(archive.list_keys("raw/"))
        assert not remaining & snapshots["deletable"] and snapshots["kept"] <= remaining
        assert result.snapshots_deleted == 3
        assert instance.get_run_by_id(superseded.run_id) is None
        for run in (full, latest, failed):
            assert instance.get_run_by_id(run.run_id) is not None
        # the catalog still shows the partition's latest metadata (from the run kept)
        [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=HISTORY, asset_partitions=[VERIFIED.isoformat()]), limit=1).records
        assert record.run_id == latest.run_id
        assert record.asset_materialization.metadata["rows"].value == len(CODES) * MINUTES
        # every deletion logged with its counts; the files that kept a day were rebuilt
        assert any(f"deleted stock_flow_intraday {VERIFIED}" in m and "1,200 rows" in m
                   for m in logged)
        assert sorted(result.warehouse.rebuilt) == sorted(
            history.history_key("stock", d) for d in (TRUNCATED, MISSING, DIFFERS))

        # nothing a user needs was lost: the deleted day reads the same, from its Parquet
        pd.testing.assert_frame_equal(reader.intraday("600123", VERIFIED), before)
        # the next run may delete the days whose files are now verified, and nothing else
        again = make_plan(instance, intraday, archive, RETENTION, now)
        assert [d.day for d in again.warehouse.delete] == [TRUNCATED, MISSING, DIFFERS]
        assert [k.split("/")[2] for k in again.snapshots.delete] == [str(TRUNCATED)]
        assert not again.runs.runs

    # the CLI's dry run prints the same plan and deletes nothing
    for name, value in (("FINDATA_RETENTION_WAREHOUSE_DAYS", "2"),
                        ("FINDATA_RETENTION_SNAPSHOT_DAYS", "5")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli_main(["housekeeping", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing deleted") and "warehouse: 3 intraday day(s)" in out
    assert "dagster runs:" in out and "archive:" in out
    assert intraday.stored_days("stock") == [TRUNCATED, MISSING, DIFFERS]


def test_a_bad_retention_setting_is_one_line_naming_it(platform, monkeypatch, capsys):
    monkeypatch.setenv("FINDATA_RETENTION_SNAPSHOT_DAYS", "thirty")
    assert cli_main(["housekeeping", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: FINDATA_RETENTION_SNAPSHOT_DAYS must be a whole number (days), "
                   "got 'thirty'")


def test_a_file_replaced_after_the_plan_keeps_its_day(platform):
    intraday, archive = platform
    with dg.DagsterInstance.get() as instance:
        assert history_run(instance, VERIFIED, None).success
        plan = make_plan(instance, intraday, archive, RETENTION, dt.datetime.now(tc.TZ))
        assert [d.day for d in plan.warehouse.delete] == [VERIFIED]
        changed = [list(r) for r in intraday.read_day("stock", VERIFIED, history.FILE_COLUMNS)]
        changed[0][history.FILE_COLUMNS.index("price")] = 0.01
        history.write_day(archive, "stock", VERIFIED, history.to_arrow(changed))
        logged = []
        result = carry_out(plan, instance, intraday, archive, logged.append)
    assert result.warehouse.deleted_rows == 0 and VERIFIED in intraday.stored_days("stock")
    assert any(f"kept stock_flow_intraday {VERIFIED}" in m and "changed since it was verified"
               in m for m in logged), logged


def test_a_warehouse_that_is_down_deletes_nothing_and_says_so_in_one_line(
        platform_stores, monkeypatch, capsys):
    from findata_assets_tests.ports import pick_ports

    [port] = pick_ports(1)  # nothing listens there
    monkeypatch.setenv("FINDATA_DATABASE_URL", f"mysql+pymysql://root:sekret@127.0.0.1:{port}/x")
    monkeypatch.setenv("FINDATA_DATABASE_TIMEOUT_S", "3")
    for argv in (["housekeeping", "--dry-run"], ["housekeeping"]):
        assert cli_main(argv) in (1, 2)
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "does not answer" in err and "nothing was deleted" in err, err
        assert "FINDATA_DATABASE_URL" in err and "sekret" not in err


def test_a_deletion_cut_short_is_finished_and_the_file_never_shrinks(platform):
    intraday, archive = platform
    with dg.DagsterInstance.get() as instance:
        assert history_run(instance, VERIFIED, None).success
        record = history.verified_record(archive, "stock", VERIFIED)
        # a housekeeping run killed halfway through the day's deletion
        archive.put_bytes(history.deleting_key("stock", VERIFIED), b"1200 rows\n")
        table = intraday.table("stock")
        with intraday.warehouse.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.trade_date == VERIFIED,
                                              table.c.minute < dt.datetime.combine(
                                                  VERIFIED, dt.time(9, 32))))
        plan = make_plan(instance, intraday, archive, RETENTION, dt.datetime.now(tc.TZ))
        [resumed] = [d for d in plan.warehouse.delete if d.day == VERIFIED]
        assert resumed.resume and resumed.rows == 600
        result = carry_out(plan, instance, intraday, archive, lambda _m: None)
        assert result.warehouse.deleted_rows == 600
        assert VERIFIED not in intraday.stored_days("stock")
        assert not archive.exists(history.deleting_key("stock", VERIFIED))
        assert history.check_verified(archive, "stock", VERIFIED) == record  # untouched
        # materialized again with the warehouse empty: the verified file is kept as it is
        again = history_run(instance, VERIFIED, None)
        assert again.success
        [event] = again.asset_materializations_for_node("stock_flow_intraday_history")
        assert event.metadata["kept"].value is True
        assert history.check_verified(archive, "stock", VERIFIED) == record


def test_a_warehouse_day_changed_after_its_file_was_verified_is_kept_not_refiled(platform):
    intraday, archive = platform
    with dg.DagsterInstance.get() as instance:
        assert history_run(instance, VERIFIED, None).success
        record = history.verified_record(archive, "stock", VERIFIED)
        table = intraday.table("stock")
        with intraday.warehouse.engine.begin() as conn:  # one minute fewer: the rows changed
            conn.execute(table.delete().where(table.c.trade_date == VERIFIED,
                                              table.c.minute == dt.datetime.combine(
                                                  VERIFIED, dt.time(9, 30))))
        plan = make_plan(instance, intraday, archive, RETENTION, dt.datetime.now(tc.TZ))
        assert VERIFIED not in [d.day for d in plan.warehouse.delete]
        logged = []
        carry_out(plan, instance, intraday, archive, logged.append)
    assert VERIFIED in intraday.stored_days("stock")
    assert history.check_verified(archive, "stock", VERIFIED) == record  # not replaced
    assert any(f"kept stock_flow_intraday {VERIFIED}" in m and "not written again" in m
               for m in logged), logged
