"""Resources of the analysis and the report, built from settings.analysis (FINDATA_LLM_*,
DEEPSEEK_API_KEY, FINDATA_REPORT_*). The API key is passed as dg.EnvVar: Dagster resolves it
at run time and never stores it with the run."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from findata_assets.analysis import narrative
from findata_assets.settings.analysis import (  # noqa: F401 (names the assets use)
    API_KEY_ENV, LANGS, MAX_URL_EXPIRY_S, LLMSettings, ReportSettings)


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible chat endpoint; `api_key` comes as dg.EnvVar (or None = no narrative)."""

    base_url: str = narrative.DEFAULT_BASE_URL
    model: str = narrative.DEFAULT_MODEL
    api_key: Optional[str] = None
    timeout_s: float = LLMSettings.timeout_s
    max_retries: int = LLMSettings.max_retries
    backoff_s: float = LLMSettings.backoff_s
    max_tokens: int = 1500

    def config(self, lang: str) -> narrative.LLMConfig:
        return narrative.LLMConfig(
            base_url=self.base_url, model=self.model, api_key=self.api_key or None, lang=lang,
            timeout_s=self.timeout_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
            max_tokens=self.max_tokens)


class ReportSettingsResource(dg.ConfigurableResource):
    lang: str = ReportSettings.lang
    url_expiry_s: int = ReportSettings.url_expiry_s
    font: str = ""  # FINDATA_REPORT_FONT: a font file to prefer for the charts


def llm_resource(llm: LLMSettings) -> LLMResource:
    return LLMResource(
        base_url=llm.base_url, model=llm.model,
        api_key=dg.EnvVar(API_KEY_ENV) if llm.has_api_key else None,
        timeout_s=llm.timeout_s, max_retries=llm.max_retries, backoff_s=llm.backoff_s)


def report_settings(report: ReportSettings) -> ReportSettingsResource:
    return ReportSettingsResource(lang=report.lang, url_expiry_s=report.url_expiry_s,
                                  font=report.font or "")
