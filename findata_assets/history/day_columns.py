"""A backfill's kline rows kept per day as numpy columns, to write each day's Parquet file at the
end without reading the day back through the database driver (pymysql decodes ~6,000 rows x 20
values a day in Python: the slowest part of a backfill, before this).

One float64 cell per (day, security, value), written only where a line exists (np.empty: pages
never written are never touched), so 120 days x 5,900 securities cost ~80 MB at most, against
~1 KB a row as Python dicts.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from findata_assets.storage.daily_flow import VALUE_COLUMNS

# numpy is imported where it is used: this module is loaded with the code location, and numpy's
# import starts OpenBLAS threads, which would make the launcher's warm worker unsafe to fork.


class DayColumns:
    def __init__(self, days: Sequence[dt.date], securities: Sequence) -> None:
        import numpy as np

        self.position = {d: i for i, d in enumerate(days)}
        self.securities = list(securities)
        self.slot = {s.secid: i for i, s in enumerate(self.securities)}
        shape = (len(days), len(self.securities))
        self.values = np.empty((*shape, len(VALUE_COLUMNS)), dtype=np.float64)
        self.present = np.zeros(shape, dtype=bool)
        self.fetched = np.zeros(shape, dtype="datetime64[us]")

    def add(self, secid: str, row: Sequence, value_at: int, fetched_at: dt.datetime) -> None:
        """One kline row (daily_flow COLUMNS order; values from `value_at` on)."""
        import numpy as np

        d, s = self.position[row[0]], self.slot[secid]
        values = row[value_at:value_at + len(VALUE_COLUMNS)]
        self.values[d, s] = [np.nan if v is None else v for v in values]
        self.present[d, s] = True
        self.fetched[d, s] = np.datetime64(fetched_at, "us")

    def count(self, day: dt.date) -> int:
        return int(self.present[self.position[day]].sum())

    def table(self, day: dt.date):
        """The day's rows as a table of the file's columns (daily_files.FILE_COLUMNS)."""
        import numpy as np
        import pyarrow as pa

        from findata_assets.storage import daily_files

        d = self.position[day]
        rows = np.flatnonzero(self.present[d])
        chosen = [self.securities[i] for i in rows]
        values = self.values[d, rows]
        columns = {"code": [s.code for s in chosen], "kind": [s.kind for s in chosen],
                   "board": [s.board for s in chosen], "name": [s.name for s in chosen],
                   "source": ["kline"] * len(chosen), "fetched_at": self.fetched[d, rows]}
        for i, name in enumerate(VALUE_COLUMNS):
            column = values[:, i]
            columns[name] = pa.array(column, mask=np.isnan(column), type=pa.float64())
        schema = daily_files.arrow_schema()
        return pa.table([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)
