"""`fund_flow_analysis`: the day's digest and narrative, per trading day.

Reads that trade date's rows from the warehouse (the flow tables are its upstream: every
partition of stock_flow and sector_flow, hence AllPartitionMapping) and the daily history up to
it (daily_flow; a day the platform did not watch is analysed from its daily rows alone),
computes the digest, asks the LLM for a narrative (cached, skippable, never fatal), and stores
both: JSON in the object store (analysis/<date>/digest.json, narrative.json) and a row of the
`fund_flow_analysis` table.

A day without rows is skipped, not failed: the asset yields no materialization (so the partition
stays "missing" and a later run fills it), records an AssetObservation whose `status` says why,
logs a warning, and the report step of the same run is skipped by Dagster. Runs and backfills
stay green and are never retried for a day that simply has no data.
"""


import datetime as dt
import json
from typing import Iterator

import dagster as dg

from findata_assets import cancellation
from findata_assets.analysis import digest as digests
from findata_assets.analysis import narrative
from findata_assets.analysis.history import TABLE_NAME, AnalysisHistory
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.analysis.resources import LLMResource, ReportSettingsResource
from findata_assets.defs.eastmoney.families import FAMILIES, STOCK
from findata_assets.defs.storage.column_schemas import analysis_table_schema, with_schema
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.eastmoney.catalog import YI

GROUP_NAME = "analysis"
ANALYSIS_ASSET = "fund_flow_analysis"
ANALYSIS_PREFIX = "analysis"
# The flow tables are multi-partitioned (group x period); the analysis of a day reads whatever
# each table holds for that day, so it depends on all of their partitions.
FLOW_DEPS = [dg.AssetDep(family.table_key, partition_mapping=dg.AllPartitionMapping())
             for family in FAMILIES.values()]


def digest_key(trade_date: dt.date) -> str:
    return f"{ANALYSIS_PREFIX}/{trade_date.isoformat()}/digest.json"


def narrative_key(trade_date: dt.date) -> str:
    return f"{ANALYSIS_PREFIX}/{trade_date.isoformat()}/narrative.json"


def skipped(context: dg.AssetExecutionContext, reason: str) -> dg.AssetObservation:
    """The observation a skipped day leaves on the asset (visible in the UI timeline)."""
    context.log.warning(reason)
    return dg.AssetObservation(asset_key=context.asset_key, partition=context.partition_key,
                               metadata={keys.STATUS: reason})


def _key_figures(d: dict) -> dict:
    market = d["markets"]["all"]
    share = market["breadth"]["share_inflow"]
    top = market["top"][0] if market["top"] else None
    return {
        "all_main_net_yi": round(market["flows"]["main_net"] / YI, 2),
        "all_inflow_share_pct": None if share is None else round(100 * share, 2),
        "top_inflow": f"{top['name']} ({top['code']})" if top else None,
        "snapshot_updated_at": d["snapshot"]["updated_at"],
    }


SAMPLE_TAG = "findata/sample"  # runs of cli/sample_report.py: synthetic by construction
RAW_ASSET = STOCK.raw_key


def served_synthetic(context: dg.AssetExecutionContext, trade_date: dt.date) -> bool:
    """Whether the day's stock snapshots came from the bundled fake API (it marks its responses;
    the raw materializations carry `synthetic_data`), so the report can say so."""
    if context.run.tags.get(SAMPLE_TAG):
        return True
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_ASSET), limit=50).records
    for record in records:  # newest first: the latest snapshot of that trade date decides
        metadata = record.asset_materialization.metadata
        day = metadata.get(keys.TRADE_DATE)
        if day and day.value == trade_date.isoformat():
            flag = metadata.get(keys.SYNTHETIC)
            return bool(flag and flag.value)
    return False


def _analyse(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       object_store: ObjectStoreResource, llm: LLMResource,
                       report_settings: ReportSettingsResource) -> Iterator:
    trade_date = dt.date.fromisoformat(context.partition_key)
    cancellation.check()  # a CLI asked to stop: do not start the next piece of work
    wh = warehouse.get_warehouse()
    try:
        inputs = digests.load_inputs(wh, trade_date)
    except digests.NoDataError as exc:
        yield skipped(context, f"skipped: {exc}")
        return
    d = digests.compute(inputs)
    d_hash = digests.digest_hash(d)
    store = object_store.get_store()
    store.put_bytes(digest_key(trade_date), json.dumps(d, ensure_ascii=False, indent=1).encode(),
                    "application/json")

    cancellation.check()  # before the LLM call, the slow part
    result = narrative.generate(d, d_hash, llm.config(report_settings.lang), cache=store,
                                logger=context.log)
    store.put_bytes(narrative_key(trade_date), json.dumps(
        {"text": result.text, **result.metadata(), "digest_hash": d_hash},
        ensure_ascii=False, indent=1).encode(), "application/json")
    AnalysisHistory(wh).upsert(
        trade_date, digest_hash=d_hash, digest_json=digests.canonical_json(d),
        narrative=result.text, narrative_status=result.status,
        narrative_detail=(result.detail or "")[:500] or None, model=result.model,
        prompt_version=result.prompt_version, lang=result.lang,
        prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
        digest_key=digest_key(trade_date))

    metadata = {
        keys.STATUS: "ok",
        keys.TRADE_DATE: trade_date.isoformat(),
        "digest_key": digest_key(trade_date),
        "digest_hash": d_hash,
        "object_store": store.describe(),
        keys.WAREHOUSE: wh.describe(),
        "sql_table": TABLE_NAME,
        "rows_read": dg.MetadataValue.json(d["tables"]),
        "missing_tables": dg.MetadataValue.json(d["missing_tables"]),
        # where the day's figures came from (a backfilled day: daily_flow), what it lacks, and
        # how many days of daily history its history section saw
        "day_source": d["snapshot"]["source_table"],
        "missing_sections": dg.MetadataValue.json(sorted(d["missing"])),
        "history_days": (d["history"].get("coverage") or {}).get("days", 0),
        **_key_figures(d),
        keys.SYNTHETIC: served_synthetic(context, trade_date),
        keys.NARRATIVE_STATUS: result.status,
        "narrative_detail": result.detail or "",
        "llm_model": result.model,
        "llm_base_url": llm.base_url,
        "llm_prompt_version": result.prompt_version,
        "llm_prompt_tokens": result.prompt_tokens,
        "llm_completion_tokens": result.completion_tokens,
        "llm_requests_this_run": result.requests,
        "llm_seconds": result.seconds,
        "llm_cache_key": result.cache_key,
    }
    if result.text:
        metadata["narrative"] = dg.MetadataValue.md(result.text)
    yield dg.MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})


def build_analysis_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the code location's trading-day partitions (defs/trading_days.py)."""
    return dg.asset(
        name=ANALYSIS_ASSET,
        group_name=GROUP_NAME,
        partitions_def=partitions_def,
        deps=FLOW_DEPS,
        output_required=False,  # a day without data yields nothing: see the module docstring
        kinds={"python", "openai", "sql", "json"},
        metadata=with_schema(analysis_table_schema()),
        description="Per trading day: numeric digest of the fund-flow tables (top/bottom stocks, "
                    "sector leaders, breadth, main vs retail, 1d/5d/10d persistence; from the "
                    "daily history 5/20-day leaders, inflow/outflow streaks, the market's 20 "
                    "days) and an LLM narrative; JSON in the object store and a row of SQL "
                    f"table {TABLE_NAME}. "
                    "Partitions start at the first day collected (or FINDATA_PARTITIONS_START).",
    )(_analyse)
