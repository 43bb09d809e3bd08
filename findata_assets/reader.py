"""One-call reads for research: the warehouse and the archive as pandas DataFrames.

    from findata_assets import reader
    reader.flows("all", "1d", start="2026-11-01")          # 全部股票 今日, every stored day
    reader.flows("sh_a", "5d", start="2026-06-01")          # ... back into the daily history
    reader.sectors("concept", "5d", lang="zh")              # Chinese column labels
    reader.daily("600519", start="2026-06-01")              # one stock's days (日线资金流)
    reader.daily(["600519", "000001"], end="2026-12-01")    # a few stocks
    reader.daily(start="2026-12-01", end="2026-12-01")      # every stock on a day
    reader.daily_sectors("industry", start="2026-11-02")    # boards (or board=None: all types)
    reader.daily_market(start="2026-06-01")                 # 大盘: SH/SZ index and the flows
    reader.intraday("600519", "2026-12-01")                 # one stock's (or board's) day
    reader.intraday("600519", "2026-11-02", end="2026-12-01")   # ... over a range of days
    reader.intraday_market("2026-12-01", minute="10:30")    # every stock at one minute
    reader.intraday_market("2026-12-01")                    # every stock, every minute
    reader.report("2026-12-01")                             # the day's Markdown report
    reader.coverage("2026-12-01")                           # minutes captured, and why not

Built on the platform's own settings (FINDATA_DATABASE_URL, FINDATA_S3_* or the local archive),
read once per process. Intraday minutes of closed days come from their Parquet files in the
object store, the live day's from the warehouse (storage/intraday_reads.py): the same frame
either way. So for the daily history (storage/daily_reads.py): a few codes from the warehouse,
the whole market from the days' Parquet files and the days without one from the warehouse.
Typed: trade dates are `datetime.date`, money is float yuan, a missing value is NaN (never 0).
Bad input (an unknown market, a malformed date, a reversed range, a code that is not one) is a
ValueError naming the valid choices; a warehouse that does not answer, a StoreUnavailableError
naming FINDATA_DATABASE_URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from typing import Iterable, Optional, Union

import pandas as pd
import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.storage.intraday import IntradayStore
from findata_assets.storage.warehouse import Warehouse

DateLike = Union[str, dt.date, None]
LANGS = ("en", "zh")
LABELS_ZH = {c.name: c.label_zh for c in catalog.COLUMNS} | {"minute": "分钟", "board": "板块类型",
                                                            "derived_from_daily": "由日线推算"}
_NUMERIC = {c.name for c in catalog.COLUMNS if c.sql_type == "float"}


@functools.lru_cache(maxsize=1)
def _settings():
    from findata_assets import environment
    from findata_assets.settings import Settings

    return Settings.from_env(environment.current())


@functools.lru_cache(maxsize=1)
def warehouse() -> Warehouse:
    """The warehouse the reader reads (the platform's), for SQL of your own."""
    settings = _settings()
    return Warehouse(settings.database_url, timeout_s=settings.database_timeout_s)


@contextlib.contextmanager
def _reading():
    """A warehouse that does not answer is one clear error naming the setting, not a trace."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        from findata_assets.storage.preflight import warehouse_unavailable

        raise warehouse_unavailable(warehouse(), exc, "nothing was read") from None


def _day(value: DateLike, name: str) -> Optional[dt.date]:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


def _range(start: DateLike, end: DateLike) -> tuple[Optional[dt.date], Optional[dt.date]]:
    first, last = _day(start, "start"), _day(end, "end")
    if first and last and first > last:
        raise ValueError(f"start {first} is after end {last}")
    return first, last


def _spec(kind: str, group: str, period: str) -> catalog.TableSpec:
    try:
        return catalog.table(kind, group, period)
    except KeyError as exc:
        raise ValueError(str(exc).strip("'\"")) from None


def _labelled(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`frame` with Chinese column labels for lang="zh"."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return frame.rename(columns=LABELS_ZH) if lang == "zh" else frame


def _frame(rows: list[dict], columns: Iterable[str], lang: str) -> pd.DataFrame:
    columns = list(columns)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for column in frame.columns:  # NULL is NaN in numeric columns, never 0 or None
        if column in _NUMERIC:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    if "rank" in frame.columns:
        frame["rank"] = frame["rank"].astype("Int64")
    return _labelled(frame, lang)


def _table(kind: str, group: str, period: str, start: DateLike, end: DateLike,
           codes: Optional[Iterable[str]], lang: str) -> pd.DataFrame:
    spec = _spec(kind, group, period)
    first, last = _range(start, end)
    wh = warehouse()
    table = wh.table(spec)
    query = sa.select(table).order_by(table.c.trade_date, table.c.rank)
    if first:
        query = query.where(table.c.trade_date >= first)
    if last:
        query = query.where(table.c.trade_date <= last)
    if codes is not None:
        query = query.where(table.c.code.in_([str(c) for c in codes]))
    with _reading(), wh.engine.connect() as conn:
        if not sa.inspect(conn).has_table(spec.name):
            rows = []
        else:
            rows = [dict(r._mapping) for r in conn.execute(query)]
    return _frame(rows, catalog.COLUMN_NAMES, lang)


def flows(market: str, period: str, start: DateLike = None, end: DateLike = None,
          codes: Optional[Iterable[str]] = None, lang: str = "en") -> pd.DataFrame:
    """A stock table (market: all, sh_sz_a, sh_a, star, sz_a, chinext, sh_b, sz_b; period: 1d,
    3d, 5d, 10d), the stored trade dates in [start, end], ranked within each day.

    Reaching back: the days in [start, end] the table does not hold but the daily history
    (daily_flow) does get rows derived from the daily rows, marked `derived_from_daily` True
    (False for the table's own). 1d is the daily row itself (price = close), the stocks of the
    market by their code prefix; 3d/5d/10d are the sums of the last N daily amounts of each
    stock ending at that day (only when all N trading days are present for that stock, else
    NaN), change_pct compounded from the daily changes, and the N-day shares (main_pct etc.)
    derived as sum(net) / sum(turnover) * 100 where a day's turnover is net/pct*100 from that
    day's main_net/main_pct (NaN when a day's main_pct is 0/NaN). Ranked by main_net within the
    day (rank 1 = largest, NaN last), over the whole market, before `codes` selects."""
    from findata_assets.storage import daily_reads

    codes = None if codes is None else [str(c) for c in codes]
    frame = _table("stock", market, period, start, end, codes, "en")
    first, last = _range(start, end)
    with _reading():
        derived = _daily_reads().derived_flows(_spec("stock", market, period), first, last)
    return _labelled(daily_reads.with_derived(frame, derived, codes), lang)


def sectors(board: str, period: str, start: DateLike = None, end: DateLike = None,
            codes: Optional[Iterable[str]] = None, lang: str = "en") -> pd.DataFrame:
    """A board table (board: industry, concept, region; period: 1d, 5d, 10d)."""
    return _table("sector", board, period, start, end, codes, lang)


@functools.lru_cache(maxsize=1)
def _daily_reads():
    from findata_assets.storage.daily_reads import DailyReads

    return DailyReads(warehouse(), _archive())


def _daily(kind: str, columns, codes, start: DateLike, end: DateLike, lang: str,
           board: Optional[str] = None) -> pd.DataFrame:
    from findata_assets.storage.daily_flow import LABELS_ZH as DAILY_ZH
    from findata_assets.storage.daily_reads import MARKET_LABELS_ZH

    first, last = _range(start, end)
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    with _reading():
        reads = _daily_reads()
        frame = (reads.market(first, last) if kind == "market" else
                 reads.frame(kind, columns, codes=codes, start=first, end=last, board=board))
    return frame.rename(columns=DAILY_ZH | MARKET_LABELS_ZH) if lang == "zh" else frame


def daily(codes: Union[str, Iterable[str], None] = None, start: DateLike = None,
          end: DateLike = None, lang: str = "en") -> pd.DataFrame:
    """Stocks' daily fund flows (the daily history, storage/daily_flow.py): one code ("600519"),
    a list, or None for every stock; a row per stock and trading day in [start, end], by
    (trade_date, code): the five net amounts (yuan) and shares (%), close, change_pct, source
    (snapshot: the platform's own close; kline: the source's daily series)."""
    from findata_assets.storage import daily_reads as dr

    codes = dr.checked_codes(codes, dr.STOCK_CODE, "stock", "6 digits, e.g. '600519'")
    return _daily("stock", dr.STOCK_COLUMNS, codes, start, end, lang)


def daily_sectors(board: Optional[str] = None, start: DateLike = None, end: DateLike = None,
                  codes: Union[str, Iterable[str], None] = None,
                  lang: str = "en") -> pd.DataFrame:
    """Boards' daily fund flows (board: industry, concept, region, or None for every type; codes:
    BKxxxx, one or a list), as daily() with a `board` column (close: the board's index level
    as the source gives it)."""
    from findata_assets.storage import daily_reads as dr

    board = dr.checked_board(board)
    codes = dr.checked_codes(codes, dr.BOARD_CODE, "board", "BK and digits, e.g. 'BK0475'")
    return _daily("board", dr.BOARD_COLUMNS, codes, start, end, lang, board=board)


def daily_market(start: DateLike = None, end: DateLike = None, lang: str = "en") -> pd.DataFrame:
    """The market's (Shanghai + Shenzhen) daily fund flows: the five net amounts and shares,
    sh_close/sh_change_pct (Shanghai Composite), sz_close/sz_change_pct (Shenzhen Component)."""
    return _daily("market", None, None, start, end, lang)


def _family_of(code: str) -> str:
    return "sector" if str(code).upper().startswith("BK") else "stock"


@functools.lru_cache(maxsize=1)
def _archive():
    from findata_assets.resources.object_store import object_store_from_settings

    return object_store_from_settings(_settings(), create_bucket=False)  # reads: no new bucket


def _intraday_reads():
    from findata_assets.storage.intraday_reads import IntradayReads

    return IntradayReads(IntradayStore(warehouse()), _archive())


def trading_days(day: DateLike, end: DateLike = None) -> list[dt.date]:
    """The days the intraday reads take: `day` alone without `end`, else the trading days in
    [day, end]."""
    from findata_assets import trading_calendar as tc

    first = _day(day, "day")
    if first is None:
        raise ValueError("day is required (YYYY-MM-DD)")
    last = _day(end, "end") or first
    if first > last:
        raise ValueError(f"day {first} is after end {last}")
    return [first] if first == last else tc.trading_days(first, last)


def intraday(code: str, day: DateLike, lang: str = "en", end: DateLike = None) -> pd.DataFrame:
    """One stock's (or a BKxxxx board's) path through a trading day, minute by minute; with
    `end`, through every trading day in [day, end]."""
    days = trading_days(day, end)
    with _reading():
        frame = _intraday_reads().frame(_family_of(code), days, code=str(code))
    return _labelled(frame, lang)


def intraday_market(day: DateLike, minute: Optional[str] = None, boards: bool = False,
                    lang: str = "en", end: DateLike = None) -> pd.DataFrame:
    """Every stock (boards=True: every board) at one minute (HH:MM) of a trading day, by main
    net inflow; without `minute`, every minute of the day; with `end`, of each day to `end`."""
    days = trading_days(day, end)
    at = None
    if minute is not None:
        try:
            at = dt.time.fromisoformat(minute)
        except (TypeError, ValueError):
            raise ValueError(f"minute must be HH:MM, got {minute!r}") from None
    with _reading():
        frame = _intraday_reads().frame("sector" if boards else "stock", days, at=at)
    frame = frame.sort_values(["trade_date", "minute", "main_net"], ascending=[True, True, False],
                              na_position="last", kind="stable", ignore_index=True)
    return _labelled(frame, lang)


def last_minute(day: DateLike, boards: bool = False) -> Optional[str]:
    """The last minute (HH:MM) stored for a day, of the stocks (boards=True: the boards); None
    when the day has none."""
    [date] = trading_days(day, None)
    with _reading():
        minute = _intraday_reads().last_minute("sector" if boards else "stock", date)
    return minute.strftime("%H:%M") if minute else None


def day_coverages(day: DateLike, end: DateLike = None) -> list:
    """The coverage (coverage/day_coverage.DayCoverage) of each trading day in [day, end] and
    family: the stored minutes from the warehouse's minute log, the missing minutes' causes
    from the Dagster instance (DAGSTER_HOME); without one they read "no tick"."""
    from findata_assets.defs.intraday.coverage import day_coverage

    instance = _instance()
    with _reading():
        return [day_coverage(instance, warehouse(), family, date)
                for date in trading_days(day, end) for family in ("stock", "sector")]


def _instance():
    """The Dagster instance the platform records its runs in, None when none is configured."""
    from findata_assets import environment

    if not environment.current().get("DAGSTER_HOME"):  # its dagster.yaml: SQLite or PostgreSQL
        return None
    import dagster as dg

    return dg.DagsterInstance.get()


def coverage(day: DateLike, end: DateLike = None) -> pd.DataFrame:
    """Per trading day in [day, end] and family (stock, sector): the session minutes due (so far,
    on the live day), captured, missing and late, the share, and the missing ranges with their
    causes ("10:41-10:42: API unavailable (...)"), one per line."""
    rows = [{"trade_date": c.day, "family": c.family, "minutes_due": c.due,
             "minutes_captured": c.stored, "minutes_missing": c.missing_minutes,
             "minutes_late": len(c.late), "share": c.share,
             "live_at": c.live_at, "missing": "\n".join(r.line() for r in c.missing)}
            for c in day_coverages(day, end)]
    return pd.DataFrame(rows, columns=["trade_date", "family", "minutes_due", "minutes_captured",
                                       "minutes_missing", "minutes_late", "share", "live_at",
                                       "missing"])


def report(day: DateLike) -> str:
    """The day's Markdown report as stored (its charts linked relatively)."""
    from findata_assets.report.keys import report_key

    date = _day(day, "day")
    if date is None:
        raise ValueError("day is required (YYYY-MM-DD)")
    store = _archive()
    key = report_key(date)
    if not store.exists(key):
        raise LookupError(f"no report for {date} in {store.describe()} "
                          f"(materialize fund_flow_report for that day)")
    return store.get_bytes(key).decode("utf-8")


def reset() -> None:
    """Forget the settings read (after changing the environment in a notebook)."""
    if warehouse.cache_info().currsize:
        warehouse().dispose()
    warehouse.cache_clear()
    _archive.cache_clear()
    _daily_reads.cache_clear()
    _settings.cache_clear()
