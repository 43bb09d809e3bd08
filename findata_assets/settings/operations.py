"""How findata is operated: refresh automation (FINDATA_SCHEDULES, FINDATA_RUN_SPLIT, alerts),
the trading calendar's operator inputs (FINDATA_HOLIDAYS*, the session cache) and the Dagster
instance (DAGSTER_HOME, DAGSTER_PG_*). Read when used, so an edit shows without a restart."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import quote

from findata_assets.settings.values import SettingsError, number, text

SCHEDULES_STATUS_ENV = "FINDATA_SCHEDULES"  # "running": schedules start on when deployed
RUN_SPLIT_ENV = "FINDATA_RUN_SPLIT"
RUN_SPLIT_MODES = ("family", "group")
DEFAULT_RUN_SPLIT = "family"
WEBHOOK_ENV = "FINDATA_ALERT_WEBHOOK"
UI_URL_ENV = "FINDATA_UI_URL"
HOLIDAYS_FILE_ENV = "FINDATA_HOLIDAYS_FILE"
HOLIDAYS_ENV = "FINDATA_HOLIDAYS"
CALENDAR_CACHE_ENV = "FINDATA_CALENDAR_CACHE_DIR"  # default ~/.cache/findata
PARTITIONS_START_ENV = "FINDATA_PARTITIONS_START"  # first trading-day partition (YYYY-MM-DD)
PG_URL_ENV = "DAGSTER_PG_URL"
CODE_URL_ENV = "FINDATA_CODE_URL"  # the repository the UI's "open in source" links point at
CODE_BRANCH_ENV = "FINDATA_CODE_BRANCH"
# forked run workers print what they imported after the fork (findata_assets/launcher)
WARM_REPORT_IMPORTS_ENV = "FINDATA_WARM_REPORT_IMPORTS"
# the intraday coverage check: warn below, fail below (shares of the session's minutes)
COVERAGE_WARN_ENV, COVERAGE_FAIL_ENV = "FINDATA_COVERAGE_WARN_SHARE", "FINDATA_COVERAGE_FAIL_SHARE"
# the stall alert: in session, this many minutes without a new intraday minute
STALL_MINUTES_ENV = "FINDATA_STALL_ALERT_MINUTES"


def run_split_mode(mode: Optional[str]) -> str:
    """A FINDATA_RUN_SPLIT value, validated (unset or empty: the default)."""
    normalised = (mode or "").strip().lower() or DEFAULT_RUN_SPLIT
    if normalised not in RUN_SPLIT_MODES:
        raise SettingsError(
            f"{RUN_SPLIT_ENV}={mode!r} is not a run split; use 'family' (the default: one run "
            "per table family) or 'group' (one run per market or board type)")
    return normalised


def schedules_running(environ: Mapping[str, str]) -> bool:
    return (text(environ, SCHEDULES_STATUS_ENV) or "").lower() == "running"


def warm_report_imports(environ: Mapping[str, str]) -> bool:
    return (environ.get(WARM_REPORT_IMPORTS_ENV) or "").strip().lower() in ("1", "true", "yes")


def coverage_shares(environ: Mapping[str, str]) -> tuple[float, float]:
    """(warn below, fail below) for the minutes_captured check."""
    warn = number(environ, COVERAGE_WARN_ENV, 0.99, float, 0.0, 1.0)
    fail = number(environ, COVERAGE_FAIL_ENV, 0.90, float, 0.0, 1.0)
    if not (0 <= fail <= warn <= 1):
        raise SettingsError(f"{COVERAGE_FAIL_ENV}={fail:g} and {COVERAGE_WARN_ENV}={warn:g}: "
                            "expected 0 <= fail <= warn <= 1 (shares, e.g. 0.90 and 0.99)")
    return warn, fail


def stall_minutes(environ: Mapping[str, str]) -> float:
    """Minutes in session without a new intraday minute before the stall alert (default 3)."""
    return number(environ, STALL_MINUTES_ENV, 3.0, float, 1.0)


def alert_webhook(environ: Mapping[str, str]) -> Optional[str]:
    return text(environ, WEBHOOK_ENV)


def ui_url(environ: Mapping[str, str]) -> Optional[str]:
    return (text(environ, UI_URL_ENV) or "").rstrip("/") or None


@dataclass(frozen=True)
class RefreshSettings:
    schedules_running: bool = False  # schedules default to on (a deployment) or off (a laptop)
    run_split: str = DEFAULT_RUN_SPLIT
    alert_webhook: Optional[str] = field(default=None, repr=False)  # its query is a secret
    ui_url: Optional[str] = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "RefreshSettings":
        return cls(schedules_running=schedules_running(environ),
                   run_split=run_split_mode(environ.get(RUN_SPLIT_ENV)),
                   alert_webhook=alert_webhook(environ), ui_url=ui_url(environ))


@dataclass(frozen=True)
class CalendarSettings:
    holidays_file: str = ""
    holidays: str = ""  # comma-separated YYYY-MM-DD
    cache_dir: Path = Path("~/.cache/findata").expanduser()
    # first partition of the analysis and report; None: the first day collected (see
    # defs/trading_days.py), so "missing" in the UI means a day that could have data
    partitions_start: Optional[date] = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "CalendarSettings":
        cache = text(environ, CALENDAR_CACHE_ENV) or os.path.join(
            text(environ, "XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "findata")
        return cls(holidays_file=text(environ, HOLIDAYS_FILE_ENV, ""),
                   holidays=text(environ, HOLIDAYS_ENV, ""), cache_dir=Path(cache),
                   partitions_start=partitions_start(text(environ, PARTITIONS_START_ENV)))


def partitions_start(value: Optional[str]) -> Optional[date]:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise SettingsError(f"{PARTITIONS_START_ENV} must be a date (YYYY-MM-DD), got {value!r}; "
                            f"unset it to start at the first day collected") from None


@dataclass(frozen=True)
class CodeLinkSettings:
    """Where the UI's code links point: the repository's web URL and branch (unset: found from
    the checkout's git remote, else the local file and line only)."""

    url: Optional[str] = None
    branch: str = "main"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "CodeLinkSettings":
        url = text(environ, CODE_URL_ENV)
        if url and not url.startswith(("https://", "http://")):
            raise SettingsError(f"{CODE_URL_ENV} must be the repository's web URL (https://...), "
                                f"got {url!r}")
        return cls(url=url.rstrip("/") if url else None,
                   branch=text(environ, CODE_BRANCH_ENV, "main"))


@dataclass(frozen=True)
class InstanceSettings:
    """Where Dagster keeps its runs: DAGSTER_HOME (SQLite) or PostgreSQL."""

    dagster_home: Optional[Path] = None
    findata_home: Path = Path(".findata")
    postgres_url: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "InstanceSettings":
        home = text(environ, "DAGSTER_HOME")
        return cls(dagster_home=Path(home) if home else None,
                   findata_home=Path(text(environ, "FINDATA_HOME", ".findata")),
                   postgres_url=postgres_url(environ))


def postgres_url(environ: Mapping[str, str]) -> Optional[str]:
    """DAGSTER_PG_URL, or one built from the chart's DAGSTER_PG_HOST/... variables."""
    if environ.get(PG_URL_ENV):
        return _with_driver(environ[PG_URL_ENV])
    if not environ.get("DAGSTER_PG_HOST"):
        return None
    user = quote(environ.get("DAGSTER_PG_USERNAME", "postgres"), safe="")
    password = environ.get("DAGSTER_PG_PASSWORD", "")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    return _with_driver(
        f"postgresql://{auth}@{environ['DAGSTER_PG_HOST']}:"
        f"{environ.get('DAGSTER_PG_PORT', '5432')}/{environ.get('DAGSTER_PG_DB', 'postgres')}")


def _with_driver(url: str) -> str:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed;
    # dagster-postgres ships psycopg2.
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare):]
    return url
