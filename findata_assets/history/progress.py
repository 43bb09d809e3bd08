"""Progress of a backfill: securities done / total, rows, rate and the time left."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Progress:
    total: int
    done: int = 0  # answered, resumed from the archive, or failed
    resumed: int = 0
    failed: int = 0
    rows: int = 0
    started: float = field(default_factory=time.monotonic)
    _fetched_started: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rows: int = 0, resumed: bool = False, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.rows += rows
            self.resumed += resumed
            self.failed += failed

    def fetching(self) -> None:
        """The archive is read; from now on the rate counts requests."""
        self._fetched_started = time.monotonic()

    def rate(self) -> float:
        """Securities fetched per second (resumed ones are not fetched)."""
        since = self._fetched_started or self.started
        elapsed = time.monotonic() - since
        return (self.done - self.resumed) / elapsed if elapsed > 0 else 0.0

    def left_s(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        share = self.done / self.total * 100 if self.total else 100.0
        left = self.left_s()
        parts = [f"{self.done:,}/{self.total:,} securities ({share:.1f}%)", f"{self.rows:,} rows",
                 f"{self.rate():.1f}/s"]
        if self.resumed:
            parts.append(f"{self.resumed:,} from the archive")
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.done < self.total:  # an estimate from a handful of answers says nothing
            fetched = self.done - self.resumed
            sure = fetched >= max(20, 0.02 * (self.total - self.resumed)) and left is not None
            parts.append(f"~{_duration(left)} left" if sure else "time left: estimating")
        return ", ".join(parts)


# In-process watchers of a running backfill (the CLI's progress bar): the run's step calls
# publish(); Dagster's run log gets its own, sparser lines.
_LISTENERS: list = []


def listen(callback) -> None:
    _LISTENERS.append(callback)


def unlisten(callback) -> None:
    if callback in _LISTENERS:
        _LISTENERS.remove(callback)


def publish(progress: Progress, final: bool = False) -> None:
    for callback in list(_LISTENERS):
        callback(progress, final)


def publish_event(kind: str, text: str) -> None:
    """A ban, a wait, a note of the run: to the watchers that show events (the CLI)."""
    for callback in list(_LISTENERS):
        on_event = getattr(callback, "on_event", None)
        if on_event is not None:
            on_event(kind, text)


class Throttle:
    """True at most once per `every_s` (and always when forced): log lines, not a flood."""

    def __init__(self, every_s: float) -> None:
        self.every_s, self._last = every_s, 0.0

    def __call__(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self._last = now
            return True
        return False
