"""Daily rows (storage/daily_flow.py COLUMNS) from the two sources, and their agreement.

A kline line gives a security's day as the source keeps it; a 1d snapshot the platform fetched
after the close gives the same day as the platform watched it. Where both exist the snapshot is
stored (it is what the platform saw, without a request) and the line is compared with it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

from findata_assets.storage.daily_flow import COLUMNS, FLOW_COLUMNS, VALUE_COLUMNS

COMPARED = (*FLOW_COLUMNS, "close", "change_pct")
# Both sources round amounts to 0.01 yuan and shares to 0.01 percent: a difference beyond
# rounding is a difference.
TOLERANCE = {c: (0.5 if c.endswith("_net") else 0.005) for c in COMPARED}
CLOSE_TIME = dt.time(15, 0)
_LINE_VALUES = (*FLOW_COLUMNS, "close", "change_pct")  # VALUE_COLUMNS before close_2


VALUE_AT = COLUMNS.index(VALUE_COLUMNS[0])  # where a row's values start


def kline_row(security, line, fetched_at: dt.datetime) -> tuple:
    """One line of a security's series as its daily row, a tuple in COLUMNS order (a backfill
    makes ~700k: no dict each). f64/f65 only for the market: for others the source sends 0.00
    that means nothing."""
    market = security.kind == "market"
    return (line.trade_date, security.code, security.kind, security.board, security.name,
            *(getattr(line, c) for c in _LINE_VALUES),
            line.close_2 if market else None, line.change_pct_2 if market else None,
            "kline", fetched_at)


def as_dict(row: tuple) -> dict:
    return dict(zip(COLUMNS, row))


def snapshot_row(kind: str, board: Optional[str], row: dict) -> dict:
    """A stored 1d table row (catalog columns) as the daily row of its day."""
    out = dict.fromkeys(COLUMNS)
    out.update(trade_date=row["trade_date"], code=row["code"], kind=kind, board=board,
               name=row["name"], close=row["price"], change_pct=row["change_pct"],
               source="snapshot", fetched_at=row["fetched_at"],
               **{c: row[c] for c in FLOW_COLUMNS})
    return out


def watched(fetched_at: Optional[dt.datetime], day: dt.date) -> bool:
    """A snapshot of `day` fetched after its close (naive Asia/Shanghai)."""
    return fetched_at is not None and fetched_at >= dt.datetime.combine(day, CLOSE_TIME)


@dataclass
class Agreement:
    """How the source's lines agree with the watched snapshots of one day."""

    compared: int = 0
    differing: int = 0
    worst: Optional[tuple[float, str, str, float, float]] = None  # (gap, code, column, snap, line)
    examples: list[str] = field(default_factory=list)

    def add(self, code: str, snap: dict, line_row: dict) -> None:
        self.compared += 1
        gaps = []
        for column in COMPARED:
            a, b = snap.get(column), line_row.get(column)
            if a is None and b is None:
                continue
            if a is None or b is None:
                gaps.append((math.inf, column, a, b))
            elif abs(a - b) > TOLERANCE[column]:
                gaps.append((abs(a - b), column, a, b))
        if not gaps:
            return
        self.differing += 1
        gap, column, a, b = max(gaps, key=lambda g: g[0])
        if self.worst is None or gap > self.worst[0]:
            self.worst = (gap, code, column, a, b)
        if len(self.examples) < 5:
            self.examples.append(f"{code} {column}: snapshot {a}, source {b}")

    @property
    def share(self) -> float:
        return self.differing / self.compared if self.compared else 0.0

    def describe(self) -> str:
        if not self.compared:
            return "nothing to compare"
        text = f"{self.differing:,} of {self.compared:,} securities differ ({self.share:.2%})"
        if self.worst:
            gap, code, column, a, b = self.worst
            text += f"; worst {code} {column}: snapshot {a}, source {b}"
        return text


def merge_agreements(items: Iterable[Agreement]) -> Agreement:
    out = Agreement()
    for a in items:
        out.compared += a.compared
        out.differing += a.differing
        if a.worst and (out.worst is None or a.worst[0] > out.worst[0]):
            out.worst = a.worst
        out.examples += a.examples[: max(0, 5 - len(out.examples))]
    return out
