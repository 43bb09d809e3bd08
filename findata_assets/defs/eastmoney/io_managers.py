"""Dagster IO managers: raw snapshots to the object-store archive, typed rows to the warehouse.

Both handle outputs and inputs that span many partitions (one run stores a whole policy).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import dagster as dg
from pydantic import PrivateAttr

from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.families import family_of
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney import snapshot as snapshot_codec
from findata_assets.eastmoney.snapshot import Snapshot, archive_key
from findata_assets.storage.object_store import ObjectStore
from findata_assets.storage.warehouse import PartialStoreError, Warehouse

ARCHIVE_WRITERS = 8  # concurrent object uploads/downloads of one step
# WarehouseIOManager.handle_output yields once (an empty dict) only to flush the materializations
# of a partial store; Dagster marks that form beta and would warn at every such failure.
warnings.filterwarnings("ignore", category=dg.BetaWarning,
                        message=".*Yielding metadata from an IOManager.*")


def _partition_specs(context: dg.OutputContext | dg.InputContext) -> list[catalog.TableSpec]:
    return family_of(context.asset_key).specs(context.asset_partition_keys)


def _check_keys(context: dg.OutputContext, obj: dict) -> None:
    expected = set(context.asset_partition_keys)
    if set(obj) != expected:
        raise dg.Failure(f"{context.asset_key.to_user_string()} returned partitions "
                         f"{sorted(obj)} but the run materializes {sorted(expected)}")


class SnapshotArchiveIOManager(dg.ConfigurableIOManager):
    """Immutable JSON archive of raw snapshots in S3 (MinIO) or, by default, a local folder."""

    object_store: ObjectStoreResource
    # Snapshots this process archived and no step has loaded yet, by (run, asset, partition).
    # The table step of the same run (in-process executor) takes them from here instead of
    # downloading and re-parsing what was just uploaded; the archive stays the source for any
    # other process, and the run's event log is read only on a miss.
    _written: dict = PrivateAttr(default_factory=dict)

    @property
    def store(self) -> ObjectStore:
        return self.object_store.get_store()

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Snapshot]) -> None:
        _check_keys(context, obj)
        snapshots = [obj[pk] for pk in context.asset_partition_keys]
        store = self.store  # built here, once: the S3 client must not be built by every thread

        def archive(snapshot: Snapshot) -> str:
            key = archive_key(snapshot)
            if store.exists(key):  # the archive is append-only: never overwrite a snapshot
                raise dg.Failure(f"archive object {key} already exists; refusing to overwrite")
            store.put_bytes(key, snapshot_codec.encode(snapshot), snapshot_codec.CONTENT_TYPE,
                            snapshot_codec.CONTENT_ENCODING)
            return key

        # One upload per table, side by side: S3 round trips, not CPU, are the cost here.
        with ThreadPoolExecutor(max_workers=ARCHIVE_WRITERS) as pool:
            futures = [pool.submit(archive, snapshot) for snapshot in snapshots]
        failed = [f.exception() for f in futures if f.exception() is not None]
        written = [f.result() for f in futures if f.exception() is None]
        if failed:
            # the objects written are immutable and stay: name them, so no record is lost
            context.log.warning(f"archived {len(written)} of {len(snapshots)} snapshots before "
                                f"the archive failed; written: {', '.join(written) or 'none'}")
            raise failed[0]
        run_id, asset = context.run_id, context.asset_key
        self._written.update(((run_id, asset, pk), obj[pk]) for pk in context.asset_partition_keys)
        context.add_output_metadata({keys.ARCHIVE: store.describe(),
                                     "objects_written": len(written)})

    def load_input(self, context: dg.InputContext) -> dict[str, Snapshot]:
        run_id, asset = context.step_context.run_id, context.asset_key
        wanted = list(context.asset_partition_keys)
        loaded = {pk: self._written.pop((run_id, asset, pk), None) for pk in wanted}
        missing = [pk for pk, snapshot in loaded.items() if snapshot is None]
        if missing:  # another process crawled (a retry, a pod per step): read the archive
            archived = _archived_keys(context, missing)
            store = self.store  # once, before the threads (see handle_output)
            with ThreadPoolExecutor(max_workers=ARCHIVE_WRITERS) as pool:
                fetched = pool.map(lambda pk: snapshot_codec.decode(
                    archived[pk], store.get_bytes(archived[pk])), missing)
                loaded.update(zip(missing, fetched))
        return loaded


def _archived_keys(context: dg.InputContext, wanted: list[str]) -> dict[str, str]:
    """Archive object per partition: the one this run wrote, else the latest one archived.

    If the crawl ran in this run, every partition must come from this run: loading an older
    snapshot instead would silently store stale data.
    """
    instance, asset_key = context.instance, context.asset_key
    this_run = {}
    records = instance.get_records_for_run(
        context.step_context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.asset_materialization
        if materialization and materialization.asset_key == asset_key:
            this_run[materialization.partition] = materialization
    if this_run:
        missing = [pk for pk in wanted if pk not in this_run]
        if missing:
            raise dg.Failure(f"{asset_key.to_user_string()} was crawled in this run but has no "
                             f"snapshot for partitions {missing}")
        chosen = {pk: this_run[pk] for pk in wanted}
    else:
        chosen = {}
        for pk in wanted:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[pk]), limit=1)
            if not result.records:
                raise dg.Failure(f"no archived snapshot of {asset_key.to_user_string()} "
                                 f"partition {pk}: materialize {asset_key.to_user_string()} first")
            chosen[pk] = result.records[0].asset_materialization
    return {pk: m.metadata[keys.ARCHIVE_KEY].value for pk, m in chosen.items()}


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Typed rows into one SQL table per partition; each table is stored in one transaction."""

    warehouse_resource: WarehouseResource

    @property
    def warehouse(self) -> Warehouse:
        return self.warehouse_resource.get_warehouse()

    def handle_output(self, context: dg.OutputContext, obj: dict[str, list[dict]]) -> Iterator:
        _check_keys(context, obj)
        specs = _partition_specs(context)
        by_name = {spec.name: spec for spec in specs}  # a store result's table -> its partition
        # store_many pipelines the tables (the next one's SQL is built while the server works);
        # still one transaction per table.
        try:
            results = self.warehouse.store_many((spec, obj[spec.partition_key]) for spec in specs)
        except PartialStoreError as exc:
            # the committed tables are in the warehouse: say so in Dagster's record too, then
            # fail the step naming the rest (a re-execution stores them from the archive)
            for result in exc.stored:
                context.log_event(dg.AssetMaterialization(
                    asset_key=context.asset_key, partition=by_name[result.table].partition_key,
                    metadata={keys.TABLE: result.table, keys.ROW_COUNT: result.rows,
                              keys.TRADE_DATE: ", ".join(d.isoformat() for d in result.trade_dates),
                              keys.STORE_SECONDS: round(result.seconds, 4),
                              keys.STORED_BEFORE_FAILURE: True}))
            yield {}  # Dagster writes logged events only as the handler yields
            raise
        # each partition's materialization says what is true of that table; the run's totals
        # go to the step's log, not onto every partition
        for result in results:
            context.step_context.add_asset_metadata(
                {keys.STORE_SECONDS: round(result.seconds, 4)},
                asset_key=context.asset_key, partition_key=by_name[result.table].partition_key)
        context.add_output_metadata({keys.WAREHOUSE: self.warehouse.describe()})  # no password
        stored = sum(result.rows for result in results)
        seconds = sum(result.seconds for result in results)
        rate = f" ({stored / seconds:,.0f} rows/s)" if seconds else ""
        context.log.info(f"stored {len(results)} table(s), {stored:,} rows in {seconds:.3f} s"
                         f"{rate} into {self.warehouse.describe()}")

    def load_input(self, context: dg.InputContext) -> dict[str, list[dict]]:
        """Each partition's rows for its latest trade date."""
        loaded = {}
        for spec in _partition_specs(context):
            dates = self.warehouse.trade_dates(spec)
            loaded[spec.partition_key] = self.warehouse.read(spec, dates[-1]) if dates else []
        return loaded
