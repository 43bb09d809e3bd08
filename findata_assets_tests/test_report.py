"""The report: charts without tofu, Markdown figures from the rows, objects in a real S3 server
(readable PNGs, links that resolve to stored keys, a presigned URL that downloads), and the
sample-report helper over the fake Eastmoney data."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import posixpath
import re
import stat
import warnings

import httpx
import pytest

from findata_assets.analysis import digest as digests
from findata_assets.analysis.history import AnalysisHistory
from findata_assets.defs.report import assets as report_assets
from findata_assets.eastmoney import catalog
from findata_assets.report import charts, fonts, markdown
from findata_assets.settings import Settings
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.object_store import LocalObjectStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.flow_rows import make_day, store_day

DAY = dt.date(2026, 3, 10)
PNG = b"\x89PNG\r\n\x1a\n"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
EMBEDDED = re.compile(r'<img[^>]* src="data:image/png;base64,([^"]+)"')


def embedded_images(page: str) -> list[bytes]:
    """The PNGs an HTML page carries inside itself, in page order."""
    return [base64.b64decode(data) for data in EMBEDDED.findall(page)]


@pytest.fixture(scope="module")
def rows():
    return make_day(DAY, n_stocks=250, n_sectors=30)


@pytest.fixture(scope="module")
def digest(rows, tmp_path_factory):
    wh = Warehouse(f"sqlite:///{tmp_path_factory.mktemp('wh') / 'r.db'}")
    store_day(wh, rows)
    d = digests.compute(digests.load_inputs(wh, DAY))
    wh.dispose()
    return json.loads(digests.canonical_json(d))  # as the report reads it back from SQL


def analysis_row(digest, text="### 市场概览\n测试解读。", status="ok") -> dict:
    return {"trade_date": DAY, "digest_json": digests.canonical_json(digest), "narrative": text,
            "narrative_status": status, "narrative_detail": None if text else "no API key",
            "model": "deepseek-chat", "prompt_version": "ff-narrative-v1"}


def chart_texts(monkeypatch, digest, lang, font) -> tuple[charts.ChartSet, list[str]]:
    """Render the charts and collect every string drawn in them."""
    drawn = []
    real_png = charts._png

    def spy(fig):
        from matplotlib.text import Text

        drawn.extend(t.get_text() for t in fig.findobj(Text) if t.get_text())
        return real_png(fig)

    monkeypatch.setattr(charts, "_png", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = charts.render_charts(digest, lang, font)
    assert not [w for w in caught if "missing from font" in str(w.message)]  # no tofu
    return result, drawn


def test_a_cjk_font_is_found_and_really_covers_chinese():
    font = fonts.cjk_font()
    if font is None:
        pytest.skip(f"no CJK font on this machine ({fonts.INSTALL_HINT})")
    assert fonts.covers_cjk(font.path)
    assert not fonts.covers_cjk(__import__("matplotlib").font_manager.findfont("DejaVu Sans"))


def test_charts_with_a_cjk_font_show_names(monkeypatch, digest):
    font = fonts.cjk_font()
    if font is None:
        pytest.skip("no CJK font installed")
    result, drawn = chart_texts(monkeypatch, digest, "zh", font)
    assert set(result.images) == {"top_flows.png", "sector_heatmap.png", "order_split.png"}
    assert all(png.startswith(PNG) and len(png) > 10_000 for png in result.images.values())
    assert result.labels == "names" and result.font == font.family and not result.notes
    top = digest["markets"]["all"]["top"][0]
    assert top["name"] in drawn and "主力净流入前10" in drawn


def test_without_a_cjk_font_charts_show_codes_and_no_chinese(monkeypatch, digest):
    result, drawn = chart_texts(monkeypatch, digest, "zh", None)
    assert result.labels == "codes" and result.font is None
    assert "no CJK font" in result.notes[0]
    assert not [t for t in drawn if CJK.search(t)]  # nothing a Latin font cannot draw
    assert digest["markets"]["all"]["top"][0]["code"] in drawn
    assert all(png.startswith(PNG) for png in result.images.values())


def test_the_markdown_figures_come_from_the_rows(rows, digest):
    text = markdown.render(digest, {"text": None, "status": "skipped", "detail": "no API key"},
                           "zh", {}, "2026-03-10 16:00:00")
    table = rows[catalog.table("stock", "all", "1d").name]
    present = [r for r in table if r["main_net"] is not None]
    best = max(present, key=lambda r: (r["main_net"], [-ord(c) for c in r["code"]]))
    worst = min(present, key=lambda r: (r["main_net"], r["code"]))
    assert f"| 1 | {best['code']} | {best['name']} | {best['main_net'] / 1e8:,.2f} |" in text
    assert f"| 1 | {worst['code']} | {worst['name']} | {worst['main_net'] / 1e8:,.2f} |" in text
    total = sum(r["main_net"] for r in present) / 1e8
    assert f"| 全部股票主力净流入 | {total:,.2f} 亿元 |" in text
    inflow = sum(1 for r in present if r["main_net"] > 0)
    assert f"{100 * inflow / len(present):.2f}% ({inflow} / {len(present)})" in text
    assert "本期未生成 AI 解读：no API key" in text
    assert "2026-03-10 15:00" in text  # the snapshot time
    assert text.index("### 行业") < text.index("### 概念") < text.index("### 地域")  # catalog order
    tricky = json.loads(json.dumps(digest))
    tricky["markets"]["all"]["top"][0]["name"] = "A|B"
    text = markdown.render(tricky, {}, "zh", {}, "now")
    line = next(x for x in text.splitlines() if "A\\|B" in x)  # escaped ...
    assert len(re.split(r"(?<!\\)\|", line)) == 2 + 7  # ... so the row keeps its 7 cells


def test_a_report_of_synthetic_data_says_so_at_the_top(digest):
    real = markdown.render(digest, {}, "zh", {}, "now")
    assert "合成数据" not in real
    fake = markdown.render(digest, {}, "zh", {}, "now", synthetic=True)
    assert fake.splitlines()[2].startswith("> **注意") and "合成数据，不是真实行情" in fake
    assert "synthetic, not market data" in markdown.render(digest, {}, "en", {}, "now",
                                                           synthetic=True)


def test_the_report_names_the_snapshot_its_numbers_come_from(digest, rows):
    """A later quick refresh replaces the warehouse's rows; the report says which fetch it used."""
    fetched = max(r["fetched_at"] for r in rows["stock_flow_all_1d"])
    snap = digest["snapshot"]
    assert snap["source_table"] == "stock_flow_all_1d"
    assert snap["source_fetched_at"] == fetched.isoformat(sep=" ")
    shown = fetched.strftime("%Y-%m-%d %H:%M:%S")  # to the second: no microseconds in a report
    zh = markdown.render(digest, {}, "zh", {}, "now")
    assert f"stock_flow_all_1d 于 {shown} 抓取的快照" in zh
    en = markdown.render(digest, {}, "en", {}, "now")
    assert f"the stock_flow_all_1d snapshot fetched at {shown}" in en


