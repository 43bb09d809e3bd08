"""When the intraday minutes stall in session: the decision the stall alert's sensor takes each
evaluation, free of Dagster (defs/intraday/stall_alert.py wires it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from findata_assets.coverage.session_minutes import segment_start


@dataclass(frozen=True)
class StallState:
    """Of one family: the instant (naive Asia/Shanghai) its newest minute was stored, if ever."""
    last_stored_at: Optional[dt.datetime]
    last_minute: Optional[str]  # "HH:MM" of the newest minute stored


def decide(now: dt.datetime, state: StallState, alerted: bool, stall: dt.timedelta,
           cadence_minutes: int = 1) -> Optional[str]:
    """"alert" when no minute was stored for `stall` (plus the lane's cadence beyond one minute)
    in the session segment `now` lies in; "recovered" when one was after an alert; else None.
    Outside the session, at lunch and on closed days: None (an open outage stays open)."""
    start = segment_start(now)
    if start is None:
        return None
    since = max(state.last_stored_at or start, start)  # the segment's start: after lunch, 09:25
    stalled = now - since > stall + dt.timedelta(minutes=cadence_minutes - 1)
    if stalled and not alerted:
        return "alert"
    if alerted and not stalled and state.last_stored_at is not None and \
            state.last_stored_at >= start:
        return "recovered"
    return None
