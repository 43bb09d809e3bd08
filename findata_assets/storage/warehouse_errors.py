"""The warehouse's errors and the result of a store: every message names the table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence


class WarehouseError(RuntimeError):
    """Base class of warehouse errors."""


class SchemaMismatchError(WarehouseError):
    """An existing table's schema differs from the catalog's; nothing was changed."""

    def __init__(self, table: str, problems: Sequence[str], columns: Sequence[str] = ()):
        self.table = table
        self.problems = list(problems)
        self.columns = sorted(set(columns))
        super().__init__(
            f"table {table} exists with a different schema: " + "; ".join(self.problems)
            + ". The warehouse never alters tables automatically: migrate or drop the table "
              "explicitly.")


class StoreError(WarehouseError):
    """Storing into a table failed and was rolled back; the previous rows are intact."""

    def __init__(self, table: str, message: str):
        self.table = table
        super().__init__(message)


@dataclass(frozen=True)
class StoreResult:
    table: str
    rows: int
    trade_dates: list[dt.date]
    seconds: float
    chunks: int = field(default=0, compare=False)


class PartialStoreError(WarehouseError):
    """`store_many` stopped part way: `stored` committed, the rest did not (the table that failed
    was rolled back, the ones after it were not touched)."""

    def __init__(self, stored: list[StoreResult], not_stored: list[str], cause: BaseException):
        self.stored, self.not_stored, self.cause = stored, not_stored, cause
        super().__init__(f"{len(stored)} of {len(stored) + len(not_stored)} tables stored, "
                         f"{len(not_stored)} not stored ({', '.join(not_stored)}): {cause}")


def driver_error(exc: BaseException) -> str:
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {detail}"
