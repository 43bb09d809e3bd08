"""`fund_flow_report`: the day's Markdown report with PNG charts, per trading day.

Built from the `fund_flow_analysis` row of that day (digest + narrative), so a backfill rebuilds
reports from stored history without touching the API or the LLM. Written to the object store as

    reports/<trade_date>/report.md
    reports/<trade_date>/charts/{top_flows,sector_heatmap,order_split}.png
    reports/<trade_date>/charts/market_flow.png   (when the digest carries the daily history)

    reports/<trade_date>/report.html

The Markdown links its charts relatively (the folder works when downloaded); report.html is the
same report as one page with the charts inside it, which is what the metadata's presigned URL
(FINDATA_REPORT_URL_EXPIRY_S) opens. The metadata's Markdown preview embeds the charts too, since
the UI can reach neither a local folder nor an expired link. A day without an analysis is skipped
like the analysis does.
"""


import datetime as dt
import json
from pathlib import Path
from typing import Iterator

import dagster as dg

from findata_assets import cancellation
from findata_assets.analysis.history import AnalysisHistory
from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.analysis.assets import ANALYSIS_ASSET, GROUP_NAME, served_synthetic, skipped
from findata_assets.defs.analysis.resources import ReportSettingsResource
from findata_assets.resources.object_store import ObjectStoreResource
from findata_assets.resources.warehouse import WarehouseResource
from findata_assets.report import charts as chart_mod
from findata_assets.report import html as report_html
from findata_assets.report import markdown
from findata_assets.report import text as txt
from findata_assets.report.fonts import cjk_font
from findata_assets.report.keys import CHART_DIR, PAGE_NAME, report_key, report_prefix
from findata_assets.defs.intraday.coverage import day_coverage
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.intraday_reads import IntradayReads
from findata_assets.trading_calendar import TZ

REPORT_ASSET = "fund_flow_report"
def object_location(store, key: str) -> str:
    """Where a human finds the object: s3://bucket/key or a local path."""
    if getattr(store, "bucket", None):
        return f"s3://{store.bucket}/{key}"
    if getattr(store, "root", None) is not None:
        return str(Path(store.root).joinpath(*key.split("/")))
    return f"{store.describe()}/{key}"


def build_report(row: dict, store, lang: str, expiry_s: int, synthetic: bool = False,
                 font_file: str = "", intraday: dict | None = None) -> dict:
    """Render and upload one day's report; returns the metadata to record. `intraday`: the
    day's path from the intraday minutes (IntradayReads.day_series: the warehouse, or the
    day's Parquet file once the warehouse no longer holds it), drawn when given."""
    trade_date = row["trade_date"]
    d = json.loads(row["digest_json"])
    if intraday:
        d["intraday"] = intraday  # drawn only: the stored digest and its hash stay as they are
    font = cjk_font(font_file)
    charts = chart_mod.render_charts(d, lang, font)
    prefix = report_prefix(trade_date)
    chart_keys = {}
    for name, png in charts.images.items():
        chart_keys[name] = f"{prefix}{CHART_DIR}/{name}"
        store.put_bytes(chart_keys[name], png, "image/png")
    narrative = {"text": row.get("narrative"), "status": row.get("narrative_status"),
                 "detail": row.get("narrative_detail"), "model": row.get("model"),
                 "prompt_version": row.get("prompt_version")}
    generated = dt.datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S")
    relative = {name: f"{CHART_DIR}/{name}" for name in chart_keys}
    text = markdown.render(d, narrative, lang, relative, generated, charts.notes,
                           synthetic=synthetic)
    key = report_key(trade_date)
    store.put_bytes(key, text.encode("utf-8"), "text/markdown; charset=utf-8")
    ui_text = markdown.render(d, narrative, lang, report_html.embedded_links(charts.images),
                              generated, charts.notes, synthetic=synthetic)
    page_key = report_prefix(trade_date) + PAGE_NAME
    title = f"{txt.text(lang)['title']} {trade_date.isoformat()}"
    store.put_bytes(page_key, report_html.page(ui_text, title, lang).encode("utf-8"),
                    "text/html; charset=utf-8")
    url = store.url_for(page_key, expiry_s)
    font_note = (f"{font.family} ({font.source}: {font.path})" if font else
                 "none: no CJK font found, chart labels show codes (" + chart_mod.INSTALL_HINT + ")")
    return {
        keys.STATUS: "ok",
        keys.TRADE_DATE: trade_date.isoformat(),
        keys.REPORT_KEY: key,
        keys.REPORT_LOCATION: object_location(store, key),
        "report_page_key": page_key,
        keys.REPORT_URL: dg.MetadataValue.url(url),
        # a presigned S3 link expires; a file:// path does not
        **({"report_url_expires_s": expiry_s} if url.startswith(("http://", "https://")) else {}),
        "chart_keys": dg.MetadataValue.json(sorted(chart_keys.values())),
        "chart_font": font_note,
        "chart_labels": charts.labels,
        "chart_notes": "; ".join(charts.notes) or "none",
        keys.NARRATIVE_STATUS: row.get("narrative_status"),
        "lang": lang,
        "report": dg.MetadataValue.md(ui_text),
    }


def _report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     object_store: ObjectStoreResource,
                     report_settings: ReportSettingsResource) -> Iterator:
    trade_date = dt.date.fromisoformat(context.partition_key)
    cancellation.check()  # a CLI asked to stop: do not start the next piece of work
    history = AnalysisHistory(warehouse.get_warehouse())
    row = history.get(trade_date)
    if row is None:
        yield skipped(context, f"skipped: no {ANALYSIS_ASSET} stored for {trade_date} "
                               f"(materialize {ANALYSIS_ASSET} for that day first)")
        return
    series = IntradayReads(IntradayStore(warehouse.get_warehouse()),
                           object_store.get_store()).day_series(trade_date)
    coverage = day_coverage(context.instance, warehouse.get_warehouse(), "stock", trade_date)
    if series:  # one line under the chart: "minutes captured 246/247; missing 10:41: ..."
        series = {**series, "coverage": coverage.summary()}
    metadata = build_report(row, object_store.get_store(), report_settings.lang,
                            report_settings.url_expiry_s,
                            synthetic=served_synthetic(context, trade_date),
                            font_file=report_settings.font, intraday=series)
    metadata["intraday_minutes"] = len(series["minutes"]) if series else 0
    metadata["intraday_coverage"] = coverage.summary()
    history.set_report(trade_date, metadata[keys.REPORT_KEY])
    context.log.info(f"report for {trade_date}: {metadata[keys.REPORT_LOCATION]}")
    yield dg.MaterializeResult(metadata=metadata)


def build_report_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the code location's trading-day partitions (defs/trading_days.py)."""
    return dg.asset(
        name=REPORT_ASSET,
        group_name=GROUP_NAME,
        partitions_def=partitions_def,
        deps=[ANALYSIS_ASSET],
        output_required=False,
        kinds={"python", "markdown"},
        description="Per trading day: Markdown fund-flow report with PNG charts (top flows, sector "
                    "1d/5d/10d heatmap, order-size split, the market's 20 days from the daily "
                    "history) and the history's 5/20-day leaders and streaks, in the object store "
                    "under reports/<trade_date>/; presigned URL and the report in the metadata. "
                    "Partitions start at the first day collected (or FINDATA_PARTITIONS_START).",
    )(_report)
