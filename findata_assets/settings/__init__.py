"""Every setting findata reads, parsed and validated in one place (the README's table).

    stores.py      FINDATA_HOME, FINDATA_DATABASE_*, FINDATA_S3_*, AWS_*   -> Settings
    eastmoney.py   FINDATA_EASTMONEY_*                                      -> EastmoneySettings
    history.py     FINDATA_HISTORY_* (the per-security daily history lane)  -> HistorySettings
    analysis.py    FINDATA_LLM_*, DEEPSEEK_API_KEY, FINDATA_REPORT_*        -> LLMSettings, ReportSettings
    operations.py  FINDATA_SCHEDULES, FINDATA_RUN_SPLIT, FINDATA_ALERT_WEBHOOK, FINDATA_UI_URL,
                   FINDATA_HOLIDAYS*, FINDATA_CALENDAR_CACHE_DIR, FINDATA_CODE_*, DAGSTER_HOME,
                   DAGSTER_PG_*
    retention.py   FINDATA_RETENTION_*                                      -> RetentionSettings
    deployment.py  the prepare Job: FINDATA_MYSQL_*, FINDATA_S3_ADMIN_*, FINDATA_PREPARE_WAIT_SECONDS
    values.py      SettingsError and the parsers every section shares

`load()` reads them all at once (the code location does, so a bad value fails at load time,
naming its variable). Only findata_assets/environment.py touches the process environment.
Nothing here imports Dagster or findata's own domain code: every part may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from findata_assets import environment
from findata_assets.settings.analysis import LLMSettings, ReportSettings
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.settings.history import HistorySettings
from findata_assets.settings.operations import (
    CalendarSettings, CodeLinkSettings, InstanceSettings, RefreshSettings)
from findata_assets.settings.retention import RetentionSettings
from findata_assets.settings.stores import (  # noqa: F401 (the storage settings' names)
    ENV_ACCESS_KEY, ENV_DATABASE_URL, ENV_S3_BUCKET, ENV_S3_ENDPOINT, ENV_SECRET_KEY, Settings)
from findata_assets.settings.values import SettingsError  # noqa: F401


@dataclass(frozen=True)
class FindataSettings:
    stores: Settings
    eastmoney: EastmoneySettings
    llm: LLMSettings
    report: ReportSettings
    refresh: RefreshSettings
    calendar: CalendarSettings
    instance: InstanceSettings
    retention: RetentionSettings
    code_links: CodeLinkSettings
    history: HistorySettings


def load(environ: Optional[Mapping[str, str]] = None) -> FindataSettings:
    """All settings from `environ` (default: the process environment); SettingsError names the
    first bad variable."""
    environ = environment.current() if environ is None else environ
    return FindataSettings(
        stores=Settings.from_env(environ), eastmoney=EastmoneySettings.from_env(environ),
        llm=LLMSettings.from_env(environ), report=ReportSettings.from_env(environ),
        refresh=RefreshSettings.from_env(environ), calendar=CalendarSettings.from_env(environ),
        instance=InstanceSettings.from_env(environ),
        retention=RetentionSettings.from_env(environ),
        code_links=CodeLinkSettings.from_env(environ),
        history=HistorySettings.from_env(environ))


def refresh() -> RefreshSettings:
    """The refresh settings as the environment says now, validated (the planner reads them at
    each tick). Code that must never fail on another field (alerts) reads its own field from
    settings.operations."""
    return RefreshSettings.from_env(environment.current())
