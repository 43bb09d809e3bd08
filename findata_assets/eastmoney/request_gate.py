"""The process-wide request budget shared by every Eastmoney client in the process."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator


class ProcessGate:
    """At most `limit` requests in flight, starts spaced by `min_interval` seconds."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._last_start = 0.0

    @contextmanager
    def slot(self, limit: int, min_interval: float) -> Iterator[None]:
        with self._cond:
            # Each caller waits until the shared count is below *its* limit, so clients with
            # the same setting share exactly one limit.
            self._cond.wait_for(lambda: self._in_flight < limit)
            self._in_flight += 1
            start = max(time.monotonic(), self._last_start + min_interval)
            self._last_start = start  # reserve the start time before sleeping, outside the lock
        try:
            delay = start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()


GATE = ProcessGate()  # module-global: every client in every thread shares it
