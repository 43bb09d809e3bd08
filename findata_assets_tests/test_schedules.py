"""Schedule ticks at chosen instants: ranged run requests, or a skip that says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
import pytest
import time_machine

from findata_assets import trading_calendar as tc
from findata_assets.defs.eastmoney import partitions
from findata_assets.defs.refresh import schedules
from findata_assets.defs.refresh.policies import POLICIES

TZ = tc.TZ
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
SCHEDULES = {name: [s for s in schedules.SCHEDULES if s.name.startswith(f"{name}_")]
             for name in POLICIES}
JOB_KIND = {"stock_flow_job": "stock", "sector_flow_job": "sector"}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True)
def _no_operator_holidays(monkeypatch):
    monkeypatch.delenv(tc.HOLIDAYS_ENV, raising=False)
    monkeypatch.delenv(tc.HOLIDAYS_FILE_ENV, raising=False)


@dataclass
class Tick:
    run_requests: list
    skip_message: str | None


def tick(instance, policy: str, when: datetime, late_s: float = 2.0) -> Tick:
    """The policy's schedules (one per family) evaluated at one instant (the clock `late_s`
    after it, as on a daemon on time), their requests joined."""
    with time_machine.travel(when + timedelta(seconds=late_s), tick=False):
        return _tick(instance, policy, when)


def _tick(instance, policy: str, when: datetime) -> Tick:
    requests, skips = [], []
    for schedule in SCHEDULES[policy]:
        # closed promptly: an unclosed context's instance, collected later, would reset
        # Dagster's current defs-state storage to a stale one and break later tests
        with dg.build_schedule_context(instance=instance,
                                       scheduled_execution_time=when) as context:
            data = schedule.evaluate_tick(context)
        requests += data.run_requests or []
        skips += [data.skip_message] if data.skip_message else []
    return Tick(requests, None if requests else "; ".join(skips) or None)


def _range_keys(request) -> set[str]:
    kind = JOB_KIND[request.job_name]
    return set(partitions.PARTITIONS[kind].get_partition_keys_in_range(
        dg.PartitionKeyRange(request.tags[RANGE_START], request.tags[RANGE_END])))


def test_schedules_are_the_policies_in_shanghai_time_one_per_family_job():
    assert {name: [(s.name, s.job_name) for s in group] for name, group in SCHEDULES.items()} == {
        "full": [("full_stock_refresh_schedule", "stock_flow_job"),
                 ("full_sector_refresh_schedule", "sector_flow_job")],
        "incremental": [("incremental_stock_refresh_schedule", "stock_flow_job"),
                        ("incremental_sector_refresh_schedule", "sector_flow_job")],
        "quick": [("quick_stock_refresh_schedule", "stock_flow_job")]}
    for name, group in SCHEDULES.items():
        for schedule in group:
            assert schedule.cron_schedule == POLICIES[name].cron
            assert schedule.execution_timezone == "Asia/Shanghai"


@pytest.mark.parametrize("policy,when,n_stock,n_sector", [
    ("quick", datetime(2026, 3, 2, 10, 0, tzinfo=TZ), 1, 0),
    ("incremental", datetime(2026, 3, 2, 10, 5, tzinfo=TZ), 8, 3),
    ("full", datetime(2026, 3, 2, 15, 10, tzinfo=TZ), 32, 9),
    ("quick", datetime(2026, 3, 2, 9, 25, tzinfo=TZ), 1, 0),  # the auction result
    ("quick", datetime(2026, 3, 2, 15, 0, tzinfo=TZ), 1, 0),  # the close
])
def test_a_tick_requests_one_ranged_run_per_family(instance, policy, when, n_stock, n_sector):
    data = tick(instance, policy, when)
    assert data.skip_message is None
    requests = data.run_requests
    assert len(requests) == (2 if n_sector else 1)
    cycle = f"{policy}-{when:%Y%m%dT%H%M}"
    by_kind = {}
    for request in requests:
        kind = JOB_KIND[request.job_name]  # the family job, as the CLI runs it
        by_kind[kind] = request
        assert request.asset_selection is None  # the job selects the family's two assets
        assert request.run_key == f"{cycle}:{kind}:{POLICIES[policy].partitions(kind)[0]}"
        assert request.tags["findata/policy"] == policy
        assert request.tags["findata/cycle"] == cycle
        assert request.tags["findata/lane"] == f"{policy}:{kind}"
        assert request.tags["findata/trade_date"] == when.date().isoformat()
        assert request.tags["dagster/priority"] == str(POLICIES[policy].priority)
        assert _range_keys(request) == set(POLICIES[policy].partitions(kind))
    assert len(_range_keys(by_kind["stock"])) == n_stock
    if n_sector:
        assert len(_range_keys(by_kind["sector"])) == n_sector
    # a session lane's step retries start 20 s before its next tick at the latest; full has
    # none, nor has a half-day's last tick (no next tick fetches afresh: it retries as usual)
    cadence = {"quick": timedelta(minutes=1), "incremental": timedelta(minutes=5)}.get(policy)
    cadence = None if when.strftime("%H:%M") in ("11:30", "15:00") else cadence
    retry_before = {r.tags.get("findata/retry_before") for r in requests}
    assert retry_before == {(when + cadence - timedelta(seconds=20)).isoformat()
                            if cadence else None}, retry_before


@pytest.mark.parametrize("policy,when,words", [
    ("quick", datetime(2026, 3, 2, 12, 0, tzinfo=TZ), "lunch break"),
    ("incremental", datetime(2026, 3, 2, 12, 0, tzinfo=TZ), "lunch break"),
    ("quick", datetime(2026, 3, 2, 9, 0, tzinfo=TZ), "before the open"),
    ("quick", datetime(2026, 3, 2, 9, 20, tzinfo=TZ), "auction"),
    ("quick", datetime(2026, 3, 2, 15, 10, tzinfo=TZ), "after the close"),
    ("full", datetime(2026, 3, 2, 10, 0, tzinfo=TZ), "waits for the close"),
    ("quick", datetime(2026, 3, 7, 10, 0, tzinfo=TZ), "Saturday: the exchange is closed"),
    ("full", datetime(2026, 3, 7, 15, 10, tzinfo=TZ), "Saturday"),
    ("quick", datetime(2026, 10, 1, 10, 0, tzinfo=TZ), "2026-10-01 is a holiday (National Day)"),
    ("full", datetime(2026, 10, 1, 15, 10, tzinfo=TZ), "2026-10-01 is a holiday (National Day)"),
    ("full", datetime(2026, 2, 17, 15, 10, tzinfo=TZ), "holiday (Spring Festival)"),
])
def test_ticks_outside_their_window_are_skipped_with_the_reason(instance, policy, when, words):
    data = tick(instance, policy, when)
    assert data.run_requests == []
    assert words in data.skip_message and data.skip_message.startswith(policy)


@pytest.mark.parametrize("day", [datetime(2026, 2, 28), datetime(2026, 10, 10)])
def test_make_up_working_saturdays_are_not_trading_days(instance, day):
    assert not tc.is_trading_day(day.date())
    for policy, hhmm in (("quick", (10, 0)), ("incremental", (10, 5)), ("full", (15, 10))):
        when = day.replace(hour=hhmm[0], minute=hhmm[1], tzinfo=TZ)
        data = tick(instance, policy, when)
        assert data.run_requests == []
        assert "make-up working day" in data.skip_message


def test_quick_fires_exactly_on_session_minutes_around_each_boundary(instance):
    day = datetime(2026, 3, 2, tzinfo=TZ)
    minutes = [(9, m) for m in range(20, 32)] + [(11, m) for m in range(28, 33)] + \
        [(12, m) for m in range(58, 60)] + [(13, m) for m in range(0, 3)] + \
        [(14, m) for m in range(58, 60)] + [(15, m) for m in range(0, 3)]
    fired = {f"{h:02d}:{m:02d}" for h, m in minutes
             if tick(instance, "quick", day.replace(hour=h, minute=m)).run_requests}
    expected = {"09:25", "09:26", "09:27", "09:28", "09:29", "09:30", "09:31",
                "11:28", "11:29", "11:30", "13:00", "13:01", "13:02", "14:58", "14:59", "15:00"}
    assert fired == expected


def _add_run(instance, lane: str, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="stock_flow_job", status=status,
                        tags={"findata/lane": lane, "findata/policy": lane.split(":")[0]})
    instance.add_run(run)
    return run


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.NOT_STARTED])
def test_a_tick_never_stacks_on_a_running_run(instance, status):
    when = datetime(2026, 3, 2, 10, 1, tzinfo=TZ)
    running = _add_run(instance, "quick:stock", status)
    data = tick(instance, "quick", when)
    assert data.run_requests == [] and "still in progress" in data.skip_message
    assert running.run_id[:8] in data.skip_message
    # another policy's lane does not block it
    assert len(tick(instance, "incremental", when.replace(minute=5)).run_requests) == 2


def test_finished_runs_do_not_block(instance):
    _add_run(instance, "quick:stock", dg.DagsterRunStatus.SUCCESS)
    _add_run(instance, "quick:stock", dg.DagsterRunStatus.FAILURE)
    assert len(tick(instance, "quick", datetime(2026, 3, 2, 10, 1, tzinfo=TZ)).run_requests) == 1


def test_beyond_the_horizon_ticks_run_on_weekdays_and_warn(instance, caplog, monkeypatch):
    monkeypatch.setattr(tc, "_warned_beyond", set())
    logger = logging.getLogger("test.schedules")
    with caplog.at_level(logging.WARNING):
        result = schedules.evaluate_policy_tick(
            instance, POLICIES["quick"], datetime(2027, 1, 4, 10, 0, tzinfo=TZ), logger)
    assert isinstance(result, list) and len(result) == 1
    assert any("horizon" in r.getMessage() and r.name == "test.schedules" for r in caplog.records)


def test_operator_holidays_past_the_horizon_skip_ticks(instance, monkeypatch, tmp_path):
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2027-01-04 New Year's Day (observed)\n")
    monkeypatch.setenv(tc.HOLIDAYS_FILE_ENV, str(holidays))
    data = tick(instance, "quick", datetime(2027, 1, 4, 10, 0, tzinfo=TZ))
    assert data.run_requests == [] and "2027-01-04 is a holiday" in data.skip_message
    assert "New Year's Day (observed)" in data.skip_message


def test_a_broken_holidays_file_never_crashes_a_tick(instance, monkeypatch, tmp_path):
    bad = tmp_path / "holidays.txt"
    bad.write_bytes(b"\xff\xfe not text 2027-13-45\n")
    monkeypatch.setenv(tc.HOLIDAYS_FILE_ENV, str(bad))
    monkeypatch.setenv(tc.HOLIDAYS_ENV, "garbage,,2027-02-30")
    data = tick(instance, "quick", datetime(2027, 1, 4, 10, 0, tzinfo=TZ))
    assert len(data.run_requests) == 1


def test_a_session_tick_evaluated_late_is_skipped_with_the_reason_and_a_prompt_one_runs(instance):
    """After a daemon restart Dagster evaluates the missed ticks of a partitioned job: a run for
    10:06 started at 10:08 would fetch 10:08's data and hold the lane from 10:08's own tick."""
    when = datetime(2026, 3, 2, 10, 6, tzinfo=TZ)
    late = tick(instance, "quick", when, late_s=125)
    assert late.run_requests == []
    assert late.skip_message.startswith("quick: tick 10:06 evaluated late: 125 s after its time")
    assert schedules.STALE_SKIP in late.skip_message
    assert len(tick(instance, "quick", when, late_s=30).run_requests) == 1
    # the close's full refresh may still catch up: its data does not change after 15:00
    assert tick(instance, "full", datetime(2026, 3, 2, 15, 10, tzinfo=TZ),
                late_s=600).run_requests
