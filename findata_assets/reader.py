"""One-call reads for research: the warehouse and the archive as pandas DataFrames.

    from findata_assets import reader
    reader.flows("all", "1d", start="2026-11-01")          # 全部股票 今日, every stored day
    reader.sectors("concept", "5d", lang="zh")              # Chinese column labels
    reader.intraday("600519", "2026-12-01")                 # one stock's (or board's) day
    reader.intraday("600519", "2026-11-02", end="2026-12-01")   # ... over a range of days
    reader.intraday_market("2026-12-01", minute="10:30")    # every stock at one minute
    reader.intraday_market("2026-12-01")                    # every stock, every minute
    reader.report("2026-12-01")                             # the day's Markdown report
    reader.coverage("2026-12-01")                           # minutes captured, and why not

Built on the platform's own settings (FINDATA_DATABASE_URL, FINDATA_S3_* or the local archive),
read once per process. Intraday minutes of closed days come from their Parquet files in the
object store, the live day's from the warehouse (storage/intraday_reads.py): the same frame
either way. Typed: trade dates are `datetime.date`, money is float yuan, a missing
value is NaN (never 0). Bad input (an unknown market, a malformed date, a reversed range) is a
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
LABELS_ZH = {c.name: c.label_zh for c in catalog.COLUMNS} | {"minute": "分钟", "board": "板块类型"}
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
    first, last = _day(start, "start"), _day(end, "end")
    if first and last and first > last:
        raise ValueError(f"start {first} is after end {last}")
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
    3d, 5d, 10d), the stored trade dates in [start, end], ranked within each day."""
    return _table("stock", market, period, start, end, codes, lang)


def sectors(board: str, period: str, start: DateLike = None, end: DateLike = None,
            codes: Optional[Iterable[str]] = None, lang: str = "en") -> pd.DataFrame:
    """A board table (board: industry, concept, region; period: 1d, 5d, 10d)."""
    return _table("sector", board, period, start, end, codes, lang)


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
    _settings.cache_clear()
