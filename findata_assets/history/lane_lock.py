"""One history fetch at a time per warehouse, whatever process or pod runs it.

The lane's pace (FINDATA_HISTORY_CONCURRENCY, FINDATA_HISTORY_MIN_INTERVAL_MS) is kept by a gate
inside one process; two backfills in two processes (a user's command beside the after-close
schedule, two pods) would each keep it and together ask twice as fast. So a backfill holds the
lane for the warehouse it writes: MySQL/MariaDB's named lock (GET_LOCK, released with the
connection, so a killed process frees it), or a file lock beside a SQLite file. A second one
waits, says so once, and can be stopped while it waits.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

from findata_assets import cancellation
from findata_assets.storage.warehouse import Warehouse

LOCK_NAME = "findata_history_lane"
POLL_S = 2.0


@contextlib.contextmanager
def hold(warehouse: Warehouse, on_wait: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    if warehouse.dialect in ("mysql", "mariadb"):
        with _mysql_lock(warehouse, on_wait):
            yield
    else:
        with _file_lock(_lock_path(warehouse), on_wait):
            yield


def _said_once(on_wait: Optional[Callable[[str], None]], text: str, said: list) -> None:
    if not said and on_wait:
        on_wait(text)
    said.append(True)


@contextlib.contextmanager
def _mysql_lock(warehouse: Warehouse, on_wait) -> Iterator[None]:
    said: list = []
    with warehouse.engine.connect() as conn:  # the lock lives as long as this connection
        while conn.exec_driver_sql(f"SELECT GET_LOCK('{LOCK_NAME}', {POLL_S:g})").scalar() != 1:
            _said_once(on_wait, "another history backfill holds the lane for "
                                f"{warehouse.describe()}: waiting for it to finish (one pace "
                                "for the source)", said)
            cancellation.check()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{LOCK_NAME}')")


def _lock_path(warehouse: Warehouse) -> Path:
    database = warehouse.url.database
    if database and database != ":memory:":
        return Path(f"{os.path.abspath(database)}.history-lane.lock")
    return Path(tempfile.gettempdir()) / "findata-history-lane.lock"


@contextlib.contextmanager
def _file_lock(path: Path, on_wait) -> Iterator[None]:
    import fcntl

    said: list = []
    with open(path, "a+") as handle:  # closed (and so unlocked) when the process dies
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _said_once(on_wait, f"another history backfill holds the lane ({path}): "
                                    "waiting for it to finish (one pace for the source)", said)
                if cancellation.wait(POLL_S):
                    cancellation.check()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
