"""When a late page gets a hedged duplicate, and when a request is stalled ("The Tail at Scale",
Dean and Barroso, 2013).

A refresh is a fan-out of 50-70 pages and waits for its slowest one. A page still unanswered past
a high percentile of this client's recent page latencies (never sooner than a floor) gets one
duplicate request; the first complete, valid answer wins. Hedges are capped at a share of the
requests sent. A request is cut off at its deadline: the configured one (connect, headers and
whole body), or sooner, at a few hedge delays, once the API is seen to answer normally: a page
whose duplicate stalls too is then retried in seconds, not at the configured deadline.

When many recent requests ran into their deadline the API is slow everywhere (an outage, a
throttle): then no hedges (doubling the load fixes no outage) and the full configured deadline.
Pure bookkeeping, no I/O; thread-safe.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

SAMPLES = 200  # latencies remembered: the recent past of this client
MIN_SAMPLES = 10  # below that the percentile means little: wait `initial_s`
OUTCOMES = 20  # recent requests judged for an outage
OUTAGE_SHARE = 0.25  # more of them than this cut off by a deadline: the API is slow everywhere


@dataclass(frozen=True)
class HedgeSettings:
    enabled: bool = True
    quantile: float = 0.99  # past this share of page latencies a page counts as late
    floor_s: float = 0.5  # never hedge sooner: jitter on a healthy API is not a tail
    initial_s: float = 0.75  # before MIN_SAMPLES latencies are known
    max_share: float = 0.1  # hedges at most 1 + this share of the primary requests
    stall_factor: float = 3.0  # a request this many hedge delays old is stalled...
    min_stall_s: float = 1.5  # ...but never sooner than this


class HedgePolicy:
    def __init__(self, settings: HedgeSettings, deadline_s: float) -> None:
        self.settings = settings
        self.deadline_s = deadline_s  # the configured deadline: the longest a request may take
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=SAMPLES)
        self._expired: deque[bool] = deque(maxlen=OUTCOMES)
        self._primaries = 0
        self._hedges = 0

    def delay(self) -> float:
        """Seconds a request may be outstanding before it is late."""
        s = self.settings
        with self._lock:
            known = sorted(self._latencies)
        if len(known) < MIN_SAMPLES:
            late = s.initial_s
        else:
            late = known[min(len(known) - 1, math.ceil(s.quantile * len(known)) - 1)]
        return min(max(late, s.floor_s), max(self.deadline_s / 2, s.floor_s))

    def deadline(self) -> float:
        """The deadline of a request that starts now."""
        with self._lock:
            known = len(self._latencies)
        if known < MIN_SAMPLES or self.outage():  # nothing to call "normal" yet, or nothing is
            return self.deadline_s
        stalled = max(self.settings.min_stall_s, self.settings.stall_factor * self.delay())
        return min(self.deadline_s, stalled)

    def outage(self) -> bool:
        with self._lock:
            cut = sum(self._expired)
            return len(self._expired) >= 5 and cut > OUTAGE_SHARE * len(self._expired)

    def started(self) -> None:
        """A primary request (not a hedge) went on the wire."""
        with self._lock:
            self._primaries += 1

    def answered(self, seconds: float) -> None:
        """A request got a complete, valid answer after `seconds` on the wire."""
        with self._lock:
            self._latencies.append(seconds)
            self._expired.append(False)

    def expired(self) -> None:
        with self._lock:
            self._expired.append(True)

    def try_hedge(self) -> bool:
        """May a late request get its duplicate now? Counts it when it may."""
        s = self.settings
        if not s.enabled or self.outage():
            return False
        with self._lock:
            if self._hedges + 1 > 1 + s.max_share * self._primaries:
                return False
            self._hedges += 1
            return True
