"""The daily history as three assets partitioned by trading day: `daily_market_flow`,
`daily_sector_flow` and `daily_stock_flow`, filled by one multi-asset step that fetches each
security once for the whole range of a run (history/backfill.py). A backfill from the UI's
partition picker, `dagster asset materialize --partition-range` or `python -m
findata_assets.run history` is one run; each day's partition gets its own metadata.
"""


import datetime as dt

import dagster as dg

from findata_assets import cancellation
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.history.resources import HistoryResource
from findata_assets.defs.refresh.alerts import Alert, post_alert, ui_link
from findata_assets.eastmoney.errors import EastmoneyError
from findata_assets.history.backfill import DELISTED_NOTE, Backfill, BackfillRangeError, DayReport
from findata_assets.history.progress import Progress, Throttle, publish, publish_event
from findata_assets.history.securities import ORDER_FIELD
from findata_assets.history.writer import WarehouseWriteError
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.settings import SettingsError
from findata_assets.storage.object_keys import ObjectStoreError
from findata_assets.storage import daily_files
from findata_assets.storage.daily_flow import TABLE

GROUP_NAME = "daily_history"
HISTORY_JOB_NAME = "daily_history_job"
RUN_NOW_TAG = "findata/history_now"  # "1": a user's command, fetched at once even in session
ASSETS = {"market": "daily_market_flow", "board": "daily_sector_flow", "stock": "daily_stock_flow"}
AGREEMENT_CHECK = "close_snapshot_agrees_with_source"
LOG_EVERY_S = 15.0  # a progress line in the run log
# a share of securities differing beyond rounding that is worth a warning, not a failure: the
# source may revise a day after the platform saw its close
AGREEMENT_WARN_SHARE = 0.0


class HistoryRunConfig(dg.Config):
    run_now: bool = False  # fetch even while the session is open (FINDATA_HISTORY_WINDOW)


def _description(kind: str) -> str:
    what = {"market": "the market (Shanghai + Shenzhen: the five net inflows, the Shanghai "
                      "Composite's and the Shenzhen Component's close and change)",
            "board": "every industry, concept and region board",
            "stock": "every stock"}[kind]
    return (f"Daily fund flows of {what}: one row per security and trading day in the "
            f"warehouse table {TABLE} (kind='{kind}'), and each closed day in "
            f"{daily_files.PREFIX}/trade_date=YYYY-MM-DD/part-0.parquet. Past days from the "
            "source's per-security daily series (~120 sessions), days the platform watched from "
            "its own close snapshot.")


def build_history_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [dg.AssetSpec(name, group_name=GROUP_NAME, kinds={"python", "sql", "parquet"},
                          description=_description(kind),
                          metadata={"stored_in": f"{TABLE} (warehouse), {daily_files.PREFIX}"})
             for kind, name in ASSETS.items()]
    check = dg.AssetCheckSpec(AGREEMENT_CHECK, asset=ASSETS["stock"],
                              description="Where the platform watched a day's close, the "
                                          "source's daily line agrees with that snapshot "
                                          "(stocks and boards; the share that differs and the "
                                          "worst).")

    @dg.multi_asset(specs=specs, check_specs=[check], partitions_def=partitions_def,
                    backfill_policy=dg.BackfillPolicy.single_run(), name="daily_history",
                    pool="eastmoney_history")
    def daily_history(context: dg.AssetExecutionContext, config: HistoryRunConfig,
                      history: HistoryResource, warehouse: WarehouseResource,
                      object_store: ObjectStoreResource):
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        if not days:
            raise dg.Failure("the run selects no trading day: pass a partition or a range")
        run_now = config.run_now or context.run.tags.get(RUN_NOW_TAG) == "1"
        log_line = Throttle(LOG_EVERY_S)

        def on_progress(p: Progress, final: bool) -> None:
            publish(p, final)  # the CLI's bar, when the run executes in its process
            if log_line(final):
                context.log.info(f"history: {p.line()}")

        backfill = Backfill(warehouse.get_warehouse(), object_store.get_store(),
                            history.history_settings(), history.eastmoney_settings(),
                            run_now=run_now,
                            on_progress=on_progress,
                            on_event=lambda kind, text: _event(context, kind, text))
        try:
            result = backfill.run(min(days), max(days))
        except cancellation.Cancelled:
            raise
        except (BackfillRangeError, EastmoneyError, WarehouseWriteError, ObjectStoreError,
                SettingsError) as exc:  # one line naming the problem and the setting, no trace
            raise dg.Failure(description=str(exc).splitlines()[0],
                             allow_retries=False) from None
        context.log.info(_summary(result))
        context.log.info(f"history: securities from {result.universe.source}, in the order "
                         f"market, boards, stocks by {ORDER_FIELD}")
        stores = {keys.WAREHOUSE: warehouse.get_warehouse().describe(),
                  keys.ARCHIVE: object_store.get_store().describe()}
        for report in result.days:  # each day's own figures first, where the UI shows them
            for kind, name in ASSETS.items():
                context.add_asset_metadata({**_day_metadata(report, kind, result), **stores},
                                           asset_key=dg.AssetKey(name),
                                           partition_key=report.day.isoformat())
        for name in ASSETS.values():
            yield dg.MaterializeResult(asset_key=name)
        yield _agreement_check(result)

    return daily_history


