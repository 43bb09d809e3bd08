"""Markdown pieces the report's sections share: amounts in 亿, shares, escaped table cells."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from findata_assets.eastmoney.catalog import YI


def yi(value: Optional[float]) -> str:
    return "-" if value is None else f"{value / YI:,.2f}"


def pct(value: Optional[float], scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.2f}%"


def cell(value: Any) -> str:
    return "-" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def image(alt: str, name: str, chart_links: Mapping[str, str]) -> list[str]:
    return [f"![{alt}]({chart_links[name]})", ""] if name in chart_links else []


def clock(value: Any) -> str:
    """A time as a reader wants it: to the second, no microseconds, no "T"."""
    return str(value)[:19].replace("T", " ") if value else "-"
