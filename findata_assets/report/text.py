"""Report and chart wording in both languages (FINDATA_REPORT_LANG=zh|en)."""

from __future__ import annotations

ORDER_SIZES = ("super_large_net", "large_net", "medium_net", "small_net")

TEXT = {
    "zh": {
        "title": "A股资金流向日报", "trade_date": "交易日", "snapshot": "数据时间",
        "source_snapshot": "本报告数据取自 {table} 于 {at} 抓取的快照（之后的刷新会替换数据库中的行，本报告不变）",
        "generated": "生成时间", "tz": "北京时间", "source": "数据来源：东方财富资金流向（主力 = 超大单 + 大单，散户 = 小单）",
        "synthetic": "注意：本报告的数据来自 findata 内置的模拟接口（离线演示），是合成数据，不是真实行情。",
        "key_figures": "关键数据", "figure": "指标", "value": "数值",
        "main_net_all": "全部股票主力净流入", "breadth_all": "主力净流入为正的股票占比",
        "retail_all": "小单（散户）净流入", "divergence_all": "主力与散户方向相反的股票占比",
        "stocks": "个股资金流向（全部股票，今日）", "top_in": "主力净流入前10", "top_out": "主力净流出前10",
        "rank": "#", "code": "代码", "name": "名称", "main_net": "主力净流入(亿)",
        "main_pct": "净占比%", "change_pct": "涨跌幅%", "small_net_col": "小单净流入(亿)",
        "boards": "板块资金流向（今日）", "leaders": "流入居前", "laggards": "流出居前",
        "heatmap": "板块 1日/5日/10日 主力净流入（亿元，颜色按列缩放）", "breadth": "市场宽度与主力/散户分歧",
        "market": "市场", "stocks_n": "股票数", "inflow_share": "净流入占比",
        "main_sum": "主力(亿)", "retail_sum": "散户小单(亿)", "in_out": "主力进散户出",
        "out_in": "主力出散户进", "order_split": "按订单规模的净流入（亿元）",
        "intraday": "分时资金流", "intraday_market": "全部股票主力净流入（累计，亿元）",
        "intraday_top": "主力净流入前5个股（亿元）",
        "persistence": "持续性：1日/5日/10日 均居前", "stock_leaders": "个股持续流入（均在前{n}）",
        "stock_laggards": "个股持续流出（均在后{n}）", "board_leaders": "{board}持续流入（均在前{n}）", "board_laggards": "{board}持续流出（均在后{n}）",
        "none": "无", "narrative": "AI 解读", "narrative_by": "由 {model} 生成（提示词版本 {version}）",
        "narrative_missing": "本期未生成 AI 解读：{reason}", "missing": "缺少的数据表",
        "disclaimer": "本报告由程序自动生成，仅供参考，不构成投资建议。",
        "super_large_net": "超大单", "large_net": "大单", "medium_net": "中单", "small_net": "小单",
        "yi": "亿元", "period": {"1d": "1日", "5d": "5日", "10d": "10日"},
        "chart_top": "主力净流入/流出前10（{date}，亿元）",
        # the daily history (history_section.py)
        "history": "日线历史：多日资金流",
        "history_coverage": "日线历史（{table}）自 {first} 起，截至 {until} 共 {days} 个交易日",
        "history_gaps": "历史中缺少的交易日（连续天数在此中断）：{days}",
        "history_today": "当日个股数据取自 {table}（日线历史在收盘后才收录当日）",
        "history_none": "截至 {until} 尚无日线历史（{table}）——运行 `python -m findata_assets.run history` 补录历史。",
        "history_short": "{what}需要截至 {until} 的 {need} 个交易日的历史，目前只有 {have} 个——运行 `python -m findata_assets.run history` 补录历史。",
        "history_what": {"5d": "5日排名", "20d": "20日排名", "streaks": "连续流入/流出统计",
                         "market": "大盘20日主力资金"},
        "window_heading": "{n}日主力净流入排名", "window_span": "{start} 至 {end}，{ranked} 只股票有完整的{n}日数据。",
        "window_main": "{n}日主力(亿)", "window_change": "{n}日涨跌幅%",
        "streaks": "连续主力净流入 / 净流出（截至 {until}）",
        "streak_in": "连续净流入", "streak_out": "连续净流出", "streak_days": "天数",
        "streak_sum": "合计(亿)",
        "streak_counts": "连续{min}日及以上主力净流入 {inflow} 只、净流出 {outflow} 只（统计 {start} 起的 {days} 个交易日；“+”表示延续到统计起点或历史缺口，实际可能更长）",
        "market_20d": "大盘近20日主力净流入（亿元）",
        "market_summary": "{start} 至 {end}：沪深两市主力净流入合计 {sum} 亿元，其中 {inflow} 日净流入；上证指数 {sh}（收于 {sh_close}），深证成指 {sz}（收于 {sz_close}）",
        "date": "日期", "sh_close": "上证指数",
        "data_notes": "数据说明",
        "day_source": "本日数据取自日线资金流历史 {table}（{sources}；抓取于 {at}）：平台当天没有1日快照。",
        "notes": {"markets": "以下市场缺少当日的1日数据，未列出：{tables}。",
                  "boards": "以下板块缺少当日的1日数据，未列出：{tables}。",
                  "stock_persistence": "个股1日/5日/10日持续性需要当日的 {tables}，数据库中没有。",
                  "board_periods": "板块的5日/10日数据和持续性需要当日的 {tables}，数据库中没有。",
                  "board_top_stocks": "板块领涨股随1日板块快照提供，当日没有（{tables}）：板块数据取自日线历史。",
                  "intraday": "平台当天没有盯盘：没有分时数据和1日快照，当日数据取自日线历史。"},
    },
    "en": {
        "title": "A-share fund-flow report", "trade_date": "Trade date", "snapshot": "Data as of",
        "source_snapshot": "Numbers from the {table} snapshot fetched at {at} (a later refresh replaces the warehouse's rows; this report stays as it is)",
        "generated": "Generated", "tz": "Asia/Shanghai",
        "source": "Source: Eastmoney fund-flow rankings (main = super-large + large orders, retail = small orders)",
        "synthetic": "Note: the data of this report comes from findata's bundled fake API (offline demo): it is synthetic, not market data.",
        "key_figures": "Key figures", "figure": "Figure", "value": "Value",
        "main_net_all": "All stocks, main net inflow", "breadth_all": "Stocks with main net inflow > 0",
        "retail_all": "Small-order (retail) net inflow", "divergence_all": "Stocks where main and retail disagree",
        "stocks": "Stocks (all markets, today)", "top_in": "Top 10 main net inflows",
        "top_out": "Top 10 main net outflows", "rank": "#", "code": "Code", "name": "Name",
        "main_net": "Main net (100M)", "main_pct": "Main %", "change_pct": "Change %",
        "small_net_col": "Small net (100M)", "boards": "Sectors (today)", "leaders": "Leaders",
        "laggards": "Laggards", "heatmap": "Sector main net inflow, 1d / 5d / 10d (100M yuan, colour scaled per column)",
        "breadth": "Breadth and main vs retail", "market": "Market", "stocks_n": "Stocks",
        "inflow_share": "Inflow share", "main_sum": "Main (100M)", "retail_sum": "Retail small (100M)",
        "in_out": "Main in, retail out", "out_in": "Main out, retail in",
        "order_split": "Net inflow by order size (100M yuan)",
        "intraday": "Intraday flows", "intraday_market": "All stocks: main net inflow so far (100M yuan)",
        "intraday_top": "Top 5 stocks by main net inflow (100M yuan)",
        "persistence": "Persistence: leading over 1d, 5d and 10d",
        "stock_leaders": "Stocks in the top {n} of all three", "stock_laggards": "Stocks in the bottom {n} of all three",
        "board_leaders": "{board}: in the top {n} of all three",
        "board_laggards": "{board}: in the bottom {n} of all three", "none": "none",
        "narrative": "AI commentary", "narrative_by": "Written by {model} (prompt {version})",
        "narrative_missing": "No AI commentary for this day: {reason}", "missing": "Missing tables",
        "disclaimer": "Generated automatically; for information only, not investment advice.",
        "super_large_net": "Super-large", "large_net": "Large", "medium_net": "Medium", "small_net": "Small",
        "yi": "100M yuan", "period": {"1d": "1d", "5d": "5d", "10d": "10d"},
        "chart_top": "Top 10 main net inflows / outflows ({date}, 100M yuan)",
        # the daily history (history_section.py)
        "history": "Daily history: flows over several days",
        "history_coverage": "Daily history ({table}) from {first}: {days} trading days up to {until}",
        "history_gaps": "Trading days the history lacks (streaks end there): {days}",
        "history_today": "The day's stock rows come from {table} (the daily history files a day after the close)",
        "history_none": None,  # the digest's own sentence
        "history_short": None,
        "history_what": {},
        "window_heading": "{n}-day main net inflow ranking", "window_span": "{start} to {end}, {ranked} stocks with all {n} days.",
        "window_main": "{n}d main (100M)", "window_change": "{n}d change %",
        "streaks": "Main inflow / outflow streaks (up to {until})",
        "streak_in": "Inflow streak", "streak_out": "Outflow streak", "streak_days": "Days",
        "streak_sum": "Sum (100M)",
        "streak_counts": "{inflow} stocks with main inflows and {outflow} with outflows on {min} or more consecutive days (over {days} trading days from {start}; \"+\": the run reaches the first day read or a gap in the history, it may be longer)",
        "market_20d": "Market main net inflow, last 20 days (100M yuan)",
        "market_summary": "{start} to {end}: Shanghai + Shenzhen main net inflow {sum} (100M yuan), inflows on {inflow} days; Shanghai Composite {sh} (closing at {sh_close}), Shenzhen Component {sz} (closing at {sz_close})",
        "date": "Date", "sh_close": "Shanghai Composite",
        "data_notes": "Data notes",
        "day_source": "The day's figures come from the daily history {table} ({sources}; fetched at {at}): the platform has no 1d snapshot of the day.",
        "notes": {},  # the digest's own sentences
    },
}


def text(lang: str) -> dict:
    return TEXT[lang]


def ordered(groups: dict, order) -> list[tuple[str, dict]]:
    """Digest sections in catalog order (stored JSON has its keys sorted alphabetically)."""
    return [(key, groups[key]) for key in order if key in groups]


def label(item: dict, lang: str) -> str:
    """A catalog group's label (markets and boards carry label_zh / label_en)."""
    return item["label_zh"] if lang == "zh" else item["label_en"]