def _event(context, kind: str, text: str) -> None:
    context.log.warning(f"history: {text}")
    publish_event(kind, text)  # the CLI, when the run executes in its process
    if kind == "ban":  # said once per ban: the operator learns the lane waits, not why it is slow
        link = ui_link(f"runs/{context.run.run_id}")
        post_alert(Alert("findata history: the source banned this address; the lane waits",
                         [text], link), logger=context.log)


def _day_metadata(report: DayReport, kind: str, result) -> dict:
    expected = report.expected.get(kind, 0)
    stored = report.stored.get(kind, 0)
    failed = result.failed_of(kind)
    meta = {keys.TRADE_DATE: report.day.isoformat(), keys.ROW_COUNT: stored,
            "expected": expected, "stored": stored,
            "without_line": report.without_line(kind), "failed": len(failed),
            "from_close_snapshot": report.stored.get(f"{kind}:snapshot", 0),
            "expected_means": DELISTED_NOTE}
    if failed:
        meta["failed_errors"] = dg.MetadataValue.md("\n".join(
            f"- {s}: {result.failed[s]}" for s in failed[:20]))
    if report.parquet is not None:
        meta["parquet_key"], meta["parquet_bytes"] = report.parquet.key, report.parquet.bytes
    if kind != "market" and report.agreement.compared:
        meta["close_snapshot_agreement"] = report.agreement.describe()
    return meta


def _summary(result) -> str:
    total = sum(r.total_stored for r in result.days)
    requests = getattr(result.fetch_stats, "requests", 0) if result.fetch_stats else 0
    parts = [f"{len(result.days)} day(s), {total:,} rows stored",
             f"{result.fetched:,} securities fetched ({requests:,} requests)"]
    if result.resumed:
        parts.append(f"{result.resumed:,} read from the archive (fetched before)")
    if result.skipped_watched:
        parts.append(f"{result.skipped_watched:,} not asked (the platform watched every day)")
    if result.unknown:
        parts.append(f"{len(result.unknown):,} unknown to the source")
    if result.failed:
        parts.append(f"{len(result.failed):,} failed")
    if result.identity_violations:
        parts.append(f"{result.identity_violations:,} line(s) of {result.identity_securities:,} "
                     "securities break the fund-flow identities (stored as sent)")
    return f"history {result.start}..{result.end}: " + "; ".join(parts) + \
        f"; {result.seconds:.1f} s"


def _agreement_check(result) -> dg.AssetCheckResult:
    from findata_assets.history.rows import merge_agreements

    agreement = merge_agreements(r.agreement for r in result.days)
    per_day = {r.day.isoformat(): r.agreement.describe() for r in result.days
               if r.agreement.compared}
    passed = agreement.share <= AGREEMENT_WARN_SHARE
    return dg.AssetCheckResult(
        asset_key=ASSETS["stock"], check_name=AGREEMENT_CHECK, passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"compared": agreement.compared, "differing": agreement.differing,
                  "share_differing": round(agreement.share, 6),
                  "worst": agreement.describe() if agreement.worst else "-",
                  "per_day": dg.MetadataValue.json(per_day),
                  "note": "nothing to compare: no day of the run had both a watched close and "
                          "a source line" if not agreement.compared else "stocks and boards"})


history_job = dg.define_asset_job(
    name=HISTORY_JOB_NAME, selection=list(ASSETS.values()),
    description="The daily history of a range of trading days: each security fetched once for "
                "the range (partition range YYYY-MM-DD...YYYY-MM-DD).")
