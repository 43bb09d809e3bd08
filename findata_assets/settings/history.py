"""How findata fetches each security's daily fund-flow history (FINDATA_HISTORY_*).

The history lane sends one request per security (~5,900 for the whole market) to an endpoint
that bans quick clients (a connection closed without an answer), so it is paced on its own:
one request in flight and one start a second unless told otherwise, and a ban pauses it.

FINDATA_HISTORY_URL defaults to the real daily kline endpoint. When FINDATA_EASTMONEY_URL points
away from Eastmoney (the bundled fake, a proxy) and FINDATA_HISTORY_URL is unset, the history
URL follows it: the same scheme, credentials, host and port with the kline path, so one setting
points both lanes at the fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from findata_assets.settings.eastmoney import API_URL, ENV_URL, normalise_url
from findata_assets.settings.values import SettingsError, choice, number, text

HISTORY_URL = "https://push2his.eastmoney.com/api/qt/stock/fflow/daykline/get"
HISTORY_PATH = urlsplit(HISTORY_URL).path  # /api/qt/stock/fflow/daykline/get
ENV_HISTORY_URL = "FINDATA_HISTORY_URL"
ENV_CONCURRENCY = "FINDATA_HISTORY_CONCURRENCY"
ENV_MIN_INTERVAL_MS = "FINDATA_HISTORY_MIN_INTERVAL_MS"
ENV_WINDOW = "FINDATA_HISTORY_WINDOW"
ENV_BAN_AFTER = "FINDATA_HISTORY_BAN_AFTER"
ENV_BAN_COOLDOWN_S = "FINDATA_HISTORY_BAN_COOLDOWN_S"
ENV_BAN_MAX_COOLDOWN_S = "FINDATA_HISTORY_BAN_MAX_COOLDOWN_S"

# When background history work may run: outside the trading sessions (the live lane has the
# API to itself while it matters), or at any time.
WINDOWS = ("outside_session", "always")
DEFAULT_WINDOW = "outside_session"
DEFAULT_CONCURRENCY = 1
DEFAULT_MIN_INTERVAL_MS = 1000  # ~100 minutes for the whole market; bans come from bursts
DEFAULT_BAN_AFTER = 3
DEFAULT_BAN_COOLDOWN_S = 60.0
DEFAULT_BAN_MAX_COOLDOWN_S = 1800.0


@dataclass(frozen=True)
class HistorySettings:
    url: str = field(default=HISTORY_URL, repr=False)  # may carry a proxy's credentials
    concurrency: int = DEFAULT_CONCURRENCY  # history requests in flight
    min_interval_ms: int = DEFAULT_MIN_INTERVAL_MS  # between two request starts
    window: str = DEFAULT_WINDOW  # when background history work may run (WINDOWS)
    ban_after: int = DEFAULT_BAN_AFTER  # ban signals in a row that mean a ban
    ban_cooldown_s: float = DEFAULT_BAN_COOLDOWN_S  # the first pause; doubles while it lasts
    ban_max_cooldown_s: float = DEFAULT_BAN_MAX_COOLDOWN_S
    url_derived: bool = False  # FINDATA_HISTORY_URL unset; the URL follows FINDATA_EASTMONEY_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "HistorySettings":
        explicit = text(environ, ENV_HISTORY_URL)
        try:
            if explicit is not None:  # a bare `http://host:port` gets the kline path
                url, derived = normalise_url(explicit, ENV_HISTORY_URL, HISTORY_URL), False
            else:
                url = derive_url(normalise_url(text(environ, ENV_URL) or API_URL))
                derived = url != HISTORY_URL
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        cooldown = number(environ, ENV_BAN_COOLDOWN_S, DEFAULT_BAN_COOLDOWN_S, float, 0.05,
                          unit="seconds")
        longest = number(environ, ENV_BAN_MAX_COOLDOWN_S, DEFAULT_BAN_MAX_COOLDOWN_S, float, 0.05,
                         unit="seconds")
        if longest < cooldown:
            raise SettingsError(f"{ENV_BAN_MAX_COOLDOWN_S}={longest:g} is shorter than "
                                f"{ENV_BAN_COOLDOWN_S}={cooldown:g}; the longest pause must be "
                                "at least the first")
        return cls(
            url=url,
            concurrency=number(environ, ENV_CONCURRENCY, DEFAULT_CONCURRENCY, int, 1),
            min_interval_ms=number(environ, ENV_MIN_INTERVAL_MS, DEFAULT_MIN_INTERVAL_MS, int, 0),
            window=choice(environ, ENV_WINDOW, WINDOWS, DEFAULT_WINDOW),
            ban_after=number(environ, ENV_BAN_AFTER, DEFAULT_BAN_AFTER, int, 1),
            ban_cooldown_s=cooldown,
            ban_max_cooldown_s=longest,
            url_derived=derived,
        )

    @property
    def min_interval_s(self) -> float:
        return self.min_interval_ms / 1000


def derive_url(eastmoney_url: str) -> str:
    """The history URL that goes with a (normalised) FINDATA_EASTMONEY_URL: the real endpoint
    for any Eastmoney host (push2his serves the history, whichever push2 host serves the
    ranking), else the same scheme, credentials, host and port with the kline path."""
    parts = urlsplit(eastmoney_url)
    host = (parts.hostname or "").lower()
    if host == "eastmoney.com" or host.endswith(".eastmoney.com"):
        return HISTORY_URL
    return urlunsplit((parts.scheme, parts.netloc, HISTORY_PATH, "", ""))
