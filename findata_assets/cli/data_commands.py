"""Commands that serve the data: `show` (a quick look at a table, or at intraday minutes:
`show intraday 600519 --date D [--end E]`, `show intraday market --date D --minute 10:30`;
closed days come from their Parquet files, the live day from the warehouse; `show daily CODE|BKxxxx|
market [--start D] [--end E]`: the daily history, newest last), `compat-views` and
`drop-compat-views` (the original crawler's tables as views, see storage/compat_views.py)."""

from __future__ import annotations

import re
import sys

from findata_assets.eastmoney import catalog

COMMANDS = ("show", "compat-views", "drop-compat-views")


def add_commands(sub) -> None:
    show = sub.add_parser("show", help="print a stored table's latest day, intraday minutes "
                                       "(show intraday CODE|market|boards --date D), a "
                                       "security's daily history (show daily CODE|market), or "
                                       "which minutes a day holds (show coverage --date D)")
    show.add_argument("group", help="a market (all, sh_a, ...), a board type (industry, ...), "
                                    "'intraday', 'daily' or 'coverage'")
    show.add_argument("period", nargs="?", help="1d, 3d, 5d or 10d; after 'intraday': a code "
                                                "(600519, BK0475), 'market' or 'boards'; after "
                                                "'daily': a code (600519, BK0475) or 'market'")
    show.add_argument("--top", type=int, default=20, help="rows to print (default 20; daily: "
                                                          "the last N days)")
    show.add_argument("--date", help="trade date YYYY-MM-DD (default: the latest stored; "
                                     "intraday: required, the first day; daily: as --start)")
    show.add_argument("--start", help="daily: the first day (YYYY-MM-DD)")
    show.add_argument("--end", help="intraday, daily: the last day of a range (YYYY-MM-DD)")
    show.add_argument("--minute", help="intraday market/boards: the minute HH:MM (default: "
                                       "the day's last)")
    show.add_argument("--zh", action="store_true", help="Chinese column labels")
    sub.add_parser("compat-views", help="create the original project's tables as views")
    sub.add_parser("drop-compat-views", help="drop those views")


_INTRADAY_COLUMNS = ["trade_date", "minute", "code", "name", "price", "change_pct", "main_net",
                     "main_pct", "small_net"]


_DAILY_COLUMNS = ["trade_date", "close", "change_pct", "main_net", "main_pct", "super_large_net",
                  "small_net", "source"]
_MARKET_COLUMNS = ["trade_date", "sh_close", "sh_change_pct", "sz_close", "sz_change_pct",
                   "main_net", "main_pct", "super_large_net", "small_net", "source"]
_MONEY_ZH = {"main_net_yi": "主力净流入(亿)", "super_large_net_yi": "超大单净流入(亿)",
             "small_net_yi": "小单净流入(亿)"}


