"""Intraday reads over both homes of a day: closed days from their Parquet files in the object
store, the live day (and a closed day whose file is not written yet) from the warehouse.

Both give the same frame for the same day: the warehouse table's columns and types (trade_date
as datetime.date, minute and fetched_at as datetime64[ns], strings as objects, None for a
missing string, NaN for a missing number), so a reader cannot tell where a day came from except
by asking `home_of`.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Iterable, Literal, Optional

from findata_assets import trading_calendar as tc
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import COLUMNS, FLOW_COLUMNS, IntradayStore
from findata_assets.storage.object_store import ObjectStore

if TYPE_CHECKING:  # pandas (and pyarrow under it) only where a frame is built: ~0.3 s to import
    import pandas as pd

Home = Literal["parquet", "warehouse"]
_FLOATS = [c for c in FLOW_COLUMNS if c != "name"]
_PARALLEL_DAYS = 8  # a file per day: object-store round trips, not CPU, bound a range read


def is_closed(day: dt.date, now: Optional[dt.datetime] = None) -> bool:
    """A day is closed once its session ended: any earlier day, or today after 15:00."""
    local = (now or dt.datetime.now(tc.TZ)).astimezone(tc.TZ)
    return day < local.date() or (day == local.date() and local.time() >= tc.AFTERNOON[1])


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    """One frame shape for both homes (see the module docstring)."""
    import pandas as pd

    frame = frame.reindex(columns=list(COLUMNS))
    for column in ("minute", "fetched_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    for column in ("code", "board", "name"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    for column in _FLOATS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["trade_date"] = frame["trade_date"].astype(object)  # datetime.date, from both homes
    return frame.reset_index(drop=True)


class IntradayReads:
    """Reads one family's minutes for a code or a minute of the market over a range of days."""

    def __init__(self, intraday: IntradayStore, archive: ObjectStore,
                 now: Optional[dt.datetime] = None) -> None:
        self.intraday, self.archive, self._now = intraday, archive, now

    def home_of(self, kind: str, day: dt.date) -> Home:
        """A closed day whose file was verified is read from it (a file written but not
        verified, or whose day changed in the warehouse since, is not)."""
        if is_closed(day, self._now) and self.archive.exists(history.verified_key(kind, day)):
            return "parquet"
        return "warehouse"

    def last_minute(self, kind: str, day: dt.date) -> Optional[dt.datetime]:
        """The day's last stored minute: the file's statistics, or an index end: no rows read."""
        if self.home_of(kind, day) == "parquet":
            return history.last_minute(self.archive, kind, day)
        return self.intraday.minute_span(kind, day)[1]

    def frame(self, kind: str, days: Iterable[dt.date], code: Optional[str] = None,
              at: Optional[dt.time] = None) -> pd.DataFrame:
        """Every row of `days` (optionally one code, or one minute of each day), ordered by
        day, minute and code."""
        import pandas as pd

        days = sorted(set(days))
        with ThreadPoolExecutor(max_workers=_PARALLEL_DAYS) as pool:
            parts = list(pool.map(lambda day: self._day(kind, day, code, at), days))
        parts = [p for p in parts if len(p)]
        if not parts:
            return normalized(pd.DataFrame(columns=list(COLUMNS)))
        frame = normalized(pd.concat(parts, ignore_index=True))
        return frame.sort_values(["trade_date", "minute", "code"], kind="stable",
                                 ignore_index=True)

    def _day(self, kind: str, day: dt.date, code: Optional[str],
             at: Optional[dt.time]) -> pd.DataFrame:
        import pandas as pd

        minute = dt.datetime.combine(day, at) if at is not None else None
        if self.home_of(kind, day) == "parquet":
            return history.read(self.archive, kind, day, code=code, minute=minute).to_pandas()
        if code is not None:
            rows = self.intraday.read_code(kind, code, day)
        elif minute is not None:
            rows = self.intraday.read_minute(kind, day, minute)
        else:
            rows = self.intraday.read_day_dicts(kind, day)
        return pd.DataFrame.from_records(rows, columns=list(COLUMNS))

    def day_series(self, day: dt.date, top_n: int = 5) -> Optional[dict]:
        """What the report draws (IntradayStore.day_series), from whichever home holds the day:
        a report made again for a day the warehouse no longer holds keeps its chart."""
        if self.home_of("stock", day) == "warehouse":
            return self.intraday.day_series(day, top_n)  # no pandas: a report's 0.3-0.4 s
        import pandas as pd

        frame = self._day("stock", day, None, None)
        if frame.empty:
            return None
        market = frame.groupby("minute", sort=True)["main_net"].sum(min_count=1)
        last = market.index[-1]
        top = (frame[(frame["minute"] == last) & frame["main_net"].notna()]
               .sort_values(["main_net", "code"], ascending=[False, True]).head(top_n))
        by_code = frame[frame["code"].isin(top["code"])].set_index(["code", "minute"])["main_net"]
        minutes = list(market.index)

        def value(code, minute):
            got = by_code.get((code, minute))
            return None if got is None or pd.isna(got) else float(got)

        return {"minutes": [m.strftime("%H:%M") for m in minutes],
                "market_main_net": [None if pd.isna(v) else float(v) for v in market],
                "top": [{"code": code, "name": name,
                         "main_net": [value(code, m) for m in minutes]}
                        for code, name in zip(top["code"], top["name"])]}
