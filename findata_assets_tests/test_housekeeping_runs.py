"""Retention of Dagster's run history on a real SQLite instance: what the plan lists is what
apply deletes, and what the UI needs (failures, full runs, each partition's latest
materialization) stays."""

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager

from findata_assets.run_names import INTRADAY_JOB_NAME
from findata_assets.defs.refresh.policies import POLICY_TAG
from findata_assets.housekeeping import dagster_runs
from findata_assets.housekeeping.dagster_runs import PlannedDeletion, RunRetentionPlan

NAME_TAG = "test/name"  # which scenario run it is; also the materializations' metadata
FAIL_TAG = "test/fail"
PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=PARTS)
def flows(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    print("captured stdout")  # the run has compute logs to remove
    return dg.MaterializeResult(metadata={"name": context.run.tags[NAME_TAG]})


@dg.asset
def digest(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"name": context.run.tags[NAME_TAG]})


@dg.asset
def fragile(context: dg.AssetExecutionContext) -> None:
    if context.run.tags.get(FAIL_TAG):
        raise RuntimeError("asked to fail")


INTRADAY_DEFS = dg.Definitions(assets=[digest], jobs=[
    dg.define_asset_job(INTRADAY_JOB_NAME, selection=[digest])])


def _run(instance, name: str, assets, policy: str | None = None, partition: str | None = None,
         **tags) -> str:
    tags = {NAME_TAG: name, **({POLICY_TAG: policy} if policy else {}), **tags}
    result = dg.materialize(assets, instance=instance, tags=tags, partition_key=partition,
                            raise_on_error=False)
    return result.run_id


def _intraday_run(instance, name: str, policy: str | None = None) -> str:
    tags = {NAME_TAG: name, **({POLICY_TAG: policy} if policy else {})}
    job = INTRADAY_DEFS.resolve_job_def(INTRADAY_JOB_NAME)
    return job.execute_in_process(instance=instance, tags=tags).run_id


def _build_scenario(instance) -> dict[str, str]:
    """13 runs, in this order; 'boundary' separates the old ones from the recent one."""
    ids = {
        "j1": _intraday_run(instance, "j1"),                                 # delete
        "q1": _run(instance, "q1", [flows], "quick", "a"),                   # delete
        "q2": _run(instance, "q2", [flows], "quick", "b"),                   # delete
        "i0": _run(instance, "i0", [flows], "incremental", "b"),             # delete
        "i1": _run(instance, "i1", [flows], "incremental", "a"),             # latest of a
        "q3": _run(instance, "q3", [flows], "quick", "b"),                   # latest of b
        "q4": _run(instance, "q4", [digest], "quick"),                       # delete
        "m1": _run(instance, "m1", [digest]),                                # manual
        "f1": _run(instance, "f1", [digest], "full"),                        # full refresh
        "f2": _intraday_run(instance, "f2", policy="full"),                  # full refresh
        "q5": _run(instance, "q5", [digest], "quick"),                       # latest of digest
        "x1": _run(instance, "x1", [fragile], "quick", **{FAIL_TAG: "1"}),   # failed
    }
    ids["boundary"] = datetime.now(timezone.utc).isoformat()
    ids["r1"] = _run(instance, "r1", [fragile], "quick")                    # recent
    return ids


TO_DELETE = {"j1", "q1", "q2", "i0", "q4"}
KEPT = {"i1", "q3", "q5", "m1", "f1", "f2", "x1", "r1"}


@pytest.fixture(scope="module")
def scenario_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Built once (a few seconds); each test gets its own copy of the instance's files."""
    home = tmp_path_factory.mktemp("scenario_home")
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        ids = _build_scenario(instance)
        assert instance.get_run_by_id(ids["x1"]).status == dg.DagsterRunStatus.FAILURE
    return home, ids


@pytest.fixture
def scenario(scenario_home, tmp_path):
    home, ids = scenario_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    with dg.instance_for_test(temp_dir=str(copy)) as instance:
        # cutoff = the boundary: every run but r1 ended before it
        now = datetime.fromisoformat(ids["boundary"]) + timedelta(days=14)
        yield instance, ids, copy, now


def _names(ids: dict[str, str], run_ids) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[r] for r in run_ids}


def _run_files(home: Path, run_id: str) -> tuple[Path, Path]:
    return home / "history" / "runs" / f"{run_id}.db", home / "storage" / run_id / "compute_logs"