def _print(title: str, view, zh: bool) -> None:
    import pandas as pd

    from findata_assets.reader import LABELS_ZH
    from findata_assets.storage.daily_flow import LABELS_ZH as DAILY_ZH
    from findata_assets.storage.daily_reads import MARKET_LABELS_ZH

    money = [c for c in ("main_net", "super_large_net", "small_net") if c in view.columns]
    for column in money:  # 亿元, as people read fund flows
        view[column] = view[column] / catalog.YI
    view = view.rename(columns={c: f"{c}_yi" for c in money})
    if zh:
        view = view.rename(columns={**DAILY_ZH, **LABELS_ZH, **MARKET_LABELS_ZH, **_MONEY_ZH,
                                    "rank": "排名", "change_pct": "涨跌幅%",
                                    "main_pct": "主力净占比%"})
    print(title)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(view.to_string(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-"))


def _show_intraday(args) -> int:
    import pandas as pd

    from findata_assets import reader

    if not args.date:
        raise ValueError("show intraday needs --date YYYY-MM-DD (the first day)")
    what = args.period
    if what in ("market", "boards"):
        boards = what == "boards"
        frames = []
        for day in reader.trading_days(args.date, args.end):  # each day at one minute
            minute = args.minute or reader.last_minute(day, boards)  # default: its last
            if minute:
                frames.append(reader.intraday_market(day, minute=minute, boards=boards)
                              .head(args.top))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=_INTRADAY_COLUMNS)
    else:
        frame = reader.intraday(what, args.date, end=args.end).tail(args.top)
    span = args.date + (f"...{args.end}" if args.end else "")
    if frame.empty:
        print(f"no intraday minutes of {what} stored for {span}")
        return 1
    view = frame[_INTRADAY_COLUMNS].copy()
    view["minute"] = view["minute"].dt.strftime("%H:%M")
    _print(f"intraday {what} {span} ({len(view)} rows)", view, args.zh)
    return 0


def _show_coverage(args) -> int:
    from findata_assets import reader

    if not args.date:
        raise ValueError("show coverage needs --date YYYY-MM-DD (the first day)")
    coverages = reader.day_coverages(args.date, args.end)
    for c in coverages:
        print(f"{c.day} {c.family:<6} {c.summary().split(';')[0]} ({100 * c.share:.1f}%)")
    for c in coverages:
        for r in c.missing:
            print(f"  {c.day} {c.family:<6} missing {r.line()}")
        if c.late:
            print(f"  {c.day} {c.family:<6} late: "
                  + ", ".join(m.strftime("%H:%M") for m in c.late[:20]))
    return 0


def _show_daily(args) -> int:
    from findata_assets import reader

    what, start = args.period, args.start or args.date
    if args.start and args.date and args.start != args.date:
        raise ValueError("show daily takes --start or --date (the same: the first day), not both")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if what != "market" and not re.fullmatch(r"\d{6}|[Bb][Kk]\d{4,}", what):
        raise ValueError(f"show daily takes a stock code (6 digits, e.g. 600519), a board code "
                         f"(BK0475) or 'market', got {what!r}")
    if what == "market":
        frame, columns = reader.daily_market(start, args.end), _MARKET_COLUMNS
    elif what.upper().startswith("BK"):
        what = what.upper()
        frame, columns = reader.daily_sectors(None, start, args.end, codes=what), _DAILY_COLUMNS
    else:
        frame, columns = reader.daily(what, start, args.end), _DAILY_COLUMNS
    span = f" for {start or '...'}...{args.end or 'today'}" if start or args.end else ""
    if frame.empty:
        print(f"no daily rows of {what} stored{span}")
        return 1
    frame = frame.tail(args.top)  # newest last
    name = "" if what == "market" else frame["name"].iloc[-1]
    name = f" {name}" if isinstance(name, str) and name else ""
    _print(f"daily {what}{name} {frame['trade_date'].iloc[0]}...{frame['trade_date'].iloc[-1]} "
           f"({len(frame)} days)", frame[columns].copy(), args.zh)
    return 0


def _latest(kind: str, args) -> str | None:
    """The table's newest day, so a look at "the latest" does not derive every day of the
    daily history first (None: the table is empty or missing; then every day is read)."""
    import sqlalchemy as sa

    from findata_assets import reader

    try:
        spec = catalog.table(kind, args.group, args.period)
        warehouse = reader.warehouse()
        with warehouse.engine.connect() as conn:
            if not sa.inspect(conn).has_table(spec.name):
                return None
        dates = warehouse.trade_dates(spec)
    except (KeyError, sa.exc.OperationalError):  # the read that follows says what is wrong
        return None
    return dates[-1].isoformat() if dates else None


def _show(args) -> int:
    import pandas as pd

    from findata_assets import reader

    if args.group == "coverage":
        return _show_coverage(args)
    if args.group == "daily" and args.period is None:
        raise ValueError("show daily needs a code (600519, BK0475) or 'market'")
    if args.group == "daily":
        return _show_daily(args)
    if args.period is None:
        raise ValueError(f"show {args.group} needs a period (1d, 3d, 5d, 10d) or, after "
                         "'intraday', a code, 'market' or 'boards'")
    if args.group == "intraday":
        return _show_intraday(args)
    kind = "sector" if args.group in catalog.groups("sector") else "stock"
    read = reader.sectors if kind == "sector" else reader.flows
    frame = read(args.group, args.period, start=args.date or _latest(kind, args), end=args.date)
    if frame.empty:
        print(f"no rows stored in {catalog.table(kind, args.group, args.period).name}"
              f"{' for ' + args.date if args.date else ''}")
        return 1
    day = frame["trade_date"].max()
    frame = frame[frame["trade_date"] == day].head(args.top)
    columns = ["rank", "code", "name", "price", "change_pct", "main_net", "main_pct", "small_net"]
    derived = " derived from the daily history" if frame.get(
        "derived_from_daily", pd.Series([False])).all() else ""
    _print(f"{catalog.table(kind, args.group, args.period).name} {day} (top {len(frame)}"
           f"{derived})", frame[columns].copy(), args.zh)
    return 0


def run_command(args) -> int:
    import sqlalchemy as sa

    from findata_assets import reader
    from findata_assets.storage import compat_views
    from findata_assets.storage.preflight import StoreUnavailableError, warehouse_unavailable

    try:
        if args.command == "show":
            return _show(args)
        warehouse = reader.warehouse()
        try:
            if args.command == "compat-views":
                names = compat_views.create_views(warehouse)
                print(f"created {len(names)} views in {warehouse.describe()}: {', '.join(names)}")
            else:
                names = compat_views.drop_views(warehouse)
                print(f"dropped {len(names)} views (where present) in {warehouse.describe()}")
        except sa.exc.OperationalError as exc:
            raise warehouse_unavailable(warehouse, exc, "no view was changed") from None
        return 0
    except (ValueError, LookupError, StoreUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
