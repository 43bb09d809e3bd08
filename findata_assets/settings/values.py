"""Reading one variable: the error type and the parsers every settings section shares."""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence, TypeVar

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never a secret."""


def text(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """The value without surrounding whitespace; unset or blank -> `default`."""
    value = (environ.get(name) or "").strip()
    return value or default


def number(environ: Mapping[str, str], name: str, default: N, cast: Callable[[str], N],
           low: N, high: N | None = None, unit: str = "") -> N:
    """A whole (cast=int) or real (cast=float) number within [low, high]; unset -> default."""
    raw = text(environ, name)
    if raw is None:
        return default
    kind = "a whole number" if cast is int else "a number"
    unit = f" ({unit})" if unit else ""
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}{unit}, got {raw!r}") from None
    if not math.isfinite(value):  # nan, inf: float() takes them, no setting means them
        raise SettingsError(f"{name} must be a finite number{unit}, got {raw!r}")
    if high is None and value < low:
        raise SettingsError(f"{name} must be at least {low}, got {raw}")
    if high is not None and not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}{unit}, got {raw}")
    return value


def choice(environ: Mapping[str, str], name: str, options: Sequence[str], default: str) -> str:
    value = (text(environ, name) or default).lower()
    if value not in options:
        raise SettingsError(f"{name} must be one of {list(options)}, got {value!r}")
    return value
