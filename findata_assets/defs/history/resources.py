"""The history lane's settings as a Dagster resource (FINDATA_HISTORY_*, plus the Eastmoney
request deadline and attempts it shares with the ranking lane)."""

from __future__ import annotations

import dagster as dg

from findata_assets.settings import FindataSettings
from findata_assets.settings.eastmoney import (
    DEFAULT_MAX_ATTEMPTS, DEFAULT_PAGE_DEADLINE_S, EastmoneySettings)
from findata_assets.settings.history import (
    DEFAULT_BAN_AFTER, DEFAULT_BAN_COOLDOWN_S, DEFAULT_BAN_MAX_COOLDOWN_S, DEFAULT_CONCURRENCY,
    DEFAULT_MIN_INTERVAL_MS, DEFAULT_WINDOW, HISTORY_URL, HistorySettings)
from findata_assets.settings.eastmoney import API_URL


class HistoryResource(dg.ConfigurableResource):
    """Where and how fast the daily klines are fetched; a ban's pause."""

    url: str = HISTORY_URL
    ranking_url: str = API_URL  # the 1d ranking, asked once when no snapshot names the universe
    concurrency: int = DEFAULT_CONCURRENCY
    min_interval_ms: int = DEFAULT_MIN_INTERVAL_MS
    window: str = DEFAULT_WINDOW
    ban_after: int = DEFAULT_BAN_AFTER
    ban_cooldown_s: float = DEFAULT_BAN_COOLDOWN_S
    ban_max_cooldown_s: float = DEFAULT_BAN_MAX_COOLDOWN_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    page_deadline_s: float = DEFAULT_PAGE_DEADLINE_S

    @classmethod
    def from_settings(cls, settings: FindataSettings) -> "HistoryResource":
        h, e = settings.history, settings.eastmoney
        return cls(url=h.url, ranking_url=e.base_url, concurrency=h.concurrency,
                   min_interval_ms=h.min_interval_ms, window=h.window, ban_after=h.ban_after,
                   ban_cooldown_s=h.ban_cooldown_s, ban_max_cooldown_s=h.ban_max_cooldown_s,
                   max_attempts=e.max_attempts, page_deadline_s=e.page_deadline_s)

    def history_settings(self) -> HistorySettings:
        return HistorySettings(url=self.url, concurrency=self.concurrency,
                               min_interval_ms=self.min_interval_ms, window=self.window,
                               ban_after=self.ban_after, ban_cooldown_s=self.ban_cooldown_s,
                               ban_max_cooldown_s=self.ban_max_cooldown_s)

    def eastmoney_settings(self) -> EastmoneySettings:
        return EastmoneySettings(base_url=self.ranking_url, max_attempts=self.max_attempts,
                                 page_deadline_s=self.page_deadline_s)