def test_the_plan_lists_old_superseded_lane_runs_and_accounts_for_the_rest(scenario):
    instance, ids, _home, now = scenario
    plan = dagster_runs.plan(instance, now=now)

    assert _names(ids, plan.run_ids) == TO_DELETE
    assert plan.count_by_lane == {"quick": 3, "incremental": 1, "intraday": 1}
    assert {r.run_id: r.lane for r in plan.runs}[ids["j1"]] == "intraday"
    assert {r.run_id: r.job_name for r in plan.runs}[ids["j1"]] == INTRADAY_JOB_NAME
    assert all(r.end_time < plan.cutoff for r in plan.runs)
    assert (plan.kept_failed_or_canceled, plan.kept_latest_materialization,
            plan.kept_other_lane, plan.kept_recent) == (1, 3, 3, 1)
    assert plan.kept + len(plan.runs) == instance.get_runs_count() == 13
    assert plan.storage == "sqlite" and plan.event_log_bytes > 0 and plan.compute_log_bytes > 0
    assert plan.bytes_to_free == plan.event_log_bytes + plan.compute_log_bytes
    assert plan.summary_lines()[0].startswith(
        "dagster runs: 5 to delete (quick 3, incremental 1, intraday 1), ~")
    assert plan.summary_lines()[0].endswith(
        "kept 8 (failed/canceled 1, latest materialization 3, full/analysis 3, "
        "newer than 14 days 1)")
    metadata = plan.as_metadata()
    assert metadata["runs_to_delete"] == 5 and metadata["runs_to_delete_quick"] == 3
    assert metadata["bytes_to_free"] == plan.bytes_to_free
    assert all(isinstance(v, (int, str)) for v in metadata.values())


def test_the_latest_materialization_runs_are_each_partitions_and_each_assets_latest(scenario):
    instance, ids, _home, _now = scenario
    latest = dagster_runs.latest_materialization_run_ids(instance)
    # flows a, flows b, digest; fragile's only materialization is the recent r1
    assert _names(ids, latest) == {"i1", "q3", "q5", "r1"}


def test_apply_deletes_exactly_what_the_plan_listed_and_the_catalog_keeps_its_metadata(scenario):
    instance, ids, home, now = scenario
    plan = dagster_runs.plan(instance, now=now)
    for run_id in plan.run_ids:
        event_db, compute_logs = _run_files(home, run_id)
        assert event_db.is_file() and compute_logs.is_dir()

    result = dagster_runs.apply(instance, plan)

    assert set(result.deleted) == set(plan.run_ids)
    assert result.skipped == () and result.failed == ()
    assert result.bytes_freed == plan.bytes_to_free
    assert result.compute_logs_removed == 5 and result.compute_log_problem is None
    assert {r.dagster_run.run_id for r in instance.get_run_records()} == {ids[n] for n in KEPT}
    for run_id in plan.run_ids:
        event_db, compute_logs = _run_files(home, run_id)
        assert not event_db.exists() and not compute_logs.exists()
        assert not compute_logs.parent.exists()  # storage/<run_id>, emptied
    for name in KEPT:
        assert _run_files(home, ids[name])[0].is_file()
    # deleted runs read as unknown, not as a broken database
    assert instance.get_records_for_run(ids["q1"]).records == []

    def latest_name(partition: str | None, asset=flows) -> str:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=asset.key, asset_partitions=[partition] if partition else None), limit=1)
        return records.records[0].asset_materialization.metadata["name"].value

    assert latest_name("a") == "i1" and latest_name("b") == "q3"
    assert latest_name(None, digest) == "q5"
    event = instance.get_latest_materialization_event(digest.key)
    assert event.asset_materialization.metadata["name"].value == "q5"
    assert instance.get_materialized_partitions(flows.key) == {"a", "b"}

    again = dagster_runs.plan(instance, now=now)
    assert again.runs == () and again.bytes_to_free == 0
    assert again.kept == plan.kept
    assert result.summary_lines()[0].startswith("dagster runs: deleted 5, ~")


def test_apply_skips_runs_that_changed_since_the_plan(scenario):
    instance, ids, _home, now = scenario
    plan = dagster_runs.plan(instance, now=now)
    instance.delete_run(ids["q1"])
    instance.report_run_failed(instance.get_run_by_id(ids["q2"]), "marked failed later")

    result = dagster_runs.apply(instance, plan)

    assert set(result.deleted) == {ids[n] for n in TO_DELETE - {"q1", "q2"}}
    assert dict(result.skipped) == {ids["q1"]: "already deleted", ids["q2"]: "status now FAILURE"}
    assert instance.get_run_by_id(ids["q2"]) is not None


def test_the_plan_is_the_same_when_the_runs_come_in_small_pages(scenario, monkeypatch):
    instance, _ids, _home, now = scenario
    whole = dagster_runs.plan(instance, now=now)
    monkeypatch.setattr(dagster_runs, "_PAGE_SIZE", 2)
    monkeypatch.setattr(dagster_runs, "_ID_CHUNK", 1)
    assert dagster_runs.plan(instance, now=now) == whole


