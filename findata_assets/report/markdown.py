"""The Markdown report of a day, from the digest and the narrative.

Chart links are passed in (`chart_links`: file name -> href) so the same renderer writes the
stored report (relative links `charts/<name>.png`, valid when the folder is downloaded) and the
copy shown in the Dagster UI (presigned URLs).
"""

from __future__ import annotations

from typing import Any, Mapping

from findata_assets.eastmoney import catalog
from findata_assets.report import history_section
from findata_assets.report import text as txt
from findata_assets.report.md_parts import image as _image
from findata_assets.report.md_parts import clock, pct, yi
from findata_assets.report.md_parts import table as _table

MARKET_ORDER = ("all", "sh_sz_a", "sh_a", "sz_a", "chinext", "star", "sh_b", "sz_b")


def _stock_rows(entries: list[dict]) -> list[list[Any]]:
    return [[i, e["code"], e.get("name"), yi(e.get("main_net")), pct(e.get("main_pct")),
             pct(e.get("change_pct")), yi(e.get("small_net"))] for i, e in enumerate(entries, 1)]


def _board_rows(board: dict) -> list[list[Any]]:
    """Leaders and laggards side by side: one compact table per board."""
    rows = []
    for i in range(max(len(board["leaders"]), len(board["laggards"]))):
        row = [i + 1]
        for side in ("leaders", "laggards"):
            e = board[side][i] if i < len(board[side]) else None
            row += ([f"{e.get('name') or e['code']} ({e['code']})", yi(e.get("main_net")),
                     pct(e.get("change_pct"))] if e else ["", "", ""])
        rows.append(row)
    return rows


def _names(items: list[dict], lang: str) -> str:
    if lang == "zh":
        return "、".join(f"{i.get('name') or i['code']}（{i['code']}）" for i in items)
    return ", ".join(f"{i.get('name') or i['code']} ({i['code']})" for i in items)


def render(digest: Mapping[str, Any], narrative: Mapping[str, Any], lang: str,
           chart_links: Mapping[str, str], generated_at: str, notes: list[str] = (),
           synthetic: bool = False) -> str:
    """narrative: {"text", "status", "detail", "model", "prompt_version"} (text may be None);
    synthetic: the data came from the bundled fake API, said at the top."""
    t = txt.text(lang)
    markets = digest["markets"]
    boards = txt.ordered(digest["boards"], catalog.BOARDS)
    all_m = markets["all"]
    snap = digest["snapshot"]
    out = [f"# {t['title']} {digest['trade_date']}", "",
           f"- {t['trade_date']}: **{digest['trade_date']}**",
           f"- {t['snapshot']}: {clock(snap.get('updated_at'))} ({t['tz']})",
           *(["- " + t["source_snapshot"].format(table=snap["source_table"],
                                                  at=clock(snap["source_fetched_at"]))]
             if snap.get("source_fetched_at") and snap.get("source_table") != "daily_flow"
             else []),
           *history_section.day_source(digest, lang),
           f"- {t['generated']}: {generated_at} ({t['tz']})",
           f"- {t['source']}", ""]
    if synthetic:  # offline demo data must never pass for market data
        out[2:2] = [f"> **{t['synthetic']}**", ""]

    b, d = all_m["breadth"], all_m["divergence"]
    out += [f"## {t['key_figures']}", ""]
    out += _table([t["figure"], t["value"]], [
        [t["main_net_all"], f"{yi(all_m['flows']['main_net'])} {t['yi']}"],
        [t["breadth_all"], f"{pct(b['share_inflow'], 100)} ({b['inflow']} / "
                           f"{b['inflow'] + b['outflow'] + b['flat']})"],
        [t["retail_all"], f"{yi(d['retail_net'])} {t['yi']}"],
        [t["divergence_all"], pct(d["opposite_share"], 100)],
        *[[t[k], f"{yi(all_m['flows'][k])} {t['yi']}"] for k in txt.ORDER_SIZES],
    ])
    out.append("")

    header = [t["rank"], t["code"], t["name"], t["main_net"], t["main_pct"], t["change_pct"],
              t["small_net_col"]]
    out += [f"## {t['stocks']}", ""]
    out += _image(t["stocks"], "top_flows.png", chart_links)
    out += [f"### {t['top_in']}", "", *_table(header, _stock_rows(all_m["top"])), ""]
    out += [f"### {t['top_out']}", "", *_table(header, _stock_rows(all_m["bottom"])), ""]

    if boards:
        out += [f"## {t['boards']}", ""]
        out += _image(t["heatmap"], "sector_heatmap.png", chart_links)
        for _, board in boards:
            out += [f"### {txt.label(board, lang)}", "", *_table(
                [t["rank"], t["leaders"], t["main_net"], t["change_pct"],
                 t["laggards"], t["main_net"], t["change_pct"]], _board_rows(board)), ""]

    out += [f"## {t['breadth']}", ""]
    out += _image(t["order_split"], "order_split.png", chart_links)
    out += _table([t["market"], t["stocks_n"], t["inflow_share"], t["main_sum"], t["retail_sum"],
                   t["in_out"], t["out_in"]], [
        [txt.label(m, lang), m["rows"], pct(m["breadth"]["share_inflow"], 100),
         yi(m["divergence"]["main_net"]), yi(m["divergence"]["retail_net"]),
         m["divergence"]["main_in_retail_out"], m["divergence"]["main_out_retail_in"]]
        for k in MARKET_ORDER if (m := markets.get(k))])
    out.append("")

    if "intraday.png" in chart_links:
        out += [f"## {t['intraday']}", "", *_image(t["intraday"], "intraday.png", chart_links)]
        if (digest.get("intraday") or {}).get("coverage"):
            out += [f"- {digest['intraday']['coverage']}", ""]

    out += [f"## {t['persistence']}", ""]
    heading = len(out)
    persistence = digest.get("stock_persistence")
    if persistence:
        n = persistence["n"]
        out.append(f"- {t['stock_leaders'].format(n=n)}: {_names(persistence['leaders'], lang) or t['none']}")
        out.append(f"- {t['stock_laggards'].format(n=n)}: {_names(persistence['laggards'], lang) or t['none']}")
    for _, board in boards:
        if board.get("persistence"):
            p, name = board["persistence"], txt.label(board, lang)
            for side in ("leaders", "laggards"):
                out.append(f"- {t['board_' + side].format(board=name, n=p['n'])}: "
                           f"{_names(p[side], lang) or t['none']}")
    if len(out) == heading:  # no 5d/10d rankings for the day: the data notes say why
        out.append(f"- {t['none']}")
    out.append("")
    out += history_section.render(digest, lang, chart_links)
    out += history_section.notes(digest, lang, chart_links)

    out += [f"## {t['narrative']}", ""]
    if narrative.get("text"):
        out += [narrative["text"].strip(), "",
                f"*{t['narrative_by'].format(model=narrative.get('model'), version=narrative.get('prompt_version'))}*", ""]
    else:
        reason = narrative.get("detail") or narrative.get("status") or "-"
        out += [f"> {t['narrative_missing'].format(reason=reason)}", ""]

    if digest.get("missing_tables"):
        out += [f"*{t['missing']}: {', '.join(digest['missing_tables'])}*", ""]
    out += [f"> {note}" for note in notes]
    out += ["", "---", f"*{t['disclaimer']}*", ""]
    return "\n".join(out)
