"""How findata talks to the Eastmoney API (FINDATA_EASTMONEY_*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from findata_assets.redaction import safe_url
from findata_assets.settings.values import SettingsError, number, text

API_URL = "https://push2.eastmoney.com/api/qt/clist/get"  # the real endpoint, the default
API_PATH = urlsplit(API_URL).path  # /api/qt/clist/get
EXPECTED = API_URL
ENV_URL = "FINDATA_EASTMONEY_URL"

ENV_CONCURRENCY = "FINDATA_EASTMONEY_CONCURRENCY"
ENV_MIN_INTERVAL_MS = "FINDATA_EASTMONEY_MIN_INTERVAL_MS"
ENV_MAX_ATTEMPTS = "FINDATA_EASTMONEY_MAX_ATTEMPTS"
ENV_PAGE_DEADLINE_S = "FINDATA_EASTMONEY_PAGE_DEADLINE_S"
ENV_HEDGE_MAX_SHARE = "FINDATA_EASTMONEY_HEDGE_MAX_SHARE"
ENV_HEDGE_FLOOR_MS = "FINDATA_EASTMONEY_HEDGE_FLOOR_MS"
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_PAGE_DEADLINE_S = 10.0  # a page is ~25 KB: ten seconds is a stalled connection
DEFAULT_HEDGE_MAX_SHARE = 0.1
DEFAULT_HEDGE_FLOOR_MS = 500


@dataclass(frozen=True)
class EastmoneySettings:
    base_url: str = field(default=API_URL, repr=False)  # may carry a proxy's credentials
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight, process-wide
    min_interval_ms: int = 0  # between two request starts, process-wide
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # per request
    page_deadline_s: float = DEFAULT_PAGE_DEADLINE_S  # connect, headers and whole body
    hedge_max_share: float = DEFAULT_HEDGE_MAX_SHARE  # 0: no hedged requests
    hedge_floor_ms: int = DEFAULT_HEDGE_FLOOR_MS  # never hedge a page sooner

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "EastmoneySettings":
        try:  # a bare `http://host:port` gets the API's path; garbage is refused here
            url = normalise_url(text(environ, ENV_URL) or API_URL)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            base_url=url,
            concurrency=number(environ, ENV_CONCURRENCY, DEFAULT_CONCURRENCY, int, 1),
            min_interval_ms=number(environ, ENV_MIN_INTERVAL_MS, 0, int, 0),
            max_attempts=number(environ, ENV_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, int, 1),
            page_deadline_s=number(environ, ENV_PAGE_DEADLINE_S, DEFAULT_PAGE_DEADLINE_S,
                                   float, 0.5),
            hedge_max_share=number(environ, ENV_HEDGE_MAX_SHARE, DEFAULT_HEDGE_MAX_SHARE,
                                   float, 0.0, 1.0),
            hedge_floor_ms=number(environ, ENV_HEDGE_FLOOR_MS, DEFAULT_HEDGE_FLOOR_MS, int, 0),
        )


def normalise_url(url: str, setting: str = ENV_URL, expected: str = EXPECTED) -> str:
    """`http://host:port` -> `http://host:port/api/qt/clist/get` (the path of `expected`);
    anything that is not an http(s) URL with a host is a ValueError naming the setting."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{setting} must be an http(s) URL like {expected}, got "
                         f"{safe_url(url) or '(empty)'}")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{setting} has an invalid port: {safe_url(url)}") from None
    if parts.path in ("", "/"):
        parts = parts._replace(path=urlsplit(expected).path)
    return urlunsplit(parts)
