"""The report's daily-history section (digest["history"], analysis/history_signals.py) and its
data notes (digest["missing"], digest["snapshot"] of a day known only from the daily history).

A section the history is too short for, and whatever the day lacks, is said as one plain
sentence: in Chinese from the templates of text.py, in English the digest's own sentence.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from findata_assets.report import text as txt
from findata_assets.report.md_parts import clock, image, pct, table, yi

MARKET_CHART = "market_flow.png"
# the data notes in reading order (the stored digest's keys come back sorted alphabetically)
NOTE_ORDER = ("intraday", "markets", "boards", "stock_persistence", "board_periods",
              "board_top_stocks")


def _missing(section: Mapping[str, Any], what: str, until: str, t: dict) -> str:
    """A section's `missing` note as a sentence in the report's language."""
    if t["history_short"] and "need" in section and what in t["history_what"]:
        return t["history_short"].format(what=t["history_what"][what], until=until,
                                         need=section["need"], have=section["have"])
    return section["missing"]


def _name(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('name') or entry['code']} ({entry['code']})"


def _window(window: Mapping[str, Any], key: str, until: str, t: dict) -> list[str]:
    n = window.get("days") or int(key.rstrip("d"))
    out = [f"### {t['window_heading'].format(n=n)}", ""]
    if "leaders" not in window:
        return out + [_missing(window, key, until, t), ""]
    out += [t["window_span"].format(n=n, start=window["start"], end=window["end"],
                                    ranked=window["ranked"]), ""]
    rows = []
    for i in range(max(len(window["leaders"]), len(window["laggards"]))):
        row: list[Any] = [i + 1]
        for side in ("leaders", "laggards"):
            e = window[side][i] if i < len(window[side]) else None
            row += ([_name(e), yi(e["main_net_sum"]), pct(e.get("change_pct"))] if e
                    else ["", "", ""])
        rows.append(row)
    header = [t["rank"], t["leaders"], t["window_main"].format(n=n),
              t["window_change"].format(n=n), t["laggards"], t["window_main"].format(n=n),
              t["window_change"].format(n=n)]
    return out + table(header, rows) + [""]


def _days(entry: Mapping[str, Any]) -> str:
    return f"{entry['days']}+" if entry.get("at_least") else str(entry["days"])


def _streaks(streaks: Mapping[str, Any], until: str, t: dict) -> list[str]:
    out = [f"### {t['streaks'].format(until=until)}", ""]
    if "inflow" not in streaks:
        return out + [_missing(streaks, "streaks", until, t), ""]
    out += [t["streak_counts"].format(min=streaks["min_days"], inflow=streaks["inflow_stocks"],
                                      outflow=streaks["outflow_stocks"],
                                      start=streaks["window_start"],
                                      days=streaks["window_days"]), ""]
    rows = []
    for i in range(max(len(streaks["inflow"]), len(streaks["outflow"]))):
        row: list[Any] = [i + 1]
        for side in ("inflow", "outflow"):
            e = streaks[side][i] if i < len(streaks[side]) else None
            row += [_name(e), _days(e), yi(e["main_net_sum"])] if e else ["", "", ""]
        rows.append(row)
    if rows:
        out += table([t["rank"], t["streak_in"], t["streak_days"], t["streak_sum"],
                      t["streak_out"], t["streak_days"], t["streak_sum"]], rows) + [""]
    return out


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _market(market: Mapping[str, Any], until: str, t: dict,
            chart_links: Mapping[str, str]) -> list[str]:
    out = [f"### {t['market_20d']}", ""]
    if "series" not in market:
        return out + [_missing(market, "market", until, t), ""]
    out += [t["market_summary"].format(
        start=market["start"], end=market["end"], sum=yi(market["main_net_sum"]),
        inflow=market["inflow_days"], sh=pct(market.get("sh_change_pct")),
        sh_close=_number(market.get("sh_close")), sz=pct(market.get("sz_change_pct")),
        sz_close=_number(market.get("sz_close"))), ""]
    if market.get("note"):
        out += [market["note"], ""]
    if MARKET_CHART in chart_links:
        return out + image(t["market_20d"], MARKET_CHART, chart_links)
    # without the chart (a preview without images): the days as a table
    return out + table([t["date"], t["main_net"]],
                       [[day, yi(value)] for day, value in market["series"]]) + [""]


def render(digest: Mapping[str, Any], lang: str, chart_links: Mapping[str, str]) -> list[str]:
    """The `## 日线历史` section."""
    t = txt.text(lang)
    history = digest.get("history")
    if not history:
        return []  # a digest from before the history (version 1)
    until = digest["trade_date"]
    out = [f"## {t['history']}", ""]
    if "coverage" not in history:
        sentence = (t["history_none"].format(until=until, table="daily_flow")
                    if t["history_none"] else history["missing"])
        return out + [sentence, ""]
    cov = history["coverage"]
    out.append("- " + t["history_coverage"].format(table=history["source"], first=cov["first_day"],
                                                   until=cov["until"], days=cov["days"]))
    if cov.get("gaps"):
        out.append("- " + t["history_gaps"].format(days=", ".join(cov["gaps"])))
    if cov.get("today_from") and cov["today_from"] != history["source"]:
        out.append("- " + t["history_today"].format(table=cov["today_from"]))
    out.append("")
    windows = history.get("windows", {})  # stored JSON sorts "20d" before "5d"
    for key in sorted(windows, key=lambda k: int(k.rstrip("d"))):
        out += _window(windows[key], key, until, t)
    out += _streaks(history.get("streaks", {}), until, t)
    out += _market(history.get("market", {}), until, t, chart_links)
    return out


def day_source(digest: Mapping[str, Any], lang: str) -> list[str]:
    """The header line of a day whose figures come from the daily history."""
    snap = digest["snapshot"]
    used = (digest.get("sources") or {}).get("from_daily_flow") or {}
    if snap.get("source_table") != "daily_flow" or not used:
        return []
    counts: dict[str, int] = {}
    for item in used.values():
        for source, n in item["sources"].items():
            counts[source] = counts.get(source, 0) + n
    sources = ", ".join(f"{source} {n:,}" for source, n in sorted(counts.items()))
    return ["- " + txt.text(lang)["day_source"].format(
        table="daily_flow", sources=sources, at=clock(snap.get("source_fetched_at")))]


def notes(digest: Mapping[str, Any], lang: str, chart_links: Mapping[str, str]) -> list[str]:
    """The `## 数据说明` section: each thing the day lacks, one sentence."""
    t = txt.text(lang)
    items = []
    missing = digest.get("missing") or {}
    keys = [k for k in NOTE_ORDER if k in missing] + sorted(set(missing) - set(NOTE_ORDER))
    for key, note in ((k, missing[k]) for k in keys):
        if key == "intraday" and "intraday.png" in chart_links:
            continue  # the minutes were found after all
        template = t["notes"].get(key)
        sentence = (template.format(tables=", ".join(note["tables"])) if template
                    else note["note"])
        items.append(sentence[:1].upper() + sentence[1:])
    return [f"## {t['data_notes']}", "", *(f"- {item}" for item in items), ""] if items else []
