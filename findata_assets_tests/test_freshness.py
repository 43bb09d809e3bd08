"""The tables' freshness policy means what its description says, over a whole trading day.

The refreshes are the policies' own cron ticks, gated by the session calendar as the schedules
gate them; each deadline of the freshness cron passes when one of them lies in its window.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from findata_assets import trading_calendar as tc
from findata_assets.defs.location import build_definitions
from findata_assets.defs.refresh import policies
from findata_assets.defs.refresh.schedules import session_skip

DAY = date(2026, 11, 30)  # a Monday, a trading day


def _ticks(cron: str, start: datetime, end: datetime) -> list[datetime]:
    out = []
    for tick in cron_string_iterator(start.timestamp(), cron, tc.TZ_NAME):
        if tick > end:
            return out
        out.append(tick)
    return out


def _day(d: date) -> tuple[datetime, datetime]:
    start = datetime(d.year, d.month, d.day, tzinfo=tc.TZ)
    return start, start + timedelta(days=1) - timedelta(seconds=1)


def refreshes(d: date, names=tuple(policies.POLICIES)) -> list[datetime]:
    """When the 1d tables are materialized on `d`: every policy tick the calendar lets run
    (a few seconds after the tick, as a run takes)."""
    start, end = _day(d)
    out = []
    for name in names:
        policy = policies.get_policy(name)
        out += [tick + timedelta(seconds=20) for tick in _ticks(policy.cron, start, end)
                if session_skip(policy, tc.session_state(tick)) is None]
    return sorted(out)


def deadlines(d: date) -> list[datetime]:
    return _ticks(policies.FRESHNESS_DEADLINE_CRON, *_day(d))


def failing(d: date, materialized: list[datetime]) -> list[str]:
    window = policies.FRESHNESS_WINDOW
    return [f"{deadline:%H:%M}" for deadline in deadlines(d)
            if not any(deadline - window <= at <= deadline for at in materialized)]


def test_a_normal_trading_day_is_fresh_at_every_deadline():
    assert failing(DAY, refreshes(DAY)) == []
    times = [f"{d:%H:%M}" for d in deadlines(DAY)]
    assert times[0] == "10:05" and times[-1] == "15:35"
    # at lunch only 11:35 (met by the morning's last tick, 11:30); nothing overnight
    assert [t for t in times if "11:31" <= t <= "13:04" or t > "15:35"] == ["11:35"]


def test_the_last_deadline_says_whether_the_close_is_in():
    before_close = [at for at in refreshes(DAY) if at.time() < datetime(2000, 1, 1, 15).time()]
    assert failing(DAY, before_close) == ["15:35"]
    assert failing(DAY, before_close + refreshes(DAY, names=("full",))) == []
    # the in-session refreshes alone (their last tick is the 15:00 close) do not count for it
    assert failing(DAY, refreshes(DAY, names=("quick", "incremental"))) == ["15:35"]


def test_refreshes_stopping_in_session_go_stale_within_the_window():
    stopped = [at for at in refreshes(DAY) if at.hour < 10]  # the schedules stopped at 10:00
    assert failing(DAY, stopped)[0] == "10:35"


@pytest.mark.parametrize("key", ["stock_flow", "sector_flow"])
def test_the_table_assets_carry_the_policy_and_say_what_fresh_means(key, clean_env, tmp_path):
    clean_env.setenv("FINDATA_HOME", str(tmp_path))
    spec = build_definitions().resolve_asset_graph().get(dg.AssetKey(key))
    assert spec.freshness_policy == policies.TABLE_FRESHNESS
    assert policies.FRESHNESS_MEANING in spec.description
    assert "30 minutes" in spec.description and "15:35" in spec.description
