"""The fake's IP ban: what the real API does to a client that asks too often.

The facts file: since 2025 clients report bans after a few dozen quick requests; a ban shows as a
connection closed without any HTTP response (sometimes as an empty answer) and lifts after a
while. Modelled as a sliding window: when more than `max_requests` API requests (every API path:
a ban is per IP, and the fake's clients all share one, loopback) arrive within `window_s`
seconds, the one that crossed the limit and every API request for `cooldown_s` seconds from then
get the ban answer. Requests during a ban neither extend it nor count towards the next one
(kept simple; the real rule is unknown), so after the cool-down the window starts empty.
"""

from __future__ import annotations

import threading
import time
from collections import deque

BAN_KINDS = ("drop", "empty")  # socket closed with no answer / HTTP 200 with an empty body


class Ban:
    def __init__(self, clock=time.monotonic) -> None:
        self.max_requests: int | None = None  # None: no ban
        self.window_s, self.cooldown_s, self.kind = 10.0, 60.0, "drop"
        self.bans_started = self.banned = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._arrivals: deque[float] = deque()
        self._until = 0.0

    def configure(self, max_requests: int | None, window_s: float = 10.0,
                  cooldown_s: float = 60.0, kind: str = "drop") -> None:
        """Turn the ban on (or off with None); the window and any ban in force start over."""
        if kind not in BAN_KINDS:
            raise ValueError(f"unknown ban kind {kind!r}; expected one of {BAN_KINDS}")
        if max_requests is not None and (int(max_requests) < 0 or float(window_s) <= 0
                                         or float(cooldown_s) < 0):
            raise ValueError("a ban needs max_requests >= 0, window_s > 0 and cooldown_s >= 0")
        with self._lock:
            self.max_requests = None if max_requests is None else int(max_requests)
            self.window_s, self.cooldown_s = float(window_s), float(cooldown_s)
            self.kind = kind
            self._arrivals.clear()
            self._until = 0.0

    def admit(self) -> str | None:
        """Record one API request as it arrives: None to serve it, else the ban answer's kind."""
        if self.max_requests is None:
            return None
        now = self._clock()
        with self._lock:
            if now < self._until:
                self.banned += 1
                return self.kind
            arrivals = self._arrivals
            arrivals.append(now)
            while arrivals and arrivals[0] <= now - self.window_s:
                arrivals.popleft()
            if len(arrivals) <= self.max_requests:
                return None
            self._until = now + self.cooldown_s
            self._arrivals.clear()
            self.bans_started += 1
            self.banned += 1
            return self.kind

    def banned_now(self) -> bool:
        return self.max_requests is not None and self._clock() < self._until

    def reset_counts(self) -> None:
        with self._lock:
            self.bans_started = self.banned = 0

    def stats(self) -> dict:
        config = None if self.max_requests is None else {
            "max_requests": self.max_requests, "window_s": self.window_s,
            "cooldown_s": self.cooldown_s, "kind": self.kind}
        return {"ban": config, "bans_started": self.bans_started, "banned": self.banned,
                "banned_now": self.banned_now()}
