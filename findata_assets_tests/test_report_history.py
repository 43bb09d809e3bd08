"""The report and the narrative prompt of the daily history: the 5/20-day rankings, the streaks,
the market's 20 days (a chart, or a table without one), the missing notes as sentences in both
languages, and a day known only from the daily history (MariaDB rows, as the analysis reads)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from findata_assets.analysis import digest as digests
from findata_assets.analysis import history_signals as hs
from findata_assets.analysis import narrative
from findata_assets.defs.report import assets as report_assets
from findata_assets.report import charts, markdown
from findata_assets.storage.daily_flow import DailyFlowStore
from findata_assets.storage.object_store import LocalObjectStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.daily_history_rows import (
    DAYS, D, PATTERN, SHAPED, STEADY_IN, market_net, rows_of, store_days)
from findata_assets_tests.scratch_databases import create_test_database, drop_test_database

PNG = b"\x89PNG\r\n\x1a\n"
HINT = "run `python -m findata_assets.run history` to backfill"


@pytest.fixture(scope="module")
def digest(mariadb_url):
    """The digest of D from 25 days of daily rows alone, as the report reads it back from SQL."""
    name, url = create_test_database(mariadb_url)
    wh = Warehouse(url)
    try:
        store_days(DailyFlowStore(wh))
        d = digests.compute(digests.load_inputs(wh, D))
    finally:
        wh.dispose()
        drop_test_database(mariadb_url, name)
    return json.loads(digests.canonical_json(d))


def yi(value: float) -> str:
    return f"{value / 1e8:,.2f}"


def short_history(days: int) -> dict:
    """The history section of D when the history holds only its last `days` days."""
    rows = [(r["trade_date"], r["code"], r["main_net"], r["change_pct"], r["close"],
             r["close_2"], r["change_pct_2"]) for day in DAYS[-days:] for r in rows_of(day)]
    names = {r[1]: f"股{r[1]}" for r in rows}
    return hs.compute(hs.HistoryInputs(D, DAYS[-days], days, rows, names=names))


def test_the_zh_report_shows_the_history_sections(digest):
    text = markdown.render(digest, {}, "zh", {}, "now")
    twenty = math.fsum(SHAPED[STEADY_IN][-20:])
    for line in ("## 日线历史：多日资金流", "### 5日主力净流入排名", "### 20日主力净流入排名",
                 "### 连续主力净流入 / 净流出（截至 2026-11-27）", "### 大盘近20日主力净流入（亿元）",
                 f"- 日线历史（daily_flow）自 {DAYS[0]} 起，截至 2026-11-27 共 25 个交易日",
                 f"| 1 | 股{STEADY_IN} ({STEADY_IN}) | {yi(twenty)} | {(1.01 ** 20 - 1) * 100:.2f}% |",
                 f"| 股{PATTERN} ({PATTERN}) | 3 | {yi(1.8e8)} |",  # +,+,-,+,+,+
                 f"| 1 | 股{STEADY_IN} ({STEADY_IN}) | 25+ | {yi(math.fsum(SHAPED[STEADY_IN]))} |",
                 f"沪深两市主力净流入合计 {yi(1.5e10)} 亿元",
                 f"| 2026-11-27 | {yi(market_net(24))} |"):  # the table: no chart link given
        assert line in text, line
    assert text.index("## 持续性") < text.index("## 日线历史") < text.index("## AI 解读")
    assert text.index("### 5日主力") < text.index("### 20日主力")
    # a day known only from the daily history says so, and what it lacks, in sentences
    assert "- 本日数据取自日线资金流历史 daily_flow（kline 57；抓取于 2026-11-27 16:00:00）" in text
    notes = text[text.index("## 数据说明"):text.index("## AI 解读")]
    assert "- 平台当天没有盯盘：没有分时数据和1日快照，当日数据取自日线历史。" in notes
    assert "- 个股1日/5日/10日持续性需要当日的 stock_flow_all_5d, stock_flow_all_10d，数据库中没有。" in notes
    assert notes.index("平台当天没有盯盘") < notes.index("以下市场缺少")  # reading order
    assert "抓取的快照" not in text  # it is not a snapshot


def test_the_en_report_shows_the_history_sections(digest):
    text = markdown.render(digest, {}, "en", {}, "now")
    for line in ("## Daily history: flows over several days", "### 5-day main net inflow ranking",
                 "### 20-day main net inflow ranking",
                 "### Main inflow / outflow streaks (up to 2026-11-27)",
                 "### Market main net inflow, last 20 days (100M yuan)",
                 f"| 1 | 股{STEADY_IN} ({STEADY_IN}) | 25+ |",
                 f"Shanghai + Shenzhen main net inflow {yi(1.5e10)} (100M yuan)",
                 "## Data notes", "- The platform did not watch 2026-11-27: no intraday minutes",
                 f"- T{digest['missing']['board_top_stocks']['note'][1:]}"):
        assert line in text, line
    assert text.index("### 5-day") < text.index("### 20-day")  # not the stored keys' order
    assert "The day's figures come from the daily history daily_flow (kline 57;" in text


def test_missing_history_is_one_sentence_in_each_language(digest):
    short = {**digest, "history": short_history(3)}
    zh = markdown.render(short, {}, "zh", {}, "now")
    assert ("20日排名需要截至 2026-11-27 的 20 个交易日的历史，目前只有 3 个——运行 "
            "`python -m findata_assets.run history` 补录历史。") in zh
    assert "5日排名需要截至 2026-11-27 的 5 个交易日的历史，目前只有 3 个" in zh
    assert "大盘20日主力资金需要截至 2026-11-27 的 20 个交易日的历史，目前只有 3 个" in zh
    assert f"| 股{STEADY_IN} ({STEADY_IN}) | 3+ |" in zh  # the streaks need only 2 days
    en = markdown.render(short, {}, "en", {}, "now")
    assert (f"20-day leaders need 20 days of history up to 2026-11-27; the history holds 3 — "
            f"{HINT}") in en
    assert "the market's 20-day main flow needs 20 days of history up to 2026-11-27" in en
    none = {**digest, "history": hs.compute(hs.HistoryInputs(D))}
    assert ("截至 2026-11-27 尚无日线历史（daily_flow）——运行 `python -m findata_assets.run "
            "history` 补录历史。") in markdown.render(none, {}, "zh", {}, "now")
    en = markdown.render(none, {}, "en", {}, "now")
    assert f"no daily history up to 2026-11-27: daily_flow holds no day up to it — {HINT}" in en
    assert "### 5-day" not in en


def test_the_market_chart_is_drawn_with_the_history_only(digest, tmp_path, monkeypatch):
    drawn = charts.render_charts(digest, "zh", None)
    assert drawn.images["market_flow.png"].startswith(PNG)
    without = {**digest, "history": short_history(3)}
    assert "market_flow.png" not in charts.render_charts(without, "zh", None).images
    # the stored report links it in place of the table, and the file is there
    monkeypatch.setattr(report_assets, "cjk_font", lambda preferred="": None)
    store = LocalObjectStore(tmp_path / "archive")
    row = {"trade_date": D, "digest_json": digests.canonical_json(digest), "narrative": None,
           "narrative_status": "skipped", "narrative_detail": "no key", "model": "m",
           "prompt_version": "v"}
    metadata = report_assets.build_report(row, store, "zh", 60)
    text = store.get_bytes(metadata["report_key"]).decode()
    assert "![大盘近20日主力净流入（亿元）](charts/market_flow.png)" in text
    assert f"| 2026-11-27 | {yi(market_net(24))} |" not in text
    assert store.get_bytes("reports/2026-11-27/charts/market_flow.png").startswith(PNG)
    assert "reports/2026-11-27/charts/intraday.png" not in store.list_keys("reports/")


def test_the_prompt_carries_the_history_briefly(digest):
    view = narrative.prompt_view(digest)
    history = view["history"]
    assert history["days_held"] == 25
    assert history["main_net_20d"]["leaders"][0] == {"name": f"股{STEADY_IN}", "main_net_yi": 155.0}
    assert history["streaks_days"]["inflow"][0] == {
        "name": f"股{STEADY_IN}", "main_net_yi": round(math.fsum(SHAPED[STEADY_IN]) / 1e8, 2),
        "days": 25}
    assert history["market_20d"]["main_net_yi"] == 150.0 and history["market_20d"]["inflow_days"] == 10
    assert view["day_source"] == "daily_flow" and "intraday" in view["not_available"]
    messages = narrative.build_messages(digest, "zh")
    assert "history" in messages[0]["content"]
    assert sum(len(m["content"]) for m in messages) < 12_000
    assert "history" not in narrative.prompt_view({**digest, "history": {"missing": "x"}})


def test_a_version_1_digest_still_renders(digest):
    """A stored digest from before the history (fund_flow_analysis keeps past days)."""
    old = {k: v for k, v in digest.items() if k not in ("history", "sources", "missing")}
    text = markdown.render(old, {}, "zh", {}, "now")
    assert "## 日线历史" not in text and "## 数据说明" not in text and "## 关键数据" in text
    assert "market_flow.png" not in charts.render_charts(old, "en", None).images
    assert dt.date.fromisoformat(old["trade_date"]) == D
