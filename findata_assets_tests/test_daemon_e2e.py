"""End to end on a real `dagster-daemon`: policy ticks store data, never stack, failures alert,
and `stop` terminates a running policy leaving every table fully updated or untouched.

One daemon for the module (starting one costs ~15 s here), two code locations from a generated
workspace: "findata" (the project's definitions, pointed at the fake Eastmoney server) and
"findata_broken" (the same definitions pointed at a closed port). The test sensors run the same
tick function as the schedules (defs/refresh/schedules.py evaluate_policy_tick) without the session gate,
and only while their trigger file exists, so the test decides when each policy runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml

from findata_assets.cli import operations
from findata_assets.defs.refresh.policies import POLICIES
from findata_assets.eastmoney import catalog
from findata_assets.launcher.worker_identity import WORKER_TAG
from findata_assets_tests.test_sensors import WebhookReceiver

pytestmark = [pytest.mark.xdist_group("test_daemon_e2e.py"),  # one module fixture: conftest.py
              pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[1]
DAEMON = Path(sys.executable).with_name("dagster-daemon")
FIRST_DATE, SECOND_DATE = date(2026, 3, 2), date(2026, 3, 3)

E2E_MODULE = '''
import os
from datetime import datetime
from pathlib import Path

import dagster as dg

from findata_assets import trading_calendar as tc
from findata_assets.definitions import build_definitions
from findata_assets.defs.eastmoney.jobs import FAMILY_JOB_DEFS
from findata_assets.defs.refresh.policies import POLICIES, RefreshPolicy
from findata_assets.defs.refresh.schedules import (
    build_policy_schedule, evaluate_policy_tick, policy_kinds)

TRIGGERS = Path(os.environ["E2E_TRIGGER_DIR"])


def gated_policy_sensor(policy, name):
    @dg.sensor(name=name, jobs=[FAMILY_JOB_DEFS[k] for k in policy_kinds(policy)],
               minimum_interval_seconds=2,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def _sensor(context):
        trigger = TRIGGERS / policy.name
        if not trigger.exists():
            return dg.SkipReason("trigger file absent")
        now = datetime.now(tc.TZ)
        result = evaluate_policy_tick(context.instance, policy, now, context.log,
                                      gate_session=False,
                                      cycle=f"{policy.name}-{now:%Y%m%dT%H%M%S%f}")
        if isinstance(result, list) and trigger.read_text() == "once":
            trigger.unlink()
        return result
    return _sensor


# A real schedule through the scheduler daemon: every minute, calendar gate off, own lane.
SCHED = RefreshPolicy(name="sched", description="quick, on a per-minute test schedule",
                      stock_partitions=("all|1d",), sector_partitions=(), cron="* * * * *",
                      priority=0, pod_profile="quick")

# build_definitions includes the automation (schedules, sensors, freshness); these add to it
defs = dg.Definitions.merge(build_definitions(), dg.Definitions(
    sensors=[gated_policy_sensor(POLICIES["quick"], "quick_refresh_now"),
             gated_policy_sensor(POLICIES["incremental"], "incremental_refresh_now")],
    schedules=[build_policy_schedule(SCHED, "stock", gate_session=False,
                                     default_status=dg.DefaultScheduleStatus.RUNNING)]))

BROKEN = RefreshPolicy(name="broken", description="quick, against a closed port",
                       stock_partitions=("all|1d",), sector_partitions=(), cron="* * * * *",
                       priority=0, pod_profile="quick")
broken_defs = dg.Definitions.merge(
    build_definitions({**os.environ, "FINDATA_EASTMONEY_URL": os.environ["E2E_CLOSED_URL"],
                       "FINDATA_EASTMONEY_MAX_ATTEMPTS": "1"}),
    dg.Definitions(sensors=[gated_policy_sensor(BROKEN, "broken_refresh_now")]))
'''

WORKSPACE = '''
load_from:
  - python_module:
      module_name: e2e_defs
      attribute: defs
      location_name: findata
      working_directory: {dir}
  - python_module:
      module_name: e2e_defs
      attribute: broken_defs
      location_name: findata_broken
      working_directory: {dir}
'''


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: connections are refused


def wait_for(predicate, timeout: float, what: str, daemon: "Daemon | None" = None,
             interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    log = f"\n--- daemon log (tail) ---\n{daemon.tail()}" if daemon else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{log}")


class Daemon:
    def __init__(self, home: Path, env: dict[str, str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [str(DAEMON), "run", "-w", str(home / "workspace.yaml")], cwd=home, env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)  # the daemon, its code servers, run workers
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from findata_assets.fake_eastmoney import FakeEastmoneyServer

    root = tmp_path_factory.mktemp("e2e")
    home, triggers, findata_home = root / "dagster_home", root / "triggers", root / "findata"
    for d in (home, triggers, findata_home):
        d.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    # the project's instance, its warm worker holding this test's two locations
    config["run_launcher"]["config"]["preload_modules"] = ["e2e_defs:defs", "e2e_defs:broken_defs"]
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (root / "e2e_defs.py").write_text(E2E_MODULE)
    (home / "workspace.yaml").write_text(WORKSPACE.format(dir=root))

    fake = FakeEastmoneyServer(host="127.0.0.1", port=0, latency_ms=300, scale=0.1, frozen=True,
                               trade_date=FIRST_DATE)
    fake.start()
    receiver = WebhookReceiver()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINDATA_", "AWS_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
        "FINDATA_HOME": str(findata_home),
        "FINDATA_EASTMONEY_URL": fake.url,
        "FINDATA_ALERT_WEBHOOK": receiver.url,
        "FINDATA_UI_URL": "http://dagster.test:3000",
        "E2E_TRIGGER_DIR": str(triggers),
        "E2E_CLOSED_URL": f"http://127.0.0.1:{_closed_port()}/api/qt/clist/get",
    })
    # the failing run takes ~1 min (the crawl's step retries back off 10 s, 20 s, with jitter):
    # start it now, so it fails while the other tests run
    (triggers / "broken").write_text("once")
    daemon = Daemon(home, env, root / "daemon.log")
    saved_home = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)  # the instance's SQLite storage lives there
    instance = dg.DagsterInstance.from_config(str(home))
    ns = type("Stack", (), dict(home=home, triggers=triggers, fake=fake, receiver=receiver,
                                daemon=daemon, instance=instance, env=env,
                                database_url=f"sqlite:///{findata_home / 'findata.db'}"))
    try:
        yield ns
    finally:
        for trigger in list(triggers.iterdir()):
            trigger.unlink(missing_ok=True)
        daemon.stop()
        instance.dispose()
        if saved_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved_home
        receiver.close()
        fake.stop()


def _runs(instance, policy: str) -> list[dg.RunRecord]:
    return list(instance.get_run_records(dg.RunsFilter(tags={"findata/policy": policy})))


def _read(database_url: str, spec, trade_date: date) -> list[dict]:
    from findata_assets.storage.warehouse import Warehouse

    wh = Warehouse(database_url)
    try:
        return wh.read(spec, trade_date=trade_date)
    finally:
        wh.dispose()


def test_quick_ticks_store_data_and_never_stack(stack):
    # pages of 1 s: a forked run still lasts several sensor evaluations (every 2 s), so some of
    # them find it in flight
    stack.fake.set_latency(1000)
    try:
        _quick_ticks(stack)
    finally:
        stack.fake.set_latency(300)


def _quick_ticks(stack):
    (stack.triggers / "quick").touch()
    first = wait_for(lambda: [r for r in _runs(stack.instance, "quick")
                              if r.dagster_run.is_finished],
                     150, "a finished quick run", stack.daemon)
    assert first[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS, stack.daemon.tail()
    # keep ticking until an evaluation has landed while a run was in flight (a fast forked run
    # can leave none in the first two runs' time) and a second run was requested
    wait_for(lambda: len(_runs(stack.instance, "quick")) >= 2 and any(
        "still in progress" in s for s in _tick_skips(stack.instance, "quick_refresh_now")),
        60, "a second quick run and a tick skipped while one was in flight", stack.daemon)
    (stack.triggers / "quick").unlink()
    wait_for(lambda: all(r.dagster_run.is_finished for r in _runs(stack.instance, "quick")),
             60, "the quick runs to finish")

    runs = _runs(stack.instance, "quick")
    assert all(r.dagster_run.tags["findata/lane"] == "quick:stock" for r in runs)
    assert all(r.dagster_run.tags["dagster/asset_partition_range_start"] == "all|1d"
               for r in runs)
    spans = sorted((r.start_time, r.end_time) for r in runs if r.start_time)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"quick runs overlapped: {spans}"  # never stacked
    skips = _tick_skips(stack.instance, "quick_refresh_now")
    assert any("still in progress" in s for s in skips), skips

    spec = catalog.table_for_partition("stock", "all|1d")
    rows = _read(stack.database_url, spec, FIRST_DATE)
    assert len(rows) == len(stack.fake.expected_rows(spec)) > 0
    assert first[0].dagster_run.job_name == "stock_flow_job"  # the family job, as the CLI's
    cycles = operations.policy_cycles(stack.instance, "quick")
    assert cycles and any(c.status == "SUCCESS" and c.tables == 1 for c in cycles)
    # once the warm worker is up, the runs are forked from it (the first may start through the
    # code server while it loads)
    assert WORKER_TAG in runs[0].dagster_run.tags, [r.dagster_run.tags for r in runs]


def _tick_skips(instance, sensor_name: str) -> list[str]:
    from dagster._core.definitions.run_request import InstigatorType

    [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
               if s.name == sensor_name]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=200)
    return [t.skip_reason for t in ticks if t.skip_reason]


def test_a_failing_run_posts_to_the_webhook(stack):
    failed = wait_for(lambda: [r for r in _runs(stack.instance, "broken")
                               if r.dagster_run.status == dg.DagsterRunStatus.FAILURE],
                      150, "a failed run", stack.daemon)
    assert len(_runs(stack.instance, "broken")) == 1  # the one-shot trigger fired once
    run_id = failed[0].dagster_run.run_id
    post = wait_for(lambda: [p for p in stack.receiver.posts if run_id in p.get("text", "")],
                    60, f"the failure alert for {run_id}", stack.daemon)[0]
    text = post["markdown"]["text"]
    assert "all|1d .. all|1d" in text and "stock_flow_raw" in text
    assert f"http://dagster.test:3000/runs/{run_id}" in text
    assert post["msgtype"] == "markdown" and "broken refresh" in post["markdown"]["title"]


def test_a_real_schedule_tick_requests_a_ranged_run_that_stores(stack):
    # started with the daemon; its first tick is the first minute boundary after start-up
    done = wait_for(lambda: [r for r in _runs(stack.instance, "sched")
                             if r.dagster_run.is_finished],
                    150, "a finished scheduled run", stack.daemon)
    assert done[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS, stack.daemon.tail()
    tags = done[0].dagster_run.tags
    assert tags["dagster/schedule_name"] == "sched_stock_refresh_schedule"
    assert tags["findata/cycle"].startswith("sched-") and tags["findata/lane"] == "sched:stock"
    assert tags["dagster/asset_partition_range_start"] == "all|1d"
    assert operations.tables_stored(stack.instance, done[0].dagster_run.run_id) == 1
    report = operations.stop_policy(stack.instance, "sched", wait_s=20)  # no more minute ticks
    assert "sched_stock_refresh_schedule" in report.instigators_stopped and report.ok


def test_stop_terminates_a_running_policy_leaving_tables_whole_or_untouched(stack):
    stack.fake.set_trade_date(SECOND_DATE)  # rows of this run are told apart by trade date
    stack.fake.set_latency(1500)  # each page takes 1.5 s: the runs are still crawling
    (stack.triggers / "incremental").touch()
    wait_for(lambda: [r for r in _runs(stack.instance, "incremental")
                      if r.dagster_run.status == dg.DagsterRunStatus.STARTED
                      and r.start_time and time.time() - r.start_time > 1.5],
             120, "a running incremental run", stack.daemon)

    started = time.monotonic()
    report = operations.stop_policy(stack.instance, "incremental", wait_s=30)
    took = time.monotonic() - started
    (stack.triggers / "incremental").unlink()
    assert report.ok and report.runs, report
    assert set(report.runs.values()) <= {"CANCELED", "SUCCESS", "FAILURE"}, report
    assert "CANCELED" in report.runs.values()
    # the runs stopped while running were forked workers (a queued one is canceled unlaunched)
    started = [stack.instance.get_run_record_by_id(r) for r, status in report.runs.items()
               if status == "CANCELED"]
    started = [r.dagster_run for r in started if r.start_time]
    assert started and all(WORKER_TAG in r.tags for r in started), [r.tags for r in started]
    assert took < 15, f"stop took {took:.1f} s"
    assert "incremental_refresh_now" in report.instigators_stopped

    # every table of the policy: all of the new day's rows, or none of them
    for kind in ("stock", "sector"):
        for key in POLICIES["incremental"].partitions(kind):
            spec = catalog.table_for_partition(kind, key)
            rows = _read(stack.database_url, spec, SECOND_DATE)
            assert len(rows) in (0, len(stack.fake.expected_rows(spec))), spec.name
    # the sensor is off: no new incremental run appears (nor a run retry); and the failure
    # sensor (every 10 s) stays quiet about an operator's stop
    count = len(_runs(stack.instance, "incremental"))
    time.sleep(12)
    assert len(_runs(stack.instance, "incremental")) == count
    assert not [p for p in stack.receiver.posts if any(r in p["text"] for r in report.runs)]
    assert stack.daemon.alive(), stack.daemon.tail()