def test_english_report(digest):
    text = markdown.render(digest, {"text": "Commentary.", "model": "m", "prompt_version": "v"},
                           "en", {}, "now")
    assert "# A-share fund-flow report 2026-03-10" in text and "Top 10 main net inflows" in text
    assert "Commentary." in text and "Written by m (prompt v)" in text


def _check_stored_report(store, metadata, expiry_s) -> str:
    prefix = report_assets.report_prefix(DAY)
    key = metadata["report_key"]
    assert key == prefix + "report.md"
    keys = set(store.list_keys(prefix))
    drawn = [n for n in charts.CHARTS if n != "intraday.png"]  # no intraday rows in these tests
    assert keys == {key, prefix + "report.html", *(prefix + f"charts/{n}" for n in drawn)}
    assert metadata["report_page_key"] == prefix + "report.html"
    text = store.get_bytes(key).decode("utf-8")
    links = LINK.findall(text)
    assert len(links) == 3
    for link in links:  # relative links resolve to stored keys, each a readable PNG
        assert not link.startswith(("/", "http")), link
        target = posixpath.normpath(posixpath.join(prefix, link))
        assert target in keys
        assert store.get_bytes(target).startswith(PNG)
    # the page a browser opens carries the same three charts inside itself, in report order
    page = store.get_bytes(prefix + "report.html").decode("utf-8")
    stored = [store.get_bytes(posixpath.normpath(posixpath.join(prefix, link))) for link in links]
    assert embedded_images(page) == stored
    assert "<table>" in page and metadata["trade_date"] in page
    # so does the UI's Markdown preview, which can reach neither a local folder nor an expired link
    ui_links = LINK.findall(metadata["report"].md_str)
    assert [base64.b64decode(link.split(",", 1)[1]) for link in ui_links] == stored
    if metadata["report_url"].url.startswith("http"):  # a presigned link: it expires
        assert metadata["report_url_expires_s"] == expiry_s
    else:  # a file:// path does not
        assert "report_url_expires_s" not in metadata
    return text


