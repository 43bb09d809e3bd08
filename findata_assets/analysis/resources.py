"""Resources of the analysis and the report, chosen from the environment.

    FINDATA_LLM_BASE_URL         OpenAI-compatible base URL (default https://api.deepseek.com)
    FINDATA_LLM_MODEL            chat model (default deepseek-chat)
    DEEPSEEK_API_KEY             the key; unset = narrative skipped (passed as dg.EnvVar: the
                                 value is resolved at run time and never stored with the run)
    FINDATA_LLM_TIMEOUT_S        per-request timeout (default 60)
    FINDATA_LLM_MAX_RETRIES      retries after the first attempt (default 3)
    FINDATA_LLM_BACKOFF_S        first retry delay, doubled each time (default 1.0)
    FINDATA_REPORT_LANG          zh (default) | en: narrative and report language
    FINDATA_REPORT_URL_EXPIRY_S  presigned report URL lifetime (default 604800 = 7 days, the S3 maximum)
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import dagster as dg

from findata_assets.analysis import narrative
from findata_assets.redaction import mask_url
from findata_assets.settings import SettingsError
from findata_assets.storage.resources import store_resources

API_KEY_ENV = "DEEPSEEK_API_KEY"
LANGS = ("zh", "en")
MAX_URL_EXPIRY_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible chat endpoint; `api_key` comes as dg.EnvVar (or None = no narrative)."""

    base_url: str = narrative.DEFAULT_BASE_URL
    model: str = narrative.DEFAULT_MODEL
    api_key: Optional[str] = None
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_tokens: int = 1500

    def config(self, lang: str) -> narrative.LLMConfig:
        return narrative.LLMConfig(
            base_url=self.base_url, model=self.model, api_key=self.api_key or None, lang=lang,
            timeout_s=self.timeout_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
            max_tokens=self.max_tokens)


class ReportSettingsResource(dg.ConfigurableResource):
    lang: str = "zh"
    url_expiry_s: int = MAX_URL_EXPIRY_S


def _number(environ: Mapping[str, str], name: str, default, cast, low, high):
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw}")
    return value


def llm_resource(environ: Mapping[str, str]) -> LLMResource:
    base_url = (environ.get("FINDATA_LLM_BASE_URL") or "").strip() or narrative.DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise SettingsError(f"FINDATA_LLM_BASE_URL must be an http(s) URL, got "
                            f"{mask_url(base_url)!r}")
    return LLMResource(
        base_url=base_url.rstrip("/"),
        model=(environ.get("FINDATA_LLM_MODEL") or "").strip() or narrative.DEFAULT_MODEL,
        api_key=dg.EnvVar(API_KEY_ENV) if (environ.get(API_KEY_ENV) or "").strip() else None,
        timeout_s=_number(environ, "FINDATA_LLM_TIMEOUT_S", 60.0, float, 0.1, 3600),
        max_retries=_number(environ, "FINDATA_LLM_MAX_RETRIES", 3, int, 0, 20),
        backoff_s=_number(environ, "FINDATA_LLM_BACKOFF_S", 1.0, float, 0, 60),
    )


def report_settings(environ: Mapping[str, str]) -> ReportSettingsResource:
    lang = (environ.get("FINDATA_REPORT_LANG") or "zh").strip().lower()
    if lang not in LANGS:
        raise SettingsError(f"FINDATA_REPORT_LANG must be one of {list(LANGS)}, got {lang!r}")
    return ReportSettingsResource(lang=lang, url_expiry_s=_number(
        environ, "FINDATA_REPORT_URL_EXPIRY_S", MAX_URL_EXPIRY_S, int, 1, MAX_URL_EXPIRY_S))


def analysis_resources(environ: Optional[Mapping[str, str]] = None) -> dict[str, object]:
    """Every resource the two assets need, validated up front (a bad value names its variable)."""
    environ = os.environ if environ is None else environ
    return {**store_resources(environ), "llm": llm_resource(environ),
            "report_settings": report_settings(environ)}
