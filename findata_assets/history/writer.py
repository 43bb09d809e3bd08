"""The backfill's writes to the warehouse, in a thread of its own: the fetch never waits for a
transaction (it blocks only when the writer is several batches behind)."""

from __future__ import annotations

import queue
import threading
from typing import Optional

from findata_assets.storage.daily_flow import DailyFlowStore


class WarehouseWriteError(RuntimeError):
    """The warehouse failed while the backfill wrote rows; every answer is archived."""


class Writer:
    """Writes batches of rows in a thread of its own, in order. A write that fails is kept and
    raised at close (and at the next put), naming the warehouse: the answers are archived, so a
    run started again stores them without a request."""

    def __init__(self, daily: DailyFlowStore, depth: int = 3) -> None:
        self.daily = daily
        self.error: Optional[BaseException] = None
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def put(self, rows: list[tuple]) -> None:
        self._raise()
        self._queue.put(rows)

    def _run(self) -> None:
        while True:
            rows = self._queue.get()
            if rows is None:
                return
            if self.error is None:
                try:  # the backfill left watched days out already: no snapshot to keep
                    self.daily.upsert_tuples(rows)
                except Exception as exc:  # noqa: BLE001 - raised in the run's thread
                    self.error = exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            text = f"{type(self.error).__name__}: {self.error}".splitlines()[0][:300]
            raise WarehouseWriteError(
                f"storing the daily history failed in {self.daily.warehouse.describe()} "
                f"({text}); every answer fetched is archived: run the backfill again to store "
                "them without a request") from self.error
