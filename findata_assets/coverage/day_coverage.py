"""A day's coverage: the due session minutes, which are stored (and which of them late), and the
missing ones as ranges, each with its cause where the attempts say it.

Causes, from the most telling: "API unavailable" (the tick's run failed calling Eastmoney), "run
failed" (another error), "in progress" (its run is still running), "run stopped" (cancelled),
"lane busy" (the tick was skipped: the lane's previous run still held it), "run overran" (the
tick's run succeeded but its data was of a later minute: it took too long), "partial" (boards
missing), and "no tick" (nothing ran at that minute: the daemon or the schedule was not running).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from findata_assets.coverage.session_minutes import DUE_AFTER, SEGMENTS, due_minutes

LATE_AFTER = dt.timedelta(seconds=20)  # fetched more than this after the minute mark: late

# an attempt's outcome -> the cause it gives a missing minute, most telling first
CAUSE_OF_OUTCOME = {
    "api_unavailable": "API unavailable",
    "failed": "run failed",
    "running": "in progress",
    "stopped": "run stopped",
    "busy": "lane busy",
    "ran": "run overran",
    "late_tick": "no tick",
}
NO_TICK = "no tick"
NO_MINUTE = "no minute in the data"
PARTIAL = "partial"


@dataclass(frozen=True)
class Attempt:
    """What happened at a tick minute of a lane feeding the family."""
    minute: dt.datetime  # the tick's minute, naive Asia/Shanghai
    outcome: str  # a key of CAUSE_OF_OUTCOME
    detail: str = ""  # the error, the run holding the lane, the skip reason
    run_id: Optional[str] = None
    lane: str = ""


@dataclass(frozen=True)
class StoredMinute:
    minute: dt.datetime
    fetched_at: dt.datetime  # the newest fetch stored for it (naive Asia/Shanghai)
    run_id: Optional[str] = None
    boards: frozenset[str] = frozenset()  # sectors: the board types stored at this minute

    @property
    def delay(self) -> dt.timedelta:
        return self.fetched_at - self.minute


@dataclass(frozen=True)
class MissingRange:
    start: dt.datetime
    end: dt.datetime
    minutes: int
    cause: str
    detail: str = ""

    @property
    def span(self) -> str:
        return (f"{self.start:%H:%M}" if self.start == self.end
                else f"{self.start:%H:%M}-{self.end:%H:%M}")

    def line(self) -> str:
        return f"{self.span}: {self.cause}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class DayCoverage:
    day: dt.date
    family: str
    every: int  # the family's cadence in minutes
    due: int  # session minutes due (so far, on the live day)
    stored: int  # of those, stored
    late: list[dt.datetime] = field(default_factory=list)
    missing: list[MissingRange] = field(default_factory=list)
    last_minute: Optional[dt.datetime] = None
    live_at: Optional[dt.datetime] = None  # the live day: coverage so far, as of this instant

    @property
    def share(self) -> float:
        return self.stored / self.due if self.due else 1.0

    @property
    def missing_minutes(self) -> int:
        return sum(r.minutes for r in self.missing)

    def summary(self) -> str:
        """"minutes captured 246/247; missing 10:41-10:42: API unavailable" """
        text = f"minutes captured {self.stored}/{self.due}"
        if self.live_at is not None:
            text += f" so far (at {self.live_at:%H:%M})"
        if self.late:
            text += f", {len(self.late)} late (> {LATE_AFTER.seconds} s)"
        if self.missing:
            text += "; missing " + ", ".join(
                f"{r.span}: {r.cause}" for r in self.missing[:6])
            if len(self.missing) > 6:
                text += f", ... ({len(self.missing) - 6} more ranges)"
        return text

    def to_dict(self) -> dict:
        return {"trade_date": self.day.isoformat(), "family": self.family, "every": self.every,
                "due": self.due, "stored": self.stored, "share": round(self.share, 4),
                "late": [m.strftime("%H:%M") for m in self.late],
                "missing": [{"start": r.start.strftime("%H:%M"), "end": r.end.strftime("%H:%M"),
                             "minutes": r.minutes, "cause": r.cause, "detail": r.detail}
                            for r in self.missing],
                "last_minute": self.last_minute.strftime("%H:%M") if self.last_minute else None,
                "live_at": self.live_at.isoformat(timespec="seconds") if self.live_at else None}


def _cause(minute: dt.datetime, attempts: Sequence[Attempt],
           stored_by_run: Mapping[str, StoredMinute],
           stored_after: Iterable[dt.datetime] = ()) -> tuple[str, str]:
    """The cause of a missing minute from the attempts at it (the most telling wins)."""
    rank = list(CAUSE_OF_OUTCOME)
    for attempt in sorted(attempts, key=lambda a: rank.index(a.outcome)):
        cause = CAUSE_OF_OUTCOME[attempt.outcome]
        detail = attempt.detail
        if attempt.outcome == "ran":
            run = (attempt.run_id or "?")[:8]
            later = stored_by_run.get(attempt.run_id or "")
            if later is not None:
                detail = (f"run {run} took until {later.fetched_at:%H:%M:%S}: its data is of "
                          f"{later.minute:%H:%M}")
            elif any(m > minute for m in stored_after):
                # the log keeps the newest fetch's run: a newer one stored that minute again
                detail = f"run {run} succeeded with the data of a later minute"
            else:
                return NO_MINUTE, f"run {run} succeeded, its snapshot gave no minute (its log)"
        return cause, detail
    return NO_TICK, "no run at this minute: the daemon or the schedule was not running"


def compute(day: dt.date, family: str, stored: Mapping[dt.datetime, StoredMinute],
            attempts: Iterable[Attempt], every: int = 1, boards: frozenset[str] = frozenset(),
            now: Optional[dt.datetime] = None) -> DayCoverage:
    """Coverage of `day` for `family`: `stored` (minute -> what is stored), the `attempts` at the
    lanes' ticks, `boards` the board types a sector minute needs; `now` (naive Asia/Shanghai) on
    the live day: only the minutes due by then count."""
    close = dt.datetime.combine(day, SEGMENTS[-1][1]) + DUE_AFTER
    live = now is not None and now.date() == day and now < close
    due = due_minutes(day, every, now if live else None)
    by_minute: dict[dt.datetime, list[Attempt]] = {}
    for attempt in attempts:
        by_minute.setdefault(attempt.minute, []).append(attempt)
    stored_by_run = {s.run_id: s for s in stored.values() if s.run_id}
    step = dt.timedelta(minutes=every)
    causes: list[tuple[dt.datetime, str, str]] = []
    late, count = [], 0
    for minute in due:
        have = stored.get(minute)
        if have is not None and boards - have.boards:
            causes.append((minute, PARTIAL, "no " + ", ".join(sorted(boards - have.boards))))
            continue
        if have is not None:
            count += 1
            if have.delay > LATE_AFTER:
                late.append(minute)
            continue
        causes.append((minute, *_cause(minute, by_minute.get(minute, []), stored_by_run,
                                       (m for m in stored if minute < m <= minute + 2 * step))))
    return DayCoverage(day, family, every, len(due), count, late, _ranges(causes, every),
                       max(stored) if stored else None, now if live else None)


def _ranges(causes: list[tuple[dt.datetime, str, str]], every: int) -> list[MissingRange]:
    """Consecutive missing minutes of one cause as one range (never across lunch)."""
    ranges: list[MissingRange] = []
    step = dt.timedelta(minutes=every)
    for minute, cause, detail in causes:
        last = ranges[-1] if ranges else None
        if last is not None and last.cause == cause and minute - last.end == step:
            ranges[-1] = MissingRange(last.start, minute, last.minutes + 1, cause, last.detail)
        else:
            ranges.append(MissingRange(minute, minute, 1, cause, detail))
    return ranges