def test_nothing_is_old_enough_within_the_window(scenario):
    instance, _ids, _home, _now = scenario
    plan = dagster_runs.plan(instance, now=datetime.now())  # naive: local time
    assert plan.runs == () and plan.kept_latest_materialization == 0
    assert plan.kept_recent == 9  # the succeeded lane runs: 13 but x1 (failed), m1, f1, f2


def test_the_projects_own_storage_is_unwrapped_to_its_per_run_files(
        project_dagster_home, monkeypatch):
    # dagster.yaml's EnvSelectedStorage: SQLite unless a PostgreSQL URL is set
    for name in ("DAGSTER_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    with dg.DagsterInstance.get() as instance:
        old = _run(instance, "old", [flows], "quick", "a")
        _run(instance, "new", [flows], "quick", "a")
        plan = dagster_runs.plan(instance, now=datetime.now() + timedelta(days=30))
        assert plan.run_ids == (old,) and plan.storage == "sqlite" and plan.bytes_to_free > 0
        result = dagster_runs.apply(instance, plan)
    assert result.deleted == (old,)
    assert not _run_files(project_dagster_home, old)[0].exists()


def test_an_event_log_without_per_run_files_reports_events_not_bytes(tmp_path):
    overrides = {"event_log_storage": {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "events")}}}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        old = _run(instance, "old", [flows], "quick", "a")
        _run(instance, "new", [flows], "quick", "a")
        plan = dagster_runs.plan(instance, now=datetime.now() + timedelta(days=30))
        assert plan.run_ids == (old,)
        assert plan.storage == "ConsolidatedSqliteEventLogStorage"
        assert plan.bytes_to_free is None and plan.event_count > 5
        assert "bytes unknown (ConsolidatedSqliteEventLogStorage: " in plan.summary_lines()[0]
        assert "bytes_to_free" not in plan.as_metadata()
        result = dagster_runs.apply(instance, plan)
        assert result.deleted == (old,) and result.bytes_freed is None
        assert instance.get_records_for_run(old).records == []


def test_the_summary_reads_as_the_issue_asks():
    lanes = ["quick"] * 1000 + ["incremental"] * 200 + ["intraday"] * 34
    now = datetime(2026, 3, 20, 12, tzinfo=timezone.utc)
    plan = RunRetentionPlan(
        now=now, cutoff=now - timedelta(days=14), keep_days=14,
        runs=tuple(PlannedDeletion(f"r{i}", "job", lane, now) for i, lane in enumerate(lanes)),
        kept_other_lane=10, kept_failed_or_canceled=3, kept_recent=3,
        kept_latest_materialization=40, storage="sqlite", event_log_bytes=12_000_000,
        compute_log_bytes=300_000, event_count=None)
    assert plan.summary_lines() == [
        "dagster runs: 1,234 to delete (quick 1,000, incremental 200, intraday 34), ~12.3 MB; "
        "kept 56 (failed/canceled 3, latest materialization 40, full/analysis 10, "
        "newer than 14 days 3)",
        "dagster runs: succeeded quick/incremental/intraday runs that ended before "
        "2026-03-06 12:00 UTC"]
    assert dagster_runs.format_bytes(999) == "999 B"
    assert dagster_runs.format_bytes(1_500) == "1.5 kB"
    assert dagster_runs.format_bytes(2_000_000_000_000) == "2,000.0 GB"


class KeepingComputeLogManager(LocalComputeLogManager):
    """Captures logs like the local manager but, as some storages, cannot delete them."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def delete_logs(self, log_key=None, prefix=None):
        raise NotImplementedError("this storage keeps its logs")


@pytest.mark.parametrize("manager_class, problem", [
    (KeepingComputeLogManager, "could not delete (NotImplementedError: this storage keeps "
                               "its logs); left for the remaining runs"),
    (NoOpComputeLogManager, "none captured (NoOpComputeLogManager)")])
def test_compute_logs_that_cannot_be_deleted_are_reported_not_raised(
        tmp_path, manager_class, problem):
    config = {} if manager_class is NoOpComputeLogManager else {"base_dir": str(tmp_path / "logs")}
    overrides = {"compute_logs": {"module": manager_class.__module__,
                                  "class": manager_class.__name__, "config": config}}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        old = [_run(instance, name, [flows], "quick", "a") for name in ("o1", "o2")]
        _run(instance, "new", [flows], "quick", "a")
        plan = dagster_runs.plan(instance, now=datetime.now() + timedelta(days=30))
        result = dagster_runs.apply(instance, plan)
    assert set(result.deleted) == set(old) and result.failed == ()
    assert result.compute_logs_removed == 0 and result.compute_log_problem == problem
    assert result.summary_lines()[-1] == f"compute logs: {problem}"
    assert result.as_metadata()["compute_logs"] == problem
