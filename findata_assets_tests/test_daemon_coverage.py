"""Every minute accounted for, on the real `dagster-daemon` with the project's schedules on at a
shifted trading instant (shifted_daemon.py): one session timeline of about twelve minutes.

From the first minute stored, T:
- T+1..T+3: the fake fails every request (HTTP 503), then recovers. Coverage names exactly those
  minutes, "API unavailable"; the stall alert fires once, the recovery line once, the failed
  runs' alert once (not once a minute); T+4 and T+5 are stored.
- the daemon is stopped for two minutes after T+5 and started again: coverage names the gap
  "no tick"; the ticks after the restart run on time, no pile of catch-up runs.
- T+10: the fake answers each page in 5 s, so the quick run holds its lane past T+11 and T+12:
  T+11 is skipped and counted "lane busy", naming the run that held the lane; T+13 is stored.
What coverage, the alerts and the report's line said is printed (pytest -s shows it).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.defs.intraday.attempts import IN_FLIGHT, tick_minute
from findata_assets.defs.intraday.stall_alert import stall_state
from findata_assets.defs.refresh.policies import LANE_TAG
from findata_assets.storage.intraday import TABLES
from findata_assets_tests.shifted_daemon import ShiftedDaemon, next_session_instant, shifted_daemon
from findata_assets_tests.test_sensors import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1500)]
QUICK_LANE = "quick:stock"
STOCK_TABLE = TABLES["stock"]


class Timeline:
    """The test's clock on the daemon's: waits while stamping each webhook post on arrival."""

    def __init__(self, daemon: ShiftedDaemon, instance: dg.DagsterInstance,
                 receiver: WebhookReceiver):
        self.daemon, self.instance, self.receiver = daemon, instance, receiver
        self.posts: list[tuple[dt.datetime, str]] = []  # (shifted instant, the post as text)

    def now(self) -> dt.datetime:
        return self.daemon.now().replace(tzinfo=None)

    def _collect(self) -> None:
        while len(self.posts) < len(self.receiver.posts):
            post = self.receiver.posts[len(self.posts)]
            self.posts.append((self.now(), json.dumps(post, ensure_ascii=False)))

    def wait_until(self, moment: dt.datetime) -> None:
        while self.now() < moment:
            self._collect()
            time.sleep(0.5)
        self._collect()

    def wait_for(self, what, timeout_s: float, describe: str):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            self._collect()
            time.sleep(1)
        raise AssertionError(f"{describe}: not within {timeout_s:.0f} s "
                             f"(the daemon's log: {self.daemon.workdir / 'daemon.log'})")

    def lane_idle(self, timeout_s: float = 50) -> None:
        self.wait_for(lambda: not self.instance.get_run_records(dg.RunsFilter(
            tags={LANE_TAG: QUICK_LANE}, statuses=list(IN_FLIGHT))), timeout_s,
            "the quick lane's run to end")

    def said(self, text: str, after: dt.datetime, before: dt.datetime) -> list[dt.datetime]:
        return [at for at, post in self.posts
                if after <= at < before and text in post and STOCK_TABLE in post]


def _range_of(coverage, minute: dt.datetime):
    return next((r for r in coverage.missing if r.start <= minute <= r.end), None)


def test_lost_minutes_are_named_alerted_once_and_the_restarted_daemon_runs_on_time(tmp_path):
    receiver = WebhookReceiver()
    env = {"FINDATA_ALERT_WEBHOOK": receiver.url,  # two pages in flight: 3 s a page holds a lane
           "FINDATA_EASTMONEY_CONCURRENCY": "2"}
    at = next_session_instant(dt.time(9, 24, 0))  # the session opens at 09:25
    try:
        with shifted_daemon(tmp_path, at, 100, env) as daemon, daemon.instance() as instance:
            line = Timeline(daemon, instance, receiver)
            first = line.wait_for(lambda: stall_state(instance, "stock").last_minute, 300,
                                  "the first quick minute stored")
            t0 = dt.datetime.combine(line.now().date(), dt.time.fromisoformat(first))

            def t(minutes: int, seconds: int = 0) -> dt.datetime:
                return t0 + dt.timedelta(minutes=minutes, seconds=seconds)

            # 1. three minutes of API outage
            line.wait_until(t(0, 30))
            line.lane_idle()
            daemon.control_fake(fault_rate=1.0, fault_kinds=["503"])
            outage_from = line.now()
            line.wait_until(t(3, 30))
            line.lane_idle(28)  # T+3's run has failed (no step retry after T+3:40)
            daemon.control_fake(fault_rate=0.0)
            # 2. the daemon stopped for two minutes
            line.wait_until(t(5, 40))
            line.lane_idle()
            daemon.stop_daemon()
            stopped = line.now()
            line.wait_until(t(7, 40))
            daemon.start_daemon()
            restarted = line.now()
            # 3. a run that holds the lane past the next tick
            line.wait_until(t(9, 30))
            line.lane_idle()
            daemon.control_fake(latency_ms=5000)
            line.wait_until(t(12, 10))
            daemon.control_fake(latency_ms=100)
            line.wait_until(t(13, 25))
            line.lane_idle()
            line.wait_until(line.now() + dt.timedelta(seconds=25))  # a recovery line, if any
            stock = daemon.coverage(instance, "stock")
            sector = daemon.coverage(instance, "sector")
            quick_runs = instance.get_run_records(dg.RunsFilter(tags={LANE_TAG: QUICK_LANE}))
            # what the operator reads: the CLI, on the daemon's stores and clock
            shown = subprocess.run(
                [sys.executable, "-m", "findata_assets.run", "show", "coverage", "--date",
                 f"{t0:%Y-%m-%d}"], env=daemon.env, cwd=daemon.workdir, capture_output=True,
                text=True, timeout=120)
    finally:
        receiver.close()

    print(f"\nT = {t0:%H:%M}; outage from {outage_from:%H:%M:%S}, daemon stopped "
          f"{stopped:%H:%M:%S}-{restarted:%H:%M:%S}")
    for coverage in (stock, sector):
        print(f"coverage {coverage.family}: {coverage.summary()}")  # the report's line
        for missing in coverage.missing:
            print(f"  missing {missing.line()}")
    for at_, post in line.posts:
        print(f"webhook {at_:%H:%M:%S}: {post}")
    print(f"$ python -m findata_assets.run show coverage --date {t0:%Y-%m-%d}\n{shown.stdout}")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert f"{t0:%Y-%m-%d} stock  minutes captured " in shown.stdout
    for missing in stock.missing:  # each range, with its cause, as coverage computed it
        assert f"stock  missing {missing.line()}" in shown.stdout, (missing.line(), shown.stdout)

    def stored(minute: dt.datetime) -> bool:
        return _range_of(stock, minute) is None

    # every due minute is stored or listed missing with a cause
    assert stock.stored + stock.missing_minutes == stock.due
    assert sector.stored + sector.missing_minutes == sector.due

    # 1. exactly the outage's minutes, API unavailable; the alert once, the recovery once
    outage = _range_of(stock, t(1))
    assert outage is not None and (outage.start, outage.end) == (t(1), t(3)), stock.missing
    assert outage.cause == "API unavailable", outage
    assert stored(t(0)) and stored(t(4)) and stored(t(5))
    alerted = line.said("no new", outage_from, stopped)
    recovered = line.said("flow again", outage_from, stopped)
    assert len(alerted) == 1 and len(recovered) == 1, line.posts
    assert alerted[0] < recovered[0]
    # the failure alerts: the first failed quick run posts, the ones failing alike after it not
    failed = [at_ for at_, post in line.posts if outage_from <= at_ < stopped
              and "findata run failed: quick refresh (quick:stock)" in post]
    assert len(failed) == 1, line.posts
    assert alerted[0] - t(1) <= dt.timedelta(minutes=4)  # three minutes and one tick
    alert_text = next(post for at_, post in line.posts if at_ == alerted[0])
    assert f"last minute stored: {t(0):%H:%M}" in alert_text and "API unavailable" in alert_text

    # 2. the restart: the gap is "no tick"; after it, no pile of catch-up runs, ticks on time
    gap = _range_of(stock, t(6))
    assert gap is not None and gap.cause == "no tick" and gap.start == t(6), stock.missing
    assert stored(t(7)) or gap.end == t(7)
    # a catch-up run after the restart could only be T+7's, evaluated within STALE_TICK
    catch_up = [tick_minute(r.dagster_run, r.create_timestamp) for r in quick_runs
                if r.create_timestamp >= restarted.replace(tzinfo=tc.TZ)
                and tick_minute(r.dagster_run, r.create_timestamp) < t(8)]
    assert catch_up in ([], [t(7)]), catch_up
    assert stored(t(8)) and stored(t(9))
    assert t(8) not in stock.late and t(9) not in stock.late

    # 3. the tick skipped while the slow run held the lane
    busy = _range_of(stock, t(11))
    assert busy is not None and busy.cause == "lane busy", stock.missing
    holder = next(r.dagster_run.run_id for r in quick_runs
                  if tick_minute(r.dagster_run, r.create_timestamp) == t(10))
    assert holder[:8] in busy.detail, busy
    assert stored(t(13)) and t(13) not in stock.late

    # no outage left open: every stall alert has its recovery line
    assert len(line.said("no new", t(0), t(14))) == len(line.said("flow again", t(0), t(14)))
