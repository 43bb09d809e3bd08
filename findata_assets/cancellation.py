"""A process-wide stop request that long-running work checks at safe points.

The CLI sets it when the operator asks a run to stop (a signal, `run stop`, the UI's Terminate):
the Eastmoney client stops between pages, the warehouse between tables (each table is one
transaction, so it is stored in full or untouched). No Dagster here: the domain code only checks.
"""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """The operator asked to stop; the message says how."""


_requested = threading.Event()
_reason = ""


def request(reason: str) -> None:
    global _reason
    _reason = reason
    _requested.set()


def clear() -> None:
    _requested.clear()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise Cancelled when a stop was requested."""
    if _requested.is_set():
        raise Cancelled(f"stopped by the operator ({_reason})")


def wait(seconds: float) -> bool:
    """Sleep up to `seconds`; True (at once) when a stop is requested meanwhile."""
    return _requested.wait(seconds)
