"""The three refresh policies, as data shared by the schedules and the CLI so they cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import dagster as dg

from findata_assets.defs.eastmoney.families import TABLE_ASSETS
from findata_assets.defs.metadata_keys import POLICY_TAG  # noqa: F401  (re-exported)
from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableKind

CYCLE_TAG = "findata/cycle"
# Every run that calls Eastmoney carries this tag; dagster.yaml limits how many run at once.
EASTMONEY_TAG = "findata/eastmoney"
# One run at a time per policy and family: dagster.yaml limits this tag per unique value.
LANE_TAG = "findata/lane"


def _keys(kind: TableKind, periods: tuple[str, ...] | None = None,
          groups: tuple[str, ...] | None = None) -> tuple[str, ...]:
    return tuple(f"{g}|{p}" for g in (groups or tuple(catalog.groups(kind)))
                 for p in (periods or catalog.periods_of(kind)))


@dataclass(frozen=True)
class RefreshPolicy:
    name: str
    description: str
    stock_partitions: tuple[str, ...]
    sector_partitions: tuple[str, ...]
    cron: str  # Asia/Shanghai; the trading calendar filters the ticks further
    priority: int  # dagster/priority: higher leaves the run queue first
    with_analysis: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    # When a tick may run (trading_calendar.session_state): "session" = 09:25-11:30, 13:00-15:00;
    # "after_close" = a trading day after 15:00. Other ticks are skipped with the reason.
    window: Literal["session", "after_close"] = "session"
    # Which entry of deploy.k8s.POLICY_K8S sizes this policy's run pods; None: its own name.
    pod_profile: str | None = None

    def partitions(self, kind: TableKind) -> tuple[str, ...]:
        return self.stock_partitions if kind == "stock" else self.sector_partitions

    @property
    def cadence(self) -> timedelta:
        """Time between ticks in session: the cron's minute step (`*` 1, `*/5` 5), else an hour."""
        field = self.cron.split()[0]
        step = 1 if field == "*" else int(field.split("/")[1]) if "/" in field else 60
        return timedelta(minutes=step)

    @property
    def table_count(self) -> int:
        return len(self.stock_partitions) + len(self.sector_partitions)


POLICIES: dict[str, RefreshPolicy] = {
    p.name: p
    for p in (
        RefreshPolicy(
            name="full",
            description="all 41 tables, then the analysis and the report",
            stock_partitions=_keys("stock"),
            sector_partitions=_keys("sector"),
            cron="10 15 * * 1-5",
            priority=0,
            with_analysis=True,
            window="after_close",
        ),
        RefreshPolicy(
            name="incremental",
            description="the 11 'today' tables (8 markets + 3 board types)",
            stock_partitions=_keys("stock", periods=("1d",)),
            sector_partitions=_keys("sector", periods=("1d",)),
            cron="*/5 9-15 * * 1-5",
            priority=5,
        ),
        RefreshPolicy(
            name="quick",
            description="全部股票 today",
            stock_partitions=("all|1d",),
            sector_partitions=(),
            cron="* 9-15 * * 1-5",
            priority=10,
        ),
    )
}


# Freshness of the table assets, shown in the UI. Freshness is per asset, not per partition: the
# latest materialization of any partition counts, and in session only the `1d` partitions are
# refreshed, so this measures the `1d` tables. Deadlines at :05 and :35 of 10, 11, 13, 14 and 15
# o'clock on weekdays each want a materialization in the 30 minutes before (Dagster caps the
# window at the cron's interval). The in-session refreshes meet them: 11:35 by the morning's last
# tick (11:30), 13:05 by 13:00-13:04; the 15:35 one only the 15:10 full refresh, so it says
# whether the close's data is in. Nothing is checked at lunch or overnight. A cron cannot skip
# holidays: expect stale on a holiday weekday until the next session.
FRESHNESS_DEADLINE_CRON = "5,35 10-11,13-15 * * 1-5"
FRESHNESS_WINDOW = timedelta(minutes=30)
FRESHNESS_MEANING = (
    "Fresh here means: on a trading day, at 10:05, 10:35, 11:05, 11:35 and every half hour from "
    "13:05 to 15:05 the table was refreshed in the 30 minutes before; at 15:35, the close's "
    "data is in (the 15:10 full refresh). Nothing is checked at lunch or overnight: after the close, the close's "
    "data is the freshest there is. A holiday weekday shows stale (a cron cannot skip holidays).")
TABLE_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=FRESHNESS_DEADLINE_CRON, lower_bound_delta=FRESHNESS_WINDOW,
    timezone="Asia/Shanghai")
FRESHNESS_POLICIES: dict[str, dg.FreshnessPolicy] = {
    name: TABLE_FRESHNESS for name in sorted(TABLE_ASSETS)}


def get_policy(name: str) -> RefreshPolicy:
    if name not in POLICIES:
        raise KeyError(f"unknown refresh policy {name!r}; expected one of {sorted(POLICIES)}")
    return POLICIES[name]
