"""The four fund-flow assets: raw snapshots (crawl) and typed tables (store), per family.

Raw and table are separate assets so a failed store re-runs from the archived snapshot without
calling the API again. Both carry a single-run backfill policy: one run fetches any set of
partitions concurrently and the IO managers handle many partitions at once.
"""


import time
import warnings
from datetime import datetime, timezone
from typing import Iterator

import dagster as dg

from findata_assets import cancellation
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney import checks, intraday_minute
from findata_assets.defs.eastmoney.families import SECTOR, STOCK, FlowFamily
from findata_assets.defs.eastmoney.metadata import snapshot_metadata, table_metadata
from findata_assets.defs.eastmoney.resources import EastmoneyResource
from findata_assets.defs.storage.column_schemas import (
    flow_table_schema, raw_fields_schema, with_schema)
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.eastmoney.errors import PERMANENT, EastmoneyError
from findata_assets.eastmoney.parsing import parse_table
from findata_assets.eastmoney.snapshot import Snapshot, archive_key, lane_name
from findata_assets.storage.preflight import check_stores

# BackfillPolicy is "beta" in Dagster 1.13: we rely on it knowingly; do not warn every user.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

GROUP_NAME = "eastmoney"
EASTMONEY_POOL = "eastmoney"  # caps how many steps call Eastmoney at once, across runs

# Step retries on top of the client's own request retries: for a blocked IP or an outage that
# outlasts a few seconds of backoff. Applied by `_retry_crawl`, not as the asset's
# `retry_policy`: Dagster also retries an *interrupted* step under a retry_policy, so terminating
# a run (`run stop`, the UI) would restart its crawl instead of cancelling it.
CRAWL_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL,
                             jitter=dg.Jitter.PLUS_MINUS)


def _retry_crawl(context: dg.AssetExecutionContext, exc: EastmoneyError) -> None:
    """Ask Dagster to re-run the crawl step after CRAWL_RETRY's backoff, while retries last."""
    if isinstance(exc, PERMANENT) or context.retry_number >= CRAWL_RETRY.max_retries \
            or cancellation.requested():  # the operator is stopping the run: no retry
        return
    delay = CRAWL_RETRY.calculate_delay(context.retry_number + 1)
    # the tick's own run only: a re-execution (the operator's, or a run retry) is not on the clock
    retry_before = None if context.run.parent_run_id else context.run.tags.get(
        keys.RETRY_BEFORE_TAG)
    if retry_before and datetime.now(timezone.utc).timestamp() + delay > \
            datetime.fromisoformat(retry_before).timestamp():
        context.log.warning(f"crawl failed ({exc}); no step retry: it would start after "
                            f"{retry_before[11:19]}, when the lane's next tick fetches afresh")
        return
    context.log.warning(f"crawl failed ({exc}); step retry {context.retry_number + 1}/"
                        f"{CRAWL_RETRY.max_retries} in {delay:.0f} s")
    raise dg.RetryRequested(max_retries=CRAWL_RETRY.max_retries, seconds_to_wait=delay) from exc


def requests_line(stats: dict, seconds: float) -> str:
    """The crawl's requests in one line of the step log."""
    return (f"{stats['requests']} request(s) in {seconds:.1f} s: {stats['hedges']} hedged "
            f"({stats['hedges_won']} won), {stats['deadlines_expired']} cut off by a deadline, "
            f"{stats['retries']} retried, {stats['refetches']} refetch(es)")


