"""The analysis and the report: the LLM endpoint (FINDATA_LLM_*, DEEPSEEK_API_KEY) and the
report's language, link lifetime and font (FINDATA_REPORT_*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from findata_assets.redaction import mask_url
from findata_assets.settings.values import SettingsError, choice, number, text

DEFAULT_BASE_URL = "https://api.deepseek.com"
DEFAULT_MODEL = "deepseek-chat"
API_KEY_ENV = "DEEPSEEK_API_KEY"
LANGS = ("zh", "en")
MAX_URL_EXPIRY_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer
FONT_ENV = "FINDATA_REPORT_FONT"


@dataclass(frozen=True)
class LLMSettings:
    base_url: str = field(default=DEFAULT_BASE_URL, repr=False)  # may carry credentials
    model: str = DEFAULT_MODEL
    has_api_key: bool = False  # the key itself stays in the environment (dg.EnvVar)
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "LLMSettings":
        base_url = text(environ, "FINDATA_LLM_BASE_URL", DEFAULT_BASE_URL)
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(f"FINDATA_LLM_BASE_URL must be an http(s) URL, got "
                                f"{mask_url(base_url)!r}")
        return cls(
            base_url=base_url.rstrip("/"),
            model=text(environ, "FINDATA_LLM_MODEL", DEFAULT_MODEL),
            has_api_key=text(environ, API_KEY_ENV) is not None,
            timeout_s=number(environ, "FINDATA_LLM_TIMEOUT_S", 60.0, float, 0.1, 3600),
            max_retries=number(environ, "FINDATA_LLM_MAX_RETRIES", 3, int, 0, 20),
            backoff_s=number(environ, "FINDATA_LLM_BACKOFF_S", 1.0, float, 0, 60),
        )


@dataclass(frozen=True)
class ReportSettings:
    lang: str = "zh"
    url_expiry_s: int = MAX_URL_EXPIRY_S
    font: Optional[str] = None  # a font file to prefer for the charts' Chinese text

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ReportSettings":
        return cls(
            lang=choice(environ, "FINDATA_REPORT_LANG", LANGS, "zh"),
            url_expiry_s=number(environ, "FINDATA_REPORT_URL_EXPIRY_S", MAX_URL_EXPIRY_S, int, 1,
                                MAX_URL_EXPIRY_S),
            font=text(environ, FONT_ENV),
        )
