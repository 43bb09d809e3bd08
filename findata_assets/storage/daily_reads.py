"""Daily history reads for research (reader.daily, daily_sectors, daily_market, and flows()
reaching back) over both homes of a day: the warehouse table daily_flow and each closed day's
Parquet file (storage/daily_files.py).

Which home answers is a matter of speed, never of content: a read of a few codes goes to the
warehouse by its (code, trade_date) index; a read of the whole market (or of many codes over many
days) fetches the days' files in parallel and reads only the days without a file (the live day, a
day not exported yet) from the warehouse. Both give the same frame: columns built from Arrow
(never row dicts), trade_date as datetime.date, strings as pandas strings, numbers as float64,
NaN for a NULL; by (trade_date, code).

No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Optional, Sequence

import sqlalchemy as sa

from findata_assets import trading_calendar as tc
from findata_assets.eastmoney import catalog
from findata_assets.storage import daily_files
from findata_assets.storage.daily_flow import (
    FLOW_COLUMNS, MARKET_CODE, TABLE, build_daily_table, select_rows)
from findata_assets.storage.object_store import ObjectStore
from findata_assets.storage.warehouse import Warehouse

if TYPE_CHECKING:  # pandas and pyarrow only where a frame is built
    import pandas as pd
    import pyarrow as pa

STOCK_CODE = re.compile(r"\d{6}")
BOARD_CODE = re.compile(r"BK\d{4,}")
BOARD_TYPES = tuple(catalog.BOARDS)
_SH_A = ("600", "601", "603", "605", "688", "689")
_SZ_A = ("000", "001", "002", "003", "300", "301")
# a stock's market from its code (eastmoney-api.md: code prefixes by board); None: every stock
MARKET_PREFIXES: dict[str, Optional[tuple[str, ...]]] = {
    "all": None, "sh_sz_a": _SH_A + _SZ_A, "sh_a": _SH_A, "star": ("688", "689"), "sz_a": _SZ_A,
    "chinext": ("300", "301"), "sh_b": ("900",), "sz_b": ("200",)}
PERIOD_DAYS = {"1d": 1, "3d": 3, "5d": 5, "10d": 10}
STOCK_COLUMNS = ("trade_date", "code", "name", *FLOW_COLUMNS, "close", "change_pct", "source")
BOARD_COLUMNS = ("trade_date", "code", "name", "board", *FLOW_COLUMNS, "close", "change_pct",
                 "source")
MARKET_NAMES = {"close": "sh_close", "change_pct": "sh_change_pct", "close_2": "sz_close",
                "change_pct_2": "sz_change_pct"}
MARKET_READ_COLUMNS = ("trade_date", "code", *FLOW_COLUMNS, *MARKET_NAMES, "source")
MARKET_COLUMNS = ("trade_date", *FLOW_COLUMNS, *MARKET_NAMES.values(), "source")
MARKET_LABELS_ZH = {"sh_close": "上证指数收盘", "sh_change_pct": "上证指数涨跌幅",
                    "sz_close": "深证成指收盘", "sz_change_pct": "深证成指涨跌幅"}
DERIVED = "derived_from_daily"
# codes x days at most read from the warehouse (its index, a driver decoding value by value);
# a larger read takes the days' files and keeps the codes asked for
FROM_WAREHOUSE_ROWS = 20_000
_STRINGS = ("code", "kind", "board", "name", "source")


@functools.cache
def _daily_table() -> sa.Table:
    return build_daily_table(sa.MetaData())  # only its description: nothing is created


def arrow_type(column: str):
    import pyarrow as pa

    return (pa.date32() if column == "trade_date" else pa.string() if column in _STRINGS
            else pa.timestamp("us") if column == "fetched_at" else pa.float64())


def _empty(columns: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({c: pa.array([], type=arrow_type(c)) for c in columns})


def days_with_rows(warehouse: Warehouse, table: sa.Table, days: Sequence[dt.date]) -> list:
    """The days among `days` with a row in `table`: one index probe each (a DISTINCT over a
    range reads every row of it: ~0.8 s for 120 days of daily_flow on MariaDB)."""
    found = []
    with warehouse.engine.connect() as conn:
        if not sa.inspect(conn).has_table(table.name):
            return []
        for i in range(0, len(days), 400):  # SQLite takes at most 500 selects in a compound
            chunk = days[i:i + 400]
            query = sa.union_all(*[sa.select(sa.literal(j, sa.Integer)).where(
                sa.exists().where(table.c.trade_date == day)) for j, day in enumerate(chunk)])
            found += [chunk[j] for j in conn.execute(query).scalars()]
    return sorted(found)


class DailyReads:
    """Reads one kind (stock, board, market) of the daily history over a range of days."""

    def __init__(self, warehouse: Warehouse, archive: ObjectStore,
                 today: Optional[dt.date] = None) -> None:
        self.warehouse, self.archive, self._today = warehouse, archive, today
        self.table = _daily_table()
        self._exists = False

    def exists(self) -> bool:
        """Whether the warehouse has the table (a reader creates nothing)."""
        if not self._exists:  # once there, always: asked again only while it is not
            with self.warehouse.engine.connect() as conn:
                self._exists = sa.inspect(conn).has_table(TABLE)
        return self._exists

    def _span(self, start: Optional[dt.date], end: Optional[dt.date]) -> list[dt.date]:
        """The trading days in [start, end]; an open start is the history's first day, an open
        end today."""
        if start is None:
            with self.warehouse.engine.connect() as conn:
                start = conn.execute(sa.select(sa.func.min(self.table.c.trade_date))).scalar()
            if start is None:
                return []
        end = end if end is not None else (self._today or tc.today())
        return tc.trading_days(start, end) if start <= end else []

    def read(self, kind: str, columns: Sequence[str], *, codes: Optional[Sequence[str]] = None,
             start: Optional[dt.date] = None, end: Optional[dt.date] = None,
             board: Optional[str] = None, days: Optional[Sequence[dt.date]] = None) -> pa.Table:
        """`columns` of the kind's rows in [start, end] (or on `days`), by (trade_date, code)."""
        if not self.exists() or (codes is not None and not codes):
            return _empty(columns)
        if days is None and codes is not None:
            span = self._span(start, end)
            if len(codes) * len(span) <= FROM_WAREHOUSE_ROWS:  # the index: no file to fetch
                return self._warehouse(kind, columns, codes=codes, start=start, end=end,
                                       board=board)
            days = span
        elif days is None:
            days = self._span(start, end)
        days = sorted(set(days))
        if not days:
            return _empty(columns)
        # with several days, one LIST tells which have a file: the others (the live day) are
        # read from the warehouse while the files are fetched (the driver decodes in Python,
        # Parquet in C: they overlap)
        filed = self._filed(days) if len(days) > 1 else set(days)
        unfiled = [d for d in days if d not in filed]
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(self._warehouse, kind, columns, codes=codes, board=board,
                                days=unfiled) if unfiled else None
            table, missing = self._files(kind, columns, [d for d in days if d in filed], codes,
                                         board)
            parts = [table, later.result() if later else None]
        if missing:  # a file gone since the LIST, or one day asked without one
            parts.append(self._warehouse(kind, columns, codes=codes, board=board, days=missing))
        return _sorted([t for t in parts if t is not None] or [_empty(columns)])

    def _filed(self, days: list[dt.date]) -> set[dt.date]:
        """The days among `days` that have a file, from one listing of their common prefix."""
        first, last = daily_files.file_key(days[0]), daily_files.file_key(days[-1])
        common = first[:next((i for i, (a, b) in enumerate(zip(first, last)) if a != b),
                             len(first))]
        keys = set(self.archive.list_keys(common))
        return {d for d in days if daily_files.file_key(d) in keys}

    def _files(self, kind, columns, days, codes, board) -> tuple[Optional[pa.Table], list]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not days:
            return None, []
        wanted = list(dict.fromkeys([*columns, "kind", *(["board"] if board else [])]))
        table, missing = daily_files.read_days(self.archive, days, wanted)
        if table is None:
            return None, missing
        keep = pc.equal(table["kind"], kind)
        if board is not None:
            keep = pc.and_(keep, pc.equal(table["board"], board))
        if codes is not None:
            keep = pc.and_(keep, pc.is_in(table["code"], value_set=pa.array(list(codes),
                                                                           pa.string())))
        table = table.filter(keep).select(list(columns))
        schema = pa.schema([pa.field(c, arrow_type(c)) for c in columns])
        return (table if table.schema.equals(schema) else table.cast(schema)), missing

    def _warehouse(self, kind: str, columns: Sequence[str], *, codes=None, start=None, end=None,
                   board=None, days=None) -> pa.Table:
        import pyarrow as pa

        query = select_rows(self.table, columns, kinds=(kind,), codes=codes, days=days,
                            start=start, end=end, board=board)
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        values = list(zip(*rows)) if rows else [() for _ in columns]
        return pa.table({c: pa.array(v, type=arrow_type(c)) for c, v in zip(columns, values)})

    def frame(self, kind: str, columns: Sequence[str], **query) -> pd.DataFrame:
        return to_frame(self.read(kind, columns, **query))

    def market(self, start: Optional[dt.date], end: Optional[dt.date]) -> pd.DataFrame:
        """The market's rows, the index columns named for what they are (MARKET_NAMES)."""
        frame = self.frame("market", MARKET_READ_COLUMNS, codes=[MARKET_CODE], start=start,
                           end=end)
        return frame.rename(columns=MARKET_NAMES).reindex(columns=list(MARKET_COLUMNS))

    # -- flows() reaching back ----------------------------------------------------------------
    def derived_flows(self, spec: catalog.TableSpec, start: Optional[dt.date],
                      end: Optional[dt.date]) -> Optional[pd.DataFrame]:
        """The stock table's rows (catalog columns, `derived_from_daily` True) derived from the
        daily rows, for the days in [start, end] the daily history holds and the table does not;
        None for none.

        1d: each stock's daily row, price = close. 3d/5d/10d: the sums of the stock's last N
        daily amounts ending at that day (the N trading days of the calendar; NaN unless the
        stock has a row on all N), change_pct compounded from the daily changes, and each N-day
        share (main_pct etc.) as sum(net) / sum(turnover) * 100, where a day's turnover is
        net/pct*100 from that day's main_net/main_pct (NaN when a day's main_pct is 0 or NaN).
        The market's stocks by code prefix (MARKET_PREFIXES); ranked by main_net within each
        day (rank 1 = largest, NaN last, then by code)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.exists():
            return None
        ours = days_with_rows(self.warehouse, self.table, self._span(start, end))
        held = set(days_with_rows(self.warehouse, self.warehouse.table(spec), ours))
        targets = [d for d in ours if d not in held]
        if not targets:
            return None
        n, first = PERIOD_DAYS[spec.period.key], targets[0]
        for _ in range(n - 1):
            first = tc.previous_trading_day(first)
        axis = sorted(set(tc.trading_days(first, targets[-1])) | set(targets))
        at = {d: i for i, d in enumerate(axis)}
        needed = sorted({axis[i] for d in targets for i in range(at[d] - n + 1, at[d] + 1)})
        table = self.read("stock", ("trade_date", "code", "name", *FLOW_COLUMNS, "close",
                                    "change_pct", "fetched_at"), days=needed)
        prefixes = MARKET_PREFIXES[spec.group.key]
        if prefixes is not None:
            table = table.filter(pc.is_in(pc.utf8_slice_codeunits(table["code"], 0, 3),
                                          value_set=pa.array(prefixes)))
        return _derived(table.combine_chunks(), axis, targets, n) if table.num_rows else None


def _derived(table: pa.Table, axis: list, targets: list, n: int) -> pd.DataFrame:
    """The derived rows of the target days (see DailyReads.derived_flows), ranked."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from numpy.lib.stride_tricks import sliding_window_view

    ordinals = np.array([d.toordinal() for d in axis])
    day_at = np.searchsorted(ordinals, table["trade_date"].cast(pa.int32()).to_numpy()
                             + dt.date(1970, 1, 1).toordinal())
    encoded = pc.dictionary_encode(table["code"]).chunk(0)
    code_at = encoded.indices.to_numpy()
    code_order = np.argsort(np.argsort(encoded.dictionary.to_numpy(zero_copy_only=False)))
    is_target = np.zeros(len(axis), bool)
    is_target[np.searchsorted(ordinals, [d.toordinal() for d in targets])] = True
    sel = np.flatnonzero(is_target[day_at])  # the rows of the target days
    col = {c: np.asarray(table[c].to_numpy(), dtype=float) for c in
           (*FLOW_COLUMNS, "close", "change_pct")}
    if n == 1:  # the daily row itself
        values = {c: col[c][sel] for c in (*FLOW_COLUMNS, "change_pct")}
    else:
        cell = (code_at[sel], day_at[sel])

        def window(values, reduce=np.sum):  # [stock, day]: NaN unless all n days are there
            m = np.full((len(encoded.dictionary), len(axis)), np.nan)
            m[code_at, day_at] = values
            out = np.full_like(m, np.nan)
            out[:, n - 1:] = reduce(sliding_window_view(m, n, axis=1), axis=-1)
            return out[cell]

        with np.errstate(divide="ignore", invalid="ignore"):
            pct = col["main_pct"]
            turnover = window(np.where((pct != 0) & np.isfinite(pct),
                                       col["main_net"] / pct * 100, np.nan))
            values = {"change_pct": (window(1 + col["change_pct"] / 100, np.prod) - 1) * 100}
            for net in ("main", "super_large", "large", "medium", "small"):
                values[f"{net}_net"] = window(col[f"{net}_net"])
                values[f"{net}_pct"] = values[f"{net}_net"] / turnover * 100
    main = values["main_net"]
    order = np.lexsort((code_order[code_at[sel]], np.where(np.isnan(main), np.inf, -main),
                        day_at[sel]))
    rows, days = sel[order], day_at[sel][order]
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)])) + 1
    out = {"trade_date": table["trade_date"].take(rows), "code": table["code"].take(rows),
           "name": table["name"].take(rows), "rank": pa.array(rank, pa.int64()),
           "price": pa.array(col["close"][rows]), **{c: pa.array(v[order], pa.float64())
                                                        for c, v in values.items()},
           "updated_at": pa.nulls(len(rows), pa.timestamp("us")),
           "fetched_at": table["fetched_at"].take(rows)}
    frame = pa.table(out).to_pandas()
    frame["rank"] = frame["rank"].astype("Int64")
    frame["top_stock_code"] = frame["top_stock_name"] = None
    frame = frame.reindex(columns=list(catalog.COLUMN_NAMES))
    frame[DERIVED] = True
    return frame


