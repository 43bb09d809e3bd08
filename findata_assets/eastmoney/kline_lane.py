"""The history lane's queue and ban state: which security goes next, and when the lane pauses.

Bookkeeping on the fetch's asyncio loop, no I/O (kline_fetch.py sends the requests). Every
security handed out (`take`) comes back exactly once: answered, retried later, put back after a
ban signal, or failed.

A ban on the real API is a connection closed without any HTTP response, or an HTTP 200 with an
empty body ("ban signals"). `ban_after` of them in a row (any good answer breaks the row) mean
a ban: the lane pauses (requests in flight finish or fail), waits the cool-down, then sends one
probe, the next security due. A good answer resumes the lane; anything else doubles the
cool-down (up to the longest) before the next probe. A security whose request met a ban signal
goes to the back of the queue with no attempt counted: a ban never makes a security fail.

A connection that closes for one security while the others are answered is no ban, though: once
a security's signal was followed by another's good answer (a row broken), its further signals
while the lane runs are failed attempts of its own (`lone`), so it cannot hold the lane in
endless bans at the end of a run. With no other security ever answered (a fetch of one), the lane
cannot tell such a security from a ban, and keeps probing until stopped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from findata_assets.settings.history import ENV_BAN_COOLDOWN_S, HistorySettings

log = logging.getLogger("findata.history")

RUNNING, BANNED, PROBING = "running", "banned", "probing"


@dataclass
class Ticket:
    """One request of one security."""

    secid: str
    attempt: int  # 1-based; ban signals are not attempts
    probe: bool  # the one request that tests whether a ban is over


@dataclass
class BanStats:
    bans: int = 0
    ban_seconds: float = 0.0
    probes: int = 0
    signals: int = 0  # every ban signal, in a ban or not


class Lane:
    def __init__(self, secids: Iterable[str], settings: HistorySettings,
                 on_event: Callable[[str, str], None],
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.pending: deque[str] = deque(dict.fromkeys(secids))  # each security once, in order
        self._delayed: list[tuple[float, int, str]] = []  # (due, seq, secid): retries backing off
        self._seq = itertools.count()
        self._failed: dict[str, int] = {}  # secid -> attempts that failed
        self._lone: dict[str, int] = {}
        self._streak: list[str] = []  # the securities of the current row of ban signals
        self.in_flight = 0
        self.state = RUNNING
        self.cooldown = settings.ban_cooldown_s
        self._ban_started = self._probe_at = 0.0
        self._ban_probes = 0
        self.stats = BanStats()
        self._emit, self._sleep_fn, self._clock = on_event, sleep, clock
        self._wake = asyncio.Event()

    # -- handing out -----------------------------------------------------------------------------

    async def take(self) -> Ticket | None:
        """The next security to request; None once every one is answered or failed."""
        while True:
            now = self._clock()
            while self._delayed and self._delayed[0][0] <= now:  # backed off long enough
                self.pending.appendleft(heapq.heappop(self._delayed)[2])
            if not self.pending and not self._delayed and not self.in_flight:
                return None
            wake_at = [self._delayed[0][0]] if self._delayed else []
            if self.state == RUNNING and self.pending:
                return self._issue(probe=False)
            if self.state == BANNED:
                if now >= self._probe_at and self.pending:
                    self.state = PROBING
                    self._ban_probes += 1
                    self.stats.probes += 1
                    return self._issue(probe=True)
                if now < self._probe_at:
                    wake_at.append(self._probe_at)
            await self._wait(min(wake_at) - now if wake_at else None)

    def _issue(self, probe: bool) -> Ticket:
        secid = self.pending.popleft()
        self.in_flight += 1
        return Ticket(secid, self._failed.get(secid, 0) + 1, probe)

    def lone(self, ticket: Ticket) -> bool:
        """Is a ban signal for this request the security's own failure, not a ban's?"""
        return self.state == RUNNING and not ticket.probe and self._lone.get(ticket.secid, 0) > 0

    # -- what came back ----------------------------------------------------------------------------

    def answered(self, ticket: Ticket) -> None:
        """A good answer (an API envelope): the row of ban signals is broken."""
        for secid in self._streak:  # their connections closed while this one was answered
            self._lone[secid] = 1
        self._streak.clear()
        if ticket.probe:
            paused = self._clock() - self._ban_started
            self.stats.ban_seconds += paused
            self.state, self.cooldown = RUNNING, self.settings.ban_cooldown_s
            self._event("resumed", f"history lane resumed after {paused:.1f} s paused, "
                                   f"{self._ban_probes} probe(s); the ban is over")
        self._done()

    def ban_signal(self, ticket: Ticket, kind: str) -> None:
        """No answer at all (`kind`: disconnect, reset, empty): back to the end of the queue."""
        self.stats.signals += 1
        self.pending.append(ticket.secid)
        if ticket.probe:
            self._probe_failed(ticket, kind)
        elif self.state == RUNNING:
            self._streak.append(ticket.secid)
            if len(self._streak) >= self.settings.ban_after:
                self._ban(kind)
        self._done()

    def retry(self, ticket: Ticket, delay: float, reason: str) -> None:
        """A failed attempt that may pass with time: again after `delay` seconds."""
        self._failed[ticket.secid] = ticket.attempt
        heapq.heappush(self._delayed, (self._clock() + delay, next(self._seq), ticket.secid))
        if ticket.probe:
            self._probe_failed(ticket, reason)
        self._done()

    def failed(self, ticket: Ticket, reason: str) -> None:
        """The security is given up (its attempts are spent, or it cannot be asked for)."""
        self._failed[ticket.secid] = ticket.attempt
        if ticket.probe:
            self._probe_failed(ticket, reason)
        self._done()

    # -- the ban -----------------------------------------------------------------------------------

    def _ban(self, kind: str) -> None:
        rows = len(self._streak)
        self._streak.clear()  # a ban's drops are nobody's fault
        self.state, self.cooldown = BANNED, self.settings.ban_cooldown_s
        self._ban_started = self._clock()
        self._probe_at = self._ban_started + self.cooldown
        self._ban_probes = 0
        self.stats.bans += 1
        self._event("ban", f"history lane paused: {rows} requests in a row got no answer "
                           f"(last: {kind}), the API's ban; one probe in {self.cooldown:g} s "
                           f"({ENV_BAN_COOLDOWN_S}, doubling while the ban lasts); "
                           f"{len(self.pending) + len(self._delayed)} securities waiting")

    def _probe_failed(self, ticket: Ticket, reason: str) -> None:
        self.cooldown = min(2 * self.cooldown, self.settings.ban_max_cooldown_s)
        self.state, self._probe_at = BANNED, self._clock() + self.cooldown
        log.warning("history lane: the ban goes on (probe %d, %s: %s); next probe in %g s",
                    self._ban_probes, ticket.secid, reason, self.cooldown)

    def _event(self, kind: str, message: str) -> None:
        """Said once, by the caller's on_event (it logs, relays to a run log, alerts)."""
        log.info("%s", message)
        self._emit(kind, message)

    # -- waiting -----------------------------------------------------------------------------------

    def _done(self) -> None:
        self.in_flight -= 1
        self._wake.set()  # wake every waiter in take(); each looks again
        self._wake = asyncio.Event()

    async def _wait(self, timeout: float | None) -> None:
        waits = {asyncio.ensure_future(self._wake.wait())}
        if timeout is not None:
            waits.add(asyncio.ensure_future(self._sleep_fn(max(0.0, timeout))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