def test_report_in_s3_with_links_and_a_presigned_url(digest, s3_env):
    store = object_store_from_settings(Settings.from_env(s3_env))
    metadata = report_assets.build_report(analysis_row(digest), store, "zh", 900)
    text = _check_stored_report(store, metadata, 900)
    assert "测试解读。" in text and metadata["narrative_status"] == "ok"
    url = metadata["report_url"].url
    assert "X-Amz-Expires=900" in url
    # the presigned link opens the HTML page, served as HTML, its charts inside it
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert len(embedded_images(response.text)) == 3 and "测试解读。" in response.text
    assert response.content == store.get_bytes(metadata["report_page_key"])
    assert metadata["report_location"] == f"s3://{s3_env['FINDATA_S3_BUCKET']}/{metadata['report_key']}"


def test_report_in_a_local_folder_opens_with_its_images(digest, tmp_path, monkeypatch):
    monkeypatch.setattr(report_assets, "cjk_font", lambda preferred="": None)  # and without a CJK font
    store = LocalObjectStore(tmp_path / "archive")
    metadata = report_assets.build_report(analysis_row(digest, text=None, status="skipped"),
                                          store, "en", 60)
    _check_stored_report(store, metadata, 60)
    path = tmp_path / "archive" / "reports" / "2026-03-10" / "report.md"
    assert metadata["report_location"] == str(path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as readable as any new file
    for link in LINK.findall(path.read_text()):
        assert (path.parent / link).read_bytes().startswith(PNG)  # works as downloaded files
        assert stat.S_IMODE((path.parent / link).stat().st_mode) == 0o666 & ~umask
    assert metadata["report_url"].url == (path.parent / "report.html").as_uri()
    assert metadata["chart_labels"] == "codes" and metadata["chart_font"].startswith("none")


def test_history_row_round_trip_feeds_the_report(digest, tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path / 'h.db'}")
    history = AnalysisHistory(wh)
    history.upsert(DAY, digest_hash="x", digest_json=digests.canonical_json(digest),
                   narrative=None, narrative_status="skipped", narrative_detail="no key")
    store = LocalObjectStore(tmp_path / "a")
    metadata = report_assets.build_report(history.get(DAY), store, "zh", 60)
    assert "本期未生成 AI 解读：no key" in store.get_bytes(metadata["report_key"]).decode()
    wh.dispose()


def test_sample_report_from_the_fake_eastmoney_data(tmp_path, s3_env, monkeypatch):
    """The closing-note helper: fake API rows -> warehouse -> job -> report in S3, with a fake LLM."""
    from findata_assets.cli import sample_report as sample
    from findata_assets_tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as llm:
        env = {**s3_env, "FINDATA_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}",
               "FINDATA_LLM_BASE_URL": llm.base_url, "DEEPSEEK_API_KEY": "sk-sample-key-123456"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        environ = sample.sample_environ(tmp_path, "zh", use_configured=True)
        outcome = sample.render_sample(DAY, environ, scale=0.05)
        assert len(llm.completions) == 1
    assert outcome.status == "ok" and outcome.narrative_status == "ok"
    assert outcome.report_location == f"s3://{s3_env['FINDATA_S3_BUCKET']}/reports/2026-03-10/report.md"
    text = httpx.get(outcome.report_url, timeout=10).text
    assert "digest-tag:" in text  # the fake model's narrative made it into the report
    assert "合成数据，不是真实行情" in text  # and the sample says its data is synthetic
