"""The SQLite event log's batched writes store exactly what one-at-a-time writes store."""


import collections

import dagster as dg
import pytest

from findata_assets.cli import sqlite_events

PARTS = dg.StaticPartitionsDefinition([f"p{i:02d}" for i in range(12)])


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
def upstream(context: dg.AssetExecutionContext) -> None:
    for key in context.partition_keys:
        context.add_asset_metadata({"rows": int(key[1:])}, partition_key=key)


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[upstream],
          check_specs=[dg.AssetCheckSpec("positive", asset="downstream")])
def downstream(context: dg.AssetExecutionContext):
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="positive", passed=True)


JOB = dg.define_asset_job("ranged", selection=[upstream, downstream])
DEFS = dg.Definitions(assets=[upstream, downstream], jobs=[JOB])


def _instance(tmp_path, name: str) -> dg.DagsterInstance:
    home = tmp_path / name
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  custom:\n    module: findata_assets.cli.instance\n"
        f"    class: EnvSelectedStorage\n    config:\n      sqlite_base_dir: {home}\n")
    return dg.DagsterInstance.from_config(str(home))


def _stored(instance: dg.DagsterInstance, run_id: str) -> dict:
    events = instance.all_logs(run_id)
    types = collections.Counter(e.dagster_event_type.value for e in events if e.is_dagster_event)
    per_partition = {}
    for key in (dg.AssetKey("upstream"), dg.AssetKey("downstream")):
        for pk in PARTS.get_partition_keys():
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[pk]), limit=1).records
            meta = found[0].asset_materialization.metadata if found else None
            per_partition[(key.to_user_string(), pk)] = (
                found[0].run_id == run_id if found else None,
                {k: v.value for k, v in meta.items()} if meta else None)
        per_partition[(key.to_user_string(), "materialized")] = sorted(
            instance.get_materialized_partitions(key))
        per_partition[(key.to_user_string(), "tags")] = sorted(  # the index's asset_event_tags
            tuple(sorted(tags))  # their names: data versions differ from run to run
            for tags in instance.event_log_storage.get_event_tags_for_asset(key))
    return {"types": dict(types), "partitions": per_partition}


def _run(instance: dg.DagsterInstance) -> str:
    result = DEFS.resolve_job_def("ranged").execute_in_process(
        instance=instance, tags={"dagster/asset_partition_range_start": "p00",
                                 "dagster/asset_partition_range_end": "p11"})
    assert result.success
    return result.run_id


def test_a_batch_stores_what_single_writes_store(tmp_path, monkeypatch):
    batches = []
    original = sqlite_events.BatchingSqliteEventLogStorage.store_event_batch

    def counting(self, events):
        batches.append(len(events))
        return original(self, events)

    monkeypatch.setattr(sqlite_events.BatchingSqliteEventLogStorage, "store_event_batch", counting)

    monkeypatch.setenv(sqlite_events.EVENT_BATCH_ENV, "0")  # Dagster's one-at-a-time writes
    with _instance(tmp_path, "single") as single:
        single_run = _run(single)
        expected = _stored(single, single_run)
    assert batches == []

    monkeypatch.delenv(sqlite_events.EVENT_BATCH_ENV)  # the instance sets findata's default
    with _instance(tmp_path, "batched") as batched:
        assert isinstance(batched.event_log_storage, sqlite_events.BatchingSqliteEventLogStorage)
        batched_run = _run(batched)
        got = _stored(batched, batched_run)
    assert max(batches) >= 24  # the planned events of both assets went as one batch
    assert got == expected
    assert expected["types"]["ASSET_MATERIALIZATION"] == 24
    assert expected["types"]["ASSET_MATERIALIZATION_PLANNED"] == 24
    assert expected["partitions"][("downstream", "materialized")] == PARTS.get_partition_keys()
    assert len(expected["partitions"][("upstream", "tags")]) == 12