def _partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The run's partitions; an empty selection (a reversed range) is an error, not a run that
    stores nothing and succeeds."""
    selected = list(context.partition_keys)
    if not selected:
        tags = context.run.tags
        start = tags.get(keys.RANGE_START_TAG)
        end = tags.get(keys.RANGE_END_TAG)
        raise EmptySelectionError(
            f"the partition range {start}...{end} selects nothing: the start must come before "
            f"the end in the partitions' order (e.g. all|1d...sz_b|10d for the stock tables, "
            f"industry|1d...region|10d for the sectors)" if start else
            "the run selects no partition: pass a partition or a partition range")
    return selected


class EmptySelectionError(ValueError):
    """A run whose partition selection is empty or reversed."""


def build_flow_assets(family: FlowFamily) -> list[dg.AssetsDefinition]:
    partitions_def = family.partitions

    @dg.asset(
        key=family.raw_key,
        group_name=GROUP_NAME,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="archive_io_manager",
        pool=EASTMONEY_POOL,
        kinds={"python", "json"},  # the store it went to: its "archive" metadata
        metadata=with_schema(raw_fields_schema(family.kind)),
        description=f"Raw Eastmoney {family.label} fund-flow snapshots, archived as zstd-"
                    "compressed JSON (raw/<table>/<trade_date>/<fetched_at>.<lane>.json.zst).",
    )
    def raw_snapshots(context: dg.AssetExecutionContext, eastmoney: EastmoneyResource,
                      warehouse: WarehouseResource,
                      object_store: ObjectStoreResource) -> dict[str, Snapshot]:
        specs = family.specs(_partition_keys(context))
        # the stores first: a database that is down must fail in seconds, not after the crawl
        check_stores(warehouse.get_warehouse(), object_store.get_store())
        client = eastmoney.get_client()
        started = time.monotonic()
        try:
            snapshots = client.fetch_tables(specs)
        except EastmoneyError as exc:
            _retry_crawl(context, exc)
            raise
        finally:
            client.close()
            context.log.info(requests_line(client.stats, time.monotonic() - started))
        by_partition = {}
        lane = lane_name(context.run.tags.get(keys.POLICY_TAG))  # in the key: what retention may delete
        for spec in specs:
            snapshot = snapshots[spec.name]
            snapshot.lane = lane
            context.add_asset_metadata(
                {**snapshot_metadata(snapshot), keys.ARCHIVE_KEY: archive_key(snapshot)},
                partition_key=spec.partition_key)
            by_partition[spec.partition_key] = snapshot
        return by_partition

    table_key = family.table_key

    @dg.asset(
        key=table_key,
        group_name=GROUP_NAME,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"snapshots": dg.AssetIn(family.raw_key)},
        io_manager_key="warehouse_io_manager",
        check_specs=checks.check_specs(table_key),
        kinds={"python", "sql"},  # the database it went to: its "warehouse" metadata
        metadata=with_schema(flow_table_schema(family.kind)),
        description=f"Eastmoney {family.label} fund-flow tables in the warehouse, one table per "
                    "partition, keyed by (trade_date, code); history kept by trade date.",
    )
    def flow_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    snapshots: dict[str, Snapshot]) -> Iterator:
        rows_by_partition: dict[str, list[dict]] = {}
        checked = []
        for spec in family.specs(_partition_keys(context)):
            snapshot = snapshots[spec.partition_key]
            parsed = parse_table(spec, snapshot)
            if parsed.bad_cells:
                first = parsed.bad_cells[0]
                context.log.warning(
                    f"{spec.name}: {len(parsed.bad_cells)} unparsable cell(s) stored as NULL "
                    f"(first: {first.column} of {first.code} = {first.raw!r}); the raw values "
                    "stay in the archived snapshot")
            context.add_asset_metadata(table_metadata(spec, snapshot, parsed),
                                       partition_key=spec.partition_key)
            rows_by_partition[spec.partition_key] = parsed.rows
            checked.append((spec, snapshot.total, parsed))
        yield dg.Output(rows_by_partition)  # stored (committed) before the generator resumes
        # then the day's next intraday minute from the same rows, before the checks: the minute
        # is what the every-minute lane is for (side by side with the table's store, the two
        # inserts compete for the same two cores and the table commits later)
        wh = warehouse.get_warehouse()
        minutes = intraday_minute.write_minutes(wh, [
            (spec, snapshots[spec.partition_key], parsed.rows) for spec, _, parsed in checked],
            run_id=context.run.run_id)
        yield from intraday_minute.materializations(wh, minutes, context.log)
        yield from checks.evaluate(table_key, checked)

    return [raw_snapshots, flow_tables]


stock_flow_raw, stock_flow = build_flow_assets(STOCK)
sector_flow_raw, sector_flow = build_flow_assets(SECTOR)
FLOW_ASSETS = [stock_flow_raw, stock_flow, sector_flow_raw, sector_flow]
