"""The report's PNG charts, drawn from the digest alone (matplotlib, Agg, no pyplot state).

- top_flows.png: the 10 largest main net inflows and outflows of all stocks;
- sector_heatmap.png: per board, the 1d leaders and laggards across 1d / 5d / 10d;
- order_split.png: net inflow by order size (super-large, large, medium, small) per market;
- market_flow.png (with the daily history only): the market's main net inflow of each of its
  last 20 days, and the Shanghai Composite's close.

Colours follow the Chinese market convention: red = inflow, green = outflow.
Without a CJK font (see fonts.py) labels are security/board codes and titles English, so a chart
never shows tofu boxes; as a safety net a render that still reports a missing glyph is redone
that way.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import YI
from findata_assets.report import text as txt
from findata_assets.report.fonts import FontChoice, INSTALL_HINT

INFLOW, OUTFLOW, NEUTRAL = "#d62728", "#2ca02c", "#bbbbbb"
ORDER_COLOURS = ("#8c1c13", "#d62728", "#f2a65a", "#6baed6")
DPI = 110
# markets drawn in the order-size chart; sh_sz_a is all A shares, redundant next to "all"
SPLIT_MARKETS = ("all", "sh_a", "sz_a", "chinext", "star", "sh_b", "sz_b")


@dataclass
class ChartSet:
    images: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG
    font: Optional[str] = None  # family used for CJK text, None = none available
    labels: str = "names"  # names | codes
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Style:
    lang: str  # language of titles: the report's, or en when there is no CJK font
    codes: bool  # label securities/boards by code instead of name

    def name(self, entry: Mapping[str, Any]) -> str:
        return str(entry["code"] if self.codes or not entry.get("name") else entry["name"])

    def t(self, key: str) -> Any:
        return txt.text(self.lang)[key]


def _yi(value: Optional[float]) -> float:
    return math.nan if value is None else value / YI


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _bars(ax, entries: list, style: _Style, colour: str, title: str, right: bool = False) -> None:
    names = [style.name(e) for e in entries][::-1]  # largest at the top
    values = [_yi(e.get("main_net")) for e in entries][::-1]
    ax.barh(range(len(values)), values, color=colour)
    ax.set_yticks(range(len(values)), names)
    ax.set_title(title)
    ax.axvline(0, color="#555555", linewidth=0.8)
    for i, v in enumerate(values):
        if not math.isnan(v):
            ax.annotate(f"{v:,.2f}", (v, i), xytext=(3 if v >= 0 else -3, 0),
                        textcoords="offset points", va="center", ha="left" if v >= 0 else "right",
                        fontsize=8)
    ax.margins(x=0.25)
    if right:  # outflows grow leftwards: names next to the bars' base at zero
        ax.yaxis.tick_right()


def top_flows(digest: Mapping[str, Any], style: _Style) -> bytes:
    market = digest["markets"]["all"]
    fig = _figure(12, 5.2)
    left, right = fig.subplots(1, 2)
    _bars(left, market["top"], style, INFLOW, style.t("top_in"))
    _bars(right, market["bottom"], style, OUTFLOW, style.t("top_out"), right=True)
    fig.suptitle(style.t("chart_top").format(date=digest["trade_date"]))
    return _png(fig)


def sector_heatmap(digest: Mapping[str, Any], style: _Style) -> Optional[bytes]:
    import matplotlib
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm

    boards = [(k, b) for k, b in txt.ordered(digest["boards"], catalog.BOARDS) if b.get("heatmap")]
    if not boards:
        return None
    periods = ("1d", "5d", "10d")
    fig = _figure(4.6 * len(boards), 0.42 * max(len(b["heatmap"]) for _, b in boards) + 2)
    axes = fig.subplots(1, len(boards), squeeze=False)[0]
    for ax, (key, board) in zip(axes, boards):
        rows = board["heatmap"]
        grid = np.array([[_yi(r.get(p)) for p in periods] for r in rows], dtype=float)
        # colour scaled per column: 10-day sums dwarf 1-day flows and would wash them out
        scale = np.nanmax(np.abs(grid), axis=0, initial=0.0)
        scaled = grid / np.where(scale > 0, scale, 1.0)
        cmap = matplotlib.colormaps["RdYlGn_r"].with_extremes(bad=NEUTRAL)
        ax.imshow(np.ma.masked_invalid(scaled), cmap=cmap, norm=TwoSlopeNorm(0, -1, 1),
                  aspect="auto")
        ax.set_xticks(range(3), [style.t("period")[p] for p in periods])
        ax.set_yticks(range(len(rows)), [style.name(r) for r in rows])
        ax.set_title(board["label_en"] if style.lang == "en" else board["label_zh"])
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:,.1f}", ha="center", va="center",
                    fontsize=8)
    fig.suptitle(style.t("heatmap"))
    return _png(fig)


def order_split(digest: Mapping[str, Any], style: _Style) -> bytes:
    import numpy as np

    markets = [(k, digest["markets"][k]) for k in SPLIT_MARKETS if k in digest["markets"]]
    sizes = txt.ORDER_SIZES
    fig = _figure(max(6.0, 1.5 * len(markets) + 2), 4.8)
    ax = fig.subplots()
    x = np.arange(len(markets))
    width = 0.8 / len(sizes)
    for i, (size, colour) in enumerate(zip(sizes, ORDER_COLOURS)):
        values = [_yi(m["flows"][size]) for _, m in markets]
        ax.bar(x + (i - (len(sizes) - 1) / 2) * width, values, width, label=style.t(size),
               color=colour)
    labels = [(m["label_en"] if style.lang == "en" else m["label_zh"]) for _, m in markets]
    ax.set_xticks(x, labels if not style.codes else [k for k, _ in markets])
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_ylabel(style.t("yi"))
    ax.legend(ncols=len(sizes), loc="best", fontsize=8)
    ax.set_title(f'{style.t("order_split")} {digest["trade_date"]}')
    return _png(fig)


def intraday(digest: Mapping[str, Any], style: _Style) -> Optional[bytes]:
    """The day's path (digest["intraday"], added by the report from the intraday table): the
    market's main net inflow so far, and the day's top 5 stocks' lines."""
    series = digest.get("intraday")
    if not series or len(series["minutes"]) < 2:
        return None
    fig = _figure(12, 4.6)
    market_ax, top_ax = fig.subplots(1, 2)
    x = range(len(series["minutes"]))
    ticks = list(x)[::max(1, len(series["minutes"]) // 8)]
    market = [_yi(v) for v in series["market_main_net"]]
    market_ax.plot(x, market, color=INFLOW if (market[-1] or 0) >= 0 else OUTFLOW)
    market_ax.axhline(0, color="#555555", linewidth=0.8)
    market_ax.set_title(style.t("intraday_market"))
    for line in series["top"]:
        top_ax.plot(x, [_yi(v) for v in line["main_net"]], label=style.name(line))
    top_ax.set_title(style.t("intraday_top"))
    top_ax.legend(fontsize=8, loc="best")
    for ax in (market_ax, top_ax):
        ax.set_xticks(ticks, [series["minutes"][i] for i in ticks])
    fig.suptitle(f'{style.t("intraday")} {digest["trade_date"]}')
    return _png(fig)


def market_flow(digest: Mapping[str, Any], style: _Style) -> Optional[bytes]:
    """The market's main net inflow per day over the history's last 20 days (bars, red in /
    green out) and the Shanghai Composite's close (line, right axis)."""
    market = (digest.get("history") or {}).get("market") or {}
    if not market.get("series"):
        return None
    days = [day[5:] for day, _ in market["series"]]  # MM-DD
    values = [_yi(v) for _, v in market["series"]]
    fig = _figure(10, 4.2)
    ax = fig.subplots()
    ax.bar(range(len(values)), values,
           color=[INFLOW if not math.isnan(v) and v >= 0 else OUTFLOW for v in values])
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_xticks(range(len(days)), days, rotation=45, fontsize=8)
    ax.set_ylabel(style.t("yi"))
    closes = market.get("sh_closes") or []
    if closes and len(closes) == len(values):
        right = ax.twinx()
        right.plot(range(len(closes)), [math.nan if c is None else c for c in closes],
                   color="#1f4e9c", linewidth=1.2, marker="o", markersize=2.5)
        right.set_ylabel(style.t("sh_close"))
    ax.set_title(style.t("market_20d"))
    return _png(fig)


CHARTS: dict[str, Callable] = {
    "top_flows.png": top_flows, "sector_heatmap.png": sector_heatmap, "order_split.png": order_split,
    "intraday.png": intraday}
# drawn when the digest carries the daily history (a digest without it draws CHARTS only)
HISTORY_CHARTS: dict[str, Callable] = {"market_flow.png": market_flow}


def _render(digest, style: _Style, font: Optional[FontChoice]) -> tuple[dict[str, bytes], int]:
    """(images, number of glyph-missing warnings matplotlib raised while drawing them)."""
    import logging

    import matplotlib

    # "findfont: Failed to find font weight normal ..., now using 500": harmless, just noise
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    rc = {"axes.unicode_minus": False, "font.size": 9}  # U+2212 is missing from some CJK fonts
    if font is not None:
        rc |= {"font.family": "sans-serif", "font.sans-serif": [font.family, "DejaVu Sans"]}
    images = {}
    with matplotlib.rc_context(rc), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, draw in {**CHARTS, **HISTORY_CHARTS}.items():
            png = draw(digest, style)
            if png is not None:
                images[name] = png
    missing = [w for w in caught if "missing from font" in str(w.message)]
    return images, len(missing)


def render_charts(digest: Mapping[str, Any], lang: str, font: Optional[FontChoice]) -> ChartSet:
    charts = ChartSet(font=font.family if font else None)
    style = _Style(lang=lang if font else "en", codes=font is None)
    if font is None:
        charts.labels = "codes"
        charts.notes.append(f"no CJK font found: chart labels show codes and English titles "
                            f"({INSTALL_HINT})")
    images, missing = _render(digest, style, font)
    if missing and not style.codes:  # the font lacked some glyph after all: never ship tofu
        images, missing = _render(digest, _Style(lang="en", codes=True), font)
        charts.labels = "codes"
        charts.notes.append(f"font {charts.font} lacks glyphs used in names: labels show codes")
    charts.images = images
    if missing:
        charts.notes.append(f"{missing} glyph(s) still missing from the chart font")
    return charts