def with_derived(table_rows: pd.DataFrame, derived: Optional[pd.DataFrame],
                 codes: Optional[Sequence[str]]) -> pd.DataFrame:
    """The table's rows (marked not derived) and the derived ones, by (trade_date, rank)."""
    import pandas as pd

    table_rows = table_rows.assign(**{DERIVED: False})
    if derived is not None and codes is not None:
        derived = derived[derived["code"].isin(list(codes))]
    if derived is None or derived.empty:
        return table_rows
    if table_rows.empty:
        return derived.reset_index(drop=True)
    derived = derived.astype({c: t for c, t in table_rows.dtypes.items()
                              if c in ("updated_at", "fetched_at")})
    frame = pd.concat([table_rows, derived], ignore_index=True)
    return frame.sort_values(["trade_date", "rank"], kind="stable", ignore_index=True)


def _sorted(tables: list) -> pa.Table:
    """Pieces each by (trade_date, code), no day in two of them, as one table in that order: a
    stable sort by the day alone (dates are integers; a sort by code strings costs ~0.3 s a
    whole-market 120 days)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = [t for t in tables if t.num_rows] or tables[:1]
    if len(tables) == 1:
        return tables[0]
    spans = sorted((pc.min(t["trade_date"]).as_py(), pc.max(t["trade_date"]).as_py(), i)
                   for i, t in enumerate(tables))
    table = pa.concat_tables([tables[i] for _, _, i in spans])
    if all(a[1] < b[0] for a, b in zip(spans, spans[1:])):
        return table  # one after another: already in order
    return table.take(pc.sort_indices(table, sort_keys=[("trade_date", "ascending")]))


def to_frame(table: pa.Table) -> pd.DataFrame:
    """The Arrow table as pandas: dates as datetime.date, float64 with NaN for NULL."""
    return table.to_pandas()


# -- input checks (the reader's ValueErrors) ------------------------------------------------------
def checked_codes(codes, pattern: re.Pattern, what: str, example: str) -> Optional[list[str]]:
    """One code (str), a list of them, or None; anything else is a ValueError naming the form."""
    if codes is None:
        return None
    listed = [codes] if isinstance(codes, str) else codes
    try:
        listed = list(listed)
    except TypeError:
        listed = [listed]
    bad = [c for c in listed if not isinstance(c, str) or not pattern.fullmatch(c)]
    if bad:
        raise ValueError(f"codes must be {what} codes as strings ({example}), one or a list, "
                         f"or None for all; got {bad[0]!r}")
    return list(dict.fromkeys(listed))


def checked_board(board: Optional[str]) -> Optional[str]:
    if board is not None and board not in BOARD_TYPES:
        raise ValueError(f"board must be one of {list(BOARD_TYPES)} or None (all), got {board!r}")
    return board

