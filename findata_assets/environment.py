"""The process environment: the one module that reads or sets environment variables.

Everything else asks `findata_assets.settings` for parsed, validated settings; the few places
that need a raw variable (a child process's environment, the secrets to scrub from a message)
come here, so a grep for os.environ finds one file.
"""

from __future__ import annotations

import os
from typing import Mapping

_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY")


def current() -> Mapping[str, str]:
    """The live environment (a mapping view: later changes show through)."""
    return os.environ


def export(name: str, setting: str) -> None:
    """Set a variable for this process and the processes it starts (DAGSTER_HOME, an offline
    API URL): Dagster and run workers read them from the environment."""
    os.environ[name] = setting


def export_default(name: str, setting: str) -> None:
    """`export`, unless the operator set the variable already (theirs wins)."""
    os.environ.setdefault(name, setting)


def secret_values(min_length: int = 6) -> list[str]:
    """Values of variables whose names say they hold a secret, to scrub from messages."""
    return [v for name, v in os.environ.items()
            if len(v) >= min_length and any(w in name.upper() for w in _SECRET_WORDS)]


def snapshot() -> dict[str, str]:
    """A copy, to hand a child process a modified environment."""
    return dict(os.environ)
