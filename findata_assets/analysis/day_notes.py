"""The digest's `missing` notes: per section, what a day lacks and which tables it would need.

A day the platform watched lacks nothing; a backfilled day (daily_flow rows, no 1d snapshot)
lacks the other markets, the 5d/10d rankings, the boards' top stocks and the intraday minutes.
Each note is one English sentence plus the table names (the report words it in Chinese).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from findata_assets.eastmoney import catalog
from findata_assets.storage.daily_flow import TABLE as DAILY_TABLE


def _note(text: str, tables: Sequence[str]) -> dict:
    return {"note": text, "tables": list(tables)}


def missing_notes(inputs, markets: Mapping, boards: Mapping, stock_persistence: Optional[dict],
                  required: str) -> dict:
    """What the day lacks, per section: {"note": sentence, "tables": the tables it would need}.
    `inputs`: the digest's DayInputs (`of`, `daily`, `trade_date`); `required`: the table of the
    headline figures (全部股票 1d)."""
    day, notes = inputs.trade_date, {}
    absent = [s.name for k in catalog.MARKETS if k not in markets
              for s in [catalog.table("stock", k, "1d")]]
    if absent:
        notes["markets"] = _note(f"no 1d rows for {day} in {', '.join(absent)}: those markets "
                                 "are left out", absent)
    absent = [s.name for k in catalog.BOARDS if k not in boards
              for s in [catalog.table("sector", k, "1d")]]
    if absent:
        notes["boards"] = _note(f"no 1d rows for {day} in {', '.join(absent)}: those boards "
                                "are left out", absent)
    if stock_persistence is None:
        need = [s.name for p in ("1d", "5d", "10d")
                if not inputs.of(s := catalog.table("stock", "all", p))]
        notes["stock_persistence"] = _note(
            f"the 1d/5d/10d persistence of stocks needs {', '.join(need)} for {day}, which the "
            "warehouse lacks", need)
    need = [s.name for k in boards for p in ("5d", "10d")
            if not inputs.of(s := catalog.table("sector", k, p))]
    if need:
        notes["board_periods"] = _note(
            f"the boards' 5d/10d figures and persistence need {', '.join(need)} for {day}, "
            "which the warehouse lacks", need)
    stand_ins = [s.name for k in boards if (s := catalog.table("sector", k, "1d")).name
                 in inputs.daily]
    if stand_ins:
        notes["board_top_stocks"] = _note(
            f"the boards' top stocks (领涨股) come with the 1d sector snapshot, which {day} lacks "
            f"({', '.join(stand_ins)}): its boards come from {DAILY_TABLE}", stand_ins)
    if required in inputs.daily:
        notes["intraday"] = _note(
            f"the platform did not watch {day}: no intraday minutes and no 1d snapshot, the "
            f"day's figures come from its {DAILY_TABLE} rows", [])
    return notes
