"""Issue 26: which minutes of a session a day holds, and why the others are missing."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.coverage.day_coverage import Attempt, StoredMinute, compute
from findata_assets.coverage.session_minutes import due_minutes, session_minutes, segment_start

DAY = dt.date(2026, 11, 30)  # a Monday, a trading day


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm))


def stored(*hhmm: str, delay_s: float = 3, run: str | None = None) -> dict:
    return {at(m): StoredMinute(at(m), at(m) + dt.timedelta(seconds=delay_s), run)
            for m in hhmm}


def test_the_session_is_247_minutes_as_the_quick_lane_ticks_and_51_every_five():
    minutes = session_minutes(DAY)
    assert len(minutes) == 247 and minutes[0] == at("09:25") and minutes[-1] == at("15:00")
    assert at("11:30") in minutes and at("11:31") not in minutes and at("13:00") in minutes
    assert len(session_minutes(DAY, every=5)) == 51
    assert session_minutes(dt.date(2026, 10, 1)) == []  # National Day
    assert due_minutes(DAY, now=at("09:27:30".replace(":30", "")) + dt.timedelta(seconds=30)) \
        == [at("09:25"), at("09:26")]
    assert segment_start(at("13:02")) == at("13:00") and segment_start(at("12:00")) is None


def test_the_cadences_are_the_policies_crons():
    from findata_assets.coverage.session_minutes import CADENCE_MINUTES
    from findata_assets.defs.intraday.attempts import cadence

    assert {family: cadence(family) for family in CADENCE_MINUTES} == CADENCE_MINUTES


def test_missing_minutes_are_ranges_with_the_most_telling_cause():
    have = stored(*[f"09:{m}" for m in range(25, 60) if m not in (30, 31, 32, 40, 41, 50)])
    have |= stored("09:44", delay_s=25)  # fetched late
    attempts = [
        Attempt(at("09:30"), "api_unavailable", "run aaaaaaaa: GET ... 503", "a" * 36),
        Attempt(at("09:31"), "api_unavailable", "run bbbbbbbb: GET ... 503", "b" * 36),
        Attempt(at("09:31"), "busy", "aaaaaaaa (STARTED)"),  # the API cause wins
        Attempt(at("09:32"), "busy", "cccccccc (STARTED)"),
        Attempt(at("09:40"), "failed", "run dddddddd: schema drift in 全部股票", "d" * 36),
    ]
    coverage = compute(DAY, "stock", have, attempts, now=at("10:00"))
    assert (coverage.due, coverage.stored) == (35, 29)  # 09:25..09:59
    assert [(r.span, r.cause) for r in coverage.missing] == [
        ("09:30-09:31", "API unavailable"), ("09:32", "lane busy"), ("09:40", "run failed"),
        ("09:41", "no tick"), ("09:50", "no tick")]
    assert coverage.late == [at("09:44")]
    assert coverage.live_at == at("10:00")
    assert coverage.summary().startswith(
        "minutes captured 29/35 so far (at 10:00), 1 late (> 20 s); missing 09:30-09:31: "
        "API unavailable, 09:32: lane busy, 09:40: run failed")


def test_a_run_that_overran_names_the_minute_its_data_is_of():
    have = stored("09:25", "09:27", run="r" * 36)
    coverage = compute(DAY, "stock", have, [Attempt(at("09:26"), "ran", "", "r" * 36)],
                       now=at("09:28"))
    [gap] = coverage.missing
    assert gap.cause == "run overran" and "its data is of 09:27" in gap.detail


def test_a_run_whose_later_minute_a_newer_fetch_took_over_still_overran():
    """The log keeps the newest fetch's run: the overrunning run's minute 09:27 was stored again
    by another lane. Its own minute is 'run overran', not a failure; a run that succeeded and
    stored nothing with no later minute in sight is 'no minute in the data'."""
    have = stored("09:25", "09:27", run="n" * 36)
    attempts = [Attempt(at("09:26"), "ran", "", "r" * 36), Attempt(at("09:30"), "ran", "", "s" * 36)]
    coverage = compute(DAY, "stock", have, attempts, now=at("09:31"))
    causes = {r.span: (r.cause, r.detail) for r in coverage.missing}
    assert causes["09:26"] == ("run overran", "run rrrrrrrr succeeded with the data of a later minute")
    assert causes["09:30"][0] == "no minute in the data" and "ssssssss" in causes["09:30"][1]


def test_a_sector_minute_needs_every_board_type():
    have = {at("09:25"): StoredMinute(at("09:25"), at("09:25:04"), None,
                                      frozenset({"industry", "concept"}))}
    coverage = compute(DAY, "sector", have, [], every=5,
                       boards=frozenset({"industry", "concept", "region"}), now=at("09:31"))
    assert [(r.span, r.cause, r.detail) for r in coverage.missing] == [
        ("09:25", "partial", "no region"), ("09:30", "no tick",
                                            coverage.missing[1].detail)]


def test_a_closed_day_counts_the_whole_session():
    coverage = compute(DAY, "stock", stored("09:25"), [], now=at("16:00", DAY + dt.timedelta(1)))
    assert (coverage.due, coverage.stored, coverage.live_at) == (247, 1, None)
    assert [(r.span, r.minutes) for r in coverage.missing] == [("09:26-11:30", 125),
                                                               ("13:00-15:00", 121)]
    # the same day after its close is closed, not "so far"
    after_close = compute(DAY, "stock", stored("09:25"), [], now=at("15:30"))
    assert after_close.live_at is None and "so far" not in after_close.summary()


@pytest.mark.integration
def test_coverage_from_the_minute_log_and_the_instance_and_show_coverage(platform_stores,
                                                                         capsys):
    from findata_assets.cli.main import main as cli_main
    from findata_assets.defs.intraday.coverage import day_coverage
    from findata_assets_tests.intraday_rows import minute_rows

    intraday, _ = platform_stores
    codes = ["600000", "600001", "000001"]
    for m, hhmm in enumerate(["09:25", "09:26", "09:27", "09:30"]):
        minute = at(hhmm)
        rows = minute_rows(DAY, minute, m, codes)
        intraday.replace_minute_if_newer("stock", DAY, minute, None, rows,
                                         max(r["fetched_at"] for r in rows), run_id=f"run{m}")
    tags = {"findata/policy": "quick", "findata/lane": "quick:stock",
            "findata/trade_date": DAY.isoformat()}
    with dg.DagsterInstance.get() as instance:
        for hhmm, status in (("0928", dg.DagsterRunStatus.CANCELED),
                             ("0929", dg.DagsterRunStatus.FAILURE)):
            instance.add_run(dg.DagsterRun(
                job_name="stock_flow_job", status=status,
                tags={**tags, "findata/cycle": f"quick-{DAY:%Y%m%d}T{hhmm}"}))
        coverage = day_coverage(instance, intraday.warehouse, "stock", DAY,
                                now=at("09:32"))
    assert (coverage.due, coverage.stored) == (7, 4)  # 09:25..09:31
    assert [(r.span, r.cause) for r in coverage.missing] == [
        ("09:28", "run stopped"), ("09:29", "run failed"), ("09:31", "no tick")]
    assert cli_main(["show", "coverage", "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{DAY} stock  minutes captured 4/247 (1.6%)"
    assert f"  {DAY} stock  missing 09:28: run stopped" in "\n".join(out)
    # the minute log is what the every-minute path counts (the live day's "so far")
    from findata_assets.storage import minute_log
    assert minute_log.count(intraday.warehouse, "stock", DAY) == 4


# --- the stall alert ----------------------------------------------------------------------------

def test_the_stall_decision_alerts_once_recovers_once_and_is_quiet_outside_the_session():
    from findata_assets.coverage.stall import StallState, decide

    three = dt.timedelta(minutes=3)
    stored_at = StallState(at("10:01:05"), "10:01")
    assert decide(at("10:04:00"), stored_at, False, three) is None
    assert decide(at("10:04:10"), stored_at, False, three) == "alert"
    assert decide(at("10:05:00"), stored_at, True, three) is None  # one alert per outage
    assert decide(at("10:05:30"), StallState(at("10:05:04"), "10:05"), True, three) == "recovered"
    # lunch, after the close, a holiday: nothing, whatever was stored last
    for quiet in (at("12:00"), at("15:30"), at("10:30", dt.date(2026, 10, 1))):
        assert decide(quiet, stored_at, False, three) is None
    # after lunch the clock starts at 13:00, not at the morning's last minute
    morning = StallState(at("11:30:04"), "11:30")
    assert decide(at("13:02:30"), morning, False, three) is None
    assert decide(at("13:03:01"), morning, False, three) == "alert"
    # the boards tick every five minutes: their stall allows for it
    assert decide(at("10:08:00"), stored_at, False, three, cadence_minutes=5) is None
    assert decide(at("10:08:10"), stored_at, False, three, cadence_minutes=5) == "alert"


def test_the_stall_sensor_posts_one_alert_naming_the_lane_and_cause_then_stays_quiet(
        monkeypatch):
    import time_machine

    from findata_assets.defs.intraday.stall_alert import stall_alert_sensor
    from findata_assets_tests.test_sensors import WebhookReceiver

    receiver = WebhookReceiver()
    monkeypatch.setenv("FINDATA_ALERT_WEBHOOK", receiver.url)
    try:
        with dg.instance_for_test() as instance, time_machine.travel(dt.datetime.combine(
                DAY, dt.time(9, 25), tzinfo=tc.TZ), tick=False):  # a run holding the lane
            instance.add_run(dg.DagsterRun(
                job_name="stock_flow_job", status=dg.DagsterRunStatus.STARTED,
                tags={"findata/lane": "quick:stock", "findata/policy": "quick"}))
            cursor = None
            for when in ("09:29:00", "09:31:00", "09:32:00"):
                with time_machine.travel(dt.datetime.combine(
                        DAY, dt.time.fromisoformat(when), tzinfo=dt.timezone(
                            dt.timedelta(hours=8))), tick=False):
                    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
                        stall_alert_sensor.evaluate_tick(context)
                        cursor = context.cursor
            titles = [p["markdown"]["title"] for p in receiver.posts]
            assert titles == ["findata: no new stock_flow_intraday minute for 3 min"]
            text = receiver.posts[0]["text"]
            assert "lane: quick:stock" in text and "last minute stored: none today" in text
            assert "likely cause: lane busy: run" in text
            assert "tok123456" not in text
    finally:
        receiver.close()


def test_the_likely_cause_is_the_failed_run_before_the_current_try_not_the_try():
    """In an outage each tick's run fails after holding the lane a while: when the alert fires
    during a try, the run before it says why; a run holding the lane past its tick is the cause."""
    import time_machine

    from findata_assets.defs.intraday.stall_alert import likely_cause

    def at(hhmmss: str) -> dt.datetime:
        return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmmss))

    lane = {"findata/lane": "quick:stock", "findata/policy": "quick"}
    with dg.instance_for_test() as instance:
        with time_machine.travel(at("09:27:02").replace(tzinfo=tc.TZ), tick=False):
            instance.add_run(dg.DagsterRun(job_name="stock_flow_job", tags=lane,
                                           status=dg.DagsterRunStatus.FAILURE))
        with time_machine.travel(at("09:28:01").replace(tzinfo=tc.TZ), tick=False):
            current = dg.DagsterRun(job_name="stock_flow_job", tags=lane,
                                    status=dg.DagsterRunStatus.STARTED)
            instance.add_run(current)
        cause = likely_cause(instance, "quick:stock", at("09:28:22"))
        assert cause == (f"run failed: the run failed; run {current.run_id[:8]} is STARTED "
                         "since 09:28:01 (21 s)"), cause
        cause = likely_cause(instance, "quick:stock", at("09:29:30"))  # past its minute
        assert cause == f"lane busy: run {current.run_id[:8]} is STARTED since 09:28:01 (89 s)"
    with dg.instance_for_test() as instance:  # a try with no failure before it: in progress
        with time_machine.travel(at("09:28:01").replace(tzinfo=tc.TZ), tick=False):
            instance.add_run(current)
        cause = likely_cause(instance, "quick:stock", at("09:28:22"))
        assert cause == (f"in progress: run {current.run_id[:8]} is STARTED since 09:28:01 "
                         "(21 s), its minute not stored yet"), cause
