"""The process-wide request budget shared by every Eastmoney client in the process.

Each `fetch_tables` call runs its pages on its own asyncio loop (in the caller's thread), and
several calls may run at once in different threads (the stock and sector runs of one CLI cycle),
so the gate is guarded by a thread lock and hands its slots out first come, first served,
waking each waiter on its own loop. Hedged duplicates pass here like every other request (the
same limit and spacing: politeness to Eastmoney does not depend on why a request is sent), but
go ahead of the queue: a hedge that waits behind the refresh's other 50 pages comes too late.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator


class ProcessGate:
    """At most `limit` requests in flight, starts spaced by `min_interval` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_start = 0.0
        self._waiters: deque[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self._urgent = 0  # the first this many waiters are hedges

    @asynccontextmanager
    async def slot(self, limit: int, min_interval: float,
                   urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(limit, urgent)
        try:
            with self._lock:  # reserve the start time now, sleep outside the lock
                start = max(time.monotonic(), self._last_start + min_interval)
                self._last_start = start
            delay = start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            yield
        finally:
            self._release()

    async def _acquire(self, limit: int, urgent: bool) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            # Each caller waits until the shared count is below *its* limit, so clients with
            # the same setting share exactly one limit; nobody overtakes an earlier waiter.
            if not self._waiters and self._in_flight < limit:
                self._in_flight += 1
                return
            granted = loop.create_future()
            waiter = (limit, loop, granted)
            if urgent:  # behind earlier urgent waiters, ahead of the rest
                self._urgent += 1
                self._waiters.insert(self._urgent - 1, waiter)
            else:
                self._waiters.append(waiter)
        try:
            await granted
        except asyncio.CancelledError:
            with self._lock:
                handed_over = granted.done() and not granted.cancelled()
                self._remove(granted)
            if handed_over:  # the slot came as we were cancelled: give it back
                self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._grant_next()

    def _remove(self, granted: asyncio.Future) -> None:
        """Take a waiter out of the queue (the lock is held)."""
        for i, waiter in enumerate(self._waiters):
            if waiter[2] is granted:
                del self._waiters[i]
                if i < self._urgent:
                    self._urgent -= 1
                return

    def _grant_next(self) -> None:
        """Hand free slots to the waiters in arrival order (the lock is held)."""
        while self._waiters and self._in_flight < self._waiters[0][0]:
            _, loop, granted = self._waiters[0]
            self._remove(granted)
            if granted.done() or loop.is_closed():
                continue
            self._in_flight += 1
            loop.call_soon_threadsafe(_grant, granted, self)


def _grant(granted: asyncio.Future, gate: ProcessGate) -> None:
    """On the waiter's loop: wake it, or return the slot when it was cancelled meanwhile."""
    if granted.done():
        gate._release()
    else:
        granted.set_result(None)


GATE = ProcessGate()  # module-global: every client in every thread shares it
