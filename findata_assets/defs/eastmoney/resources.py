"""The Eastmoney client as a Dagster resource."""

from __future__ import annotations

import dagster as dg

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.client import EastmoneyClient
from findata_assets.eastmoney.hedging import HedgeSettings
from findata_assets.settings.eastmoney import (
    DEFAULT_CONCURRENCY, DEFAULT_HEDGE_FLOOR_MS, DEFAULT_HEDGE_MAX_SHARE, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PAGE_DEADLINE_S, EastmoneySettings)


class EastmoneyResource(dg.ConfigurableResource):
    """Settings of the HTTP client. The concurrency limit is process-wide inside the client, so
    two runs executing in one process (the CLI runs the stock and sector families side by side)
    still share one request budget."""

    base_url: str = catalog.API_URL
    concurrency: int = DEFAULT_CONCURRENCY
    min_interval_ms: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    page_deadline_s: float = DEFAULT_PAGE_DEADLINE_S
    hedge_max_share: float = DEFAULT_HEDGE_MAX_SHARE
    hedge_floor_ms: int = DEFAULT_HEDGE_FLOOR_MS

    @classmethod
    def from_settings(cls, eastmoney: EastmoneySettings) -> "EastmoneyResource":
        return cls(base_url=eastmoney.base_url, concurrency=eastmoney.concurrency,
                   min_interval_ms=eastmoney.min_interval_ms, max_attempts=eastmoney.max_attempts,
                   page_deadline_s=eastmoney.page_deadline_s,
                   hedge_max_share=eastmoney.hedge_max_share,
                   hedge_floor_ms=eastmoney.hedge_floor_ms)

    def get_client(self) -> EastmoneyClient:
        return EastmoneyClient(
            base_url=self.base_url,
            concurrency=self.concurrency,
            min_interval_s=self.min_interval_ms / 1000,
            max_attempts=self.max_attempts,
            page_deadline_s=self.page_deadline_s,
            hedge=HedgeSettings(enabled=self.hedge_max_share > 0,
                                max_share=self.hedge_max_share,
                                floor_s=self.hedge_floor_ms / 1000),
        )