@pytest.mark.parametrize("size", ["1", "7"])
def test_small_batch_sizes_store_everything_too(tmp_path, monkeypatch, size):
    monkeypatch.setenv(sqlite_events.EVENT_BATCH_ENV, size)
    with _instance(tmp_path, f"size{size}") as instance:
        stored = _stored(instance, _run(instance))
    assert all(v[0] for k, v in stored["partitions"].items() if k[1].startswith("p"))


@pytest.mark.parametrize("fail", ["index", "run_shard"])
def test_a_failed_batch_write_stores_each_event_once(tmp_path, monkeypatch, fail):
    """An index failure after the run's database committed is retried event by event, not
    handed to Dagster's fallback (which would write the run's rows again); a run-database
    failure before anything is written is left to that fallback."""
    monkeypatch.setenv(sqlite_events.EVENT_BATCH_ENV, "0")
    with _instance(tmp_path, "reference") as reference:
        expected = _stored(reference, _run(reference))
    monkeypatch.delenv(sqlite_events.EVENT_BATCH_ENV)
    failures = []
    storage = sqlite_events.BatchingSqliteEventLogStorage
    if fail == "index":
        original = storage._mirror

        def flaky(self, events):
            if len(events) > 1 and not failures:
                failures.append(len(events))
                raise RuntimeError("database is locked")
            return original(self, events)

        monkeypatch.setattr(storage, "_mirror", flaky)
    else:
        original = storage.prepare_insert_event_batch

        def flaky(self, events):
            if not failures:
                failures.append(len(events))
                raise RuntimeError("database is locked")
            return original(self, events)

        monkeypatch.setattr(storage, "prepare_insert_event_batch", flaky)
    with _instance(tmp_path, f"flaky-{fail}") as instance:
        got = _stored(instance, _run(instance))
    assert failures and got == expected


def test_the_run_storage_asks_its_schema_once_and_sees_a_later_migration(tmp_path, monkeypatch):
    """A yes (the columns are there) is kept for the process; a no is asked again, so a
    migration run by another process meanwhile is seen."""
    instance = _instance(tmp_path, "schema")
    runs = instance.run_storage
    assert type(runs).__name__ == "SchemaCachingSqliteRunStorage"
    run_id = _run(instance)
    asked = collections.Counter()
    answers = {"run_stats": [False, True]}
    dagster_storage = type(runs).__mro__[1]

    def ask(self):
        asked["run_stats"] += 1
        queue = answers["run_stats"]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(dagster_storage, "has_run_stats_index_cols", ask)
    fresh = type(runs)(runs._conn_string)  # what a new process starts with
    for _ in range(5):
        [record] = fresh.get_run_records(dg.RunsFilter(run_ids=[run_id]))
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert asked["run_stats"] == 2  # no, then yes, then kept
    monkeypatch.undo()
    record = instance.get_run_record_by_id(run_id)  # the real answer: the stats are read
    assert record.start_time is not None and record.end_time >= record.start_time
    engine = runs._engine
    instance.get_run_by_id(run_id)
    assert engine is not None and runs._engine is engine  # one engine, not one per read


def test_the_event_log_keeps_a_bounded_engine_per_shard_and_stores_every_event(tmp_path):
    instance = _instance(tmp_path, "shards")
    event_log = instance.event_log_storage
    run_ids = [_run(instance) for _ in range(3)]
    engines = event_log._shard_engines
    assert "index" in engines and set(run_ids) <= set(engines)
    for run_id in run_ids:  # the kept engines read what the runs wrote
        assert _stored(instance, run_id)["types"]["ASSET_MATERIALIZATION"] == 24
    for i in range(sqlite_events.KEPT_SHARD_ENGINES + 5):  # a daemon sees thousands of runs
        with event_log.run_connection(f"other-{i}"):
            pass
    assert len(engines) == sqlite_events.KEPT_SHARD_ENGINES
    assert "other-0" not in engines and f"other-{sqlite_events.KEPT_SHARD_ENGINES + 4}" in engines
