"""Sensors: analysis once per full cycle, failure alerts to a webhook, the calendar horizon."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from findata_assets import trading_calendar as tc
from findata_assets.defs.refresh import alerts, sensors
from findata_assets.defs.refresh.policies import POLICIES
from findata_assets.defs.trading_days import trading_day_partitions

TRADING_DAYS = trading_day_partitions(date(2026, 1, 5))

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class WebhookReceiver:
    """A local HTTP endpoint recording JSON POSTs; answers `status` (200 by default)."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b'{"errcode":0}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot/send?access_token=tok123456"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


# --- analysis after a full cycle ---------------------------------------------------------------

@dg.asset(partitions_def=TRADING_DAYS)
def fund_flow_analysis() -> None:  # stand-in for the analysis engineer's asset
    return None


STAND_IN_JOB = dg.define_asset_job(sensors.ANALYSIS_JOB, selection=[fund_flow_analysis],
                                   partitions_def=TRADING_DAYS)


@pytest.fixture
def analysis():
    sensor = sensors.build_analysis_sensor()
    defs = dg.Definitions(assets=[fund_flow_analysis], jobs=[STAND_IN_JOB], sensors=[sensor])
    return sensor, defs.get_repository_def()


def add_run(instance, policy: str, kind: str, cycle: str, status: dg.DagsterRunStatus,
            trade_date: str | None = "2026-03-02") -> dg.DagsterRun:
    tags = {"findata/policy": policy, "findata/cycle": cycle, "findata/lane": f"{policy}:{kind}"}
    if trade_date:
        tags["findata/trade_date"] = trade_date
    run = dg.DagsterRun(job_name=f"{kind}_flow_job", status=status, tags=tags)
    instance.add_run(run)
    return run


def evaluate(sensor, repo, instance, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo) as context:
        data = sensor.evaluate_tick(context)
    return data, data.cursor


OK, FAILED = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE


def test_analysis_is_requested_once_when_both_runs_of_a_full_cycle_succeed(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "full", "stock", "full-1", OK)
    data, cursor = evaluate(sensor, repo, instance)
    assert data.run_requests == []  # the sector run has not finished
    add_run(instance, "full", "sector", "full-1", OK)
    data, cursor = evaluate(sensor, repo, instance, cursor)
    [request] = data.run_requests
    assert request.run_key == "full-1" and request.partition_key == "2026-03-02"
    assert request.tags["findata/cycle"] == "full-1"
    data, cursor = evaluate(sensor, repo, instance, cursor)  # nothing new: not requested again
    assert data.run_requests == []


def test_a_failed_lane_blocks_the_analysis_until_a_retry_succeeds(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "full", "stock", "full-2", OK)
    add_run(instance, "full", "sector", "full-2", FAILED)
    data, cursor = evaluate(sensor, repo, instance)
    assert data.run_requests == []
    add_run(instance, "full", "sector", "full-2", OK)  # the run retry, same tags
    data, cursor = evaluate(sensor, repo, instance, cursor)
    assert [r.run_key for r in data.run_requests] == ["full-2"]


def test_a_cycle_the_cli_already_analysed_is_not_requested_again(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "full", "stock", "full-cli", OK)
    add_run(instance, "full", "sector", "full-cli", OK)
    # what python -m findata_assets.run full does after its two runs
    instance.add_run(dg.DagsterRun(job_name=sensors.ANALYSIS_JOB, status=OK,
                                   tags={"findata/policy": "full", "findata/cycle": "full-cli"}))
    data, _ = evaluate(sensor, repo, instance)
    assert data.run_requests == []
    assert "already ran" in data.skip_message


def test_other_policies_and_mixed_cycles_do_not_trigger(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "incremental", "stock", "inc-1", OK)
    add_run(instance, "incremental", "sector", "inc-1", OK)
    add_run(instance, "full", "stock", "full-a", OK)
    add_run(instance, "full", "sector", "full-b", OK)
    data, _ = evaluate(sensor, repo, instance)
    assert data.run_requests == []


def test_a_cycle_without_trade_date_tag_uses_the_latest_trading_day(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "full", "stock", "cli-1", OK, trade_date=None)
    add_run(instance, "full", "sector", "cli-1", OK, trade_date=None)
    data, _ = evaluate(sensor, repo, instance)
    [request] = data.run_requests
    assert request.partition_key == tc.latest_trading_day(datetime.now(tc.TZ)).isoformat()


def test_a_non_trading_trade_date_is_skipped_with_reason(instance, analysis):
    sensor, repo = analysis
    add_run(instance, "full", "stock", "full-h", OK, trade_date="2026-10-01")
    add_run(instance, "full", "sector", "full-h", OK, trade_date="2026-10-01")
    data, _ = evaluate(sensor, repo, instance)
    assert data.run_requests == [] and "2026-10-01 is not a trading day" in data.skip_message


def test_the_analysis_sensor_is_registered_only_with_its_job():
    assert "analysis_after_full_refresh" not in {s.name for s in sensors.build_sensors(set())}
    names = {s.name for s in sensors.build_sensors({sensors.ANALYSIS_JOB})}
    assert {"analysis_after_full_refresh", "findata_run_failure_alert",
            "trading_calendar_horizon"} <= names


# --- failure alerts ----------------------------------------------------------------------------

SECRET = "s3cr3t-value-42"


@dg.op
def crawl_step():
    raise RuntimeError(f"connection refused at mysql+pymysql://root:hunter22@db:3306/x "
                       f"(aws secret {SECRET})")


@dg.job
def stand_in_stock_job():
    crawl_step()


def failed_run(instance):
    tags = {"findata/policy": "quick", "findata/cycle": "quick-x", "findata/lane": "quick:stock",
            RANGE_START: "all|1d", RANGE_END: "all|1d"}
    result = stand_in_stock_job.execute_in_process(instance=instance, tags=tags,
                                                   raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    [record] = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return run, record.event_log_entry.dagster_event


def fire_failure_sensor(instance, run, event):
    context = dg.build_run_status_sensor_context(
        sensor_name="findata_run_failure_alert", dagster_event=event,
        dagster_instance=instance, dagster_run=run).for_run_failure()
    sensors.run_failure_alert_sensor(context)


def test_a_failed_run_posts_a_markdown_alert_without_secrets(instance, receiver, monkeypatch):
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    monkeypatch.setenv(alerts.UI_URL_ENV, "http://dagster.example:3000/")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    run, event = failed_run(instance)
    fire_failure_sensor(instance, run, event)
    [post] = receiver.posts
    assert post["msgtype"] == "markdown"
    text = post["markdown"]["text"]
    assert post["text"] == text == post["markdown"]["content"]
    assert post["markdown"]["title"] == "findata run failed: quick refresh (quick:stock)"
    assert "job: stand_in_stock_job" in text
    assert run.run_id in text and "all|1d .. all|1d" in text
    assert "crawl_step" in text and "connection refused" in text
    assert f"http://dagster.example:3000/runs/{run.run_id}" in text
    assert SECRET not in json.dumps(post) and "hunter22" not in json.dumps(post)


def test_a_lanes_run_failing_as_its_previous_run_did_is_not_posted_again(instance, receiver,
                                                                         monkeypatch, capfd):
    """An outage fails the quick lane's run every minute: one post, not one a minute; after a
    success in the lane, the next failure posts again."""
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    first = failed_run(instance)
    fire_failure_sensor(instance, *first)
    second = failed_run(instance)
    capfd.readouterr()
    fire_failure_sensor(instance, *second)
    assert [p["markdown"]["title"] for p in receiver.posts] == [
        "findata run failed: quick refresh (quick:stock)"]
    assert first[0].run_id in receiver.posts[0]["text"]
    said = capfd.readouterr().err  # the sensor's log says why, without the password
    assert f"failed as the lane's previous run {first[0].run_id[:8]} did" in said, said
    assert "connection refused at mysql+pymysql://root:***@db" in said and "hunter22" not in said
    instance.add_run(dg.DagsterRun(job_name="stand_in_stock_job",
                                   status=dg.DagsterRunStatus.SUCCESS,
                                   tags={"findata/lane": "quick:stock"}))
    third = failed_run(instance)
    fire_failure_sensor(instance, *third)
    assert len(receiver.posts) == 2 and third[0].run_id in receiver.posts[1]["text"]


def test_a_failing_webhook_is_logged_and_never_raises(instance, monkeypatch, caplog):
    receiver = WebhookReceiver(status=500)
    try:
        monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
        run, event = failed_run(instance)
        fire_failure_sensor(instance, run, event)
        assert len(receiver.posts) == 1
    finally:
        receiver.close()
    # a closed port: connection refused, still no exception, and the token is not logged
    monkeypatch.setenv(alerts.WEBHOOK_ENV, "http://127.0.0.1:9/hook?access_token=tok123456")
    assert alerts.post_alert(alerts.Alert("t", ["x"])) is False
    assert "tok123456" not in caplog.text


def test_without_a_webhook_alerts_are_only_logged(monkeypatch, caplog):
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    assert alerts.post_alert(alerts.Alert("title here", ["line"])) is False
    assert "title here" in caplog.text


# --- the calendar horizon ----------------------------------------------------------------------

@pytest.fixture
def no_holidays(monkeypatch):
    monkeypatch.delenv(tc.HOLIDAYS_ENV, raising=False)
    monkeypatch.delenv(tc.HOLIDAYS_FILE_ENV, raising=False)


def test_horizon_alert_when_near_or_past_and_not_when_supplied(no_holidays, monkeypatch):
    assert sensors.horizon_alert(date(2026, 6, 1)) is None
    near = sensors.horizon_alert(date(2026, 12, 1))
    assert near and "approaching" in near.title and "2027" in " ".join(near.lines)
    past = sensors.horizon_alert(date(2027, 1, 5))
    assert past and "past its horizon" in past.title
    monkeypatch.setenv(tc.HOLIDAYS_ENV, "2027-01-01,2027-02-08")
    assert sensors.horizon_alert(date(2026, 12, 1)) is None  # next year's holidays supplied
    assert "2 operator holidays" in " ".join(sensors.horizon_alert(date(2027, 1, 5)).lines)


def test_the_tables_carry_a_calendar_check_that_warns_where_operators_look(no_holidays,
                                                                            monkeypatch):
    """The same horizon problem, as a WARN check on every table store (yellow in the catalog)."""
    from findata_assets.defs.eastmoney import checks

    key = dg.AssetKey("stock_flow")

    def calendar_check(today):
        monkeypatch.setattr(tc, "today", lambda: today)
        results = {r.check_name: r for r in checks.evaluate(key, [])}
        return results["trading_calendar_ahead"]

    fine = calendar_check(date(2026, 6, 1))
    assert fine.passed and fine.metadata["horizon"].value == tc.calendar_horizon().isoformat()
    near = calendar_check(date(2026, 12, 1))
    assert not near.passed and near.severity == dg.AssetCheckSeverity.WARN
    assert "approaching" in near.metadata["problem"].value
    assert tc.HOLIDAYS_FILE_ENV in near.metadata["what_to_do"].value
    monkeypatch.setenv(tc.HOLIDAYS_ENV, "2027-01-01,2027-02-08")
    assert calendar_check(date(2026, 12, 1)).passed  # next year's holidays supplied


def _tick(sensor, instance, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        return sensor.evaluate_tick(context)


def test_horizon_sensor_posts_once_a_day(no_holidays, instance, receiver, monkeypatch):
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    monkeypatch.setattr(tc, "today", lambda: date(2027, 1, 5))
    sensor = sensors.calendar_horizon_sensor
    first = _tick(sensor, instance)
    assert "alerted" in first.skip_message and len(receiver.posts) == 1
    assert "past its horizon" in receiver.posts[0]["markdown"]["title"]
    again = _tick(sensor, instance, first.cursor)
    assert "already alerted" in again.skip_message and len(receiver.posts) == 1
    monkeypatch.setattr(tc, "today", lambda: date(2026, 6, 1))
    quiet = _tick(sensor, instance)
    assert "known until 2026-12-31" in quiet.skip_message and len(receiver.posts) == 1


# --- on-demand policy sensor -------------------------------------------------------------------

def test_policy_sensor_runs_the_policy_tick_with_a_fresh_cycle(instance):
    sensor = sensors.build_policy_sensor(POLICIES["incremental"], name="inc_now")
    data = _tick(sensor, instance)
    assert len(data.run_requests) == 2
    cycles = {r.tags["findata/cycle"] for r in data.run_requests}
    assert len(cycles) == 1 and cycles.pop().startswith("incremental-")
    assert all(r.run_key.startswith(r.tags["findata/cycle"]) for r in data.run_requests)


def test_runs_stopped_by_the_operator_do_not_alert(instance, receiver, monkeypatch):
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    run, event = failed_run(instance)
    instance.add_run_tags(run.run_id, {sensors.STOPPED_TAG: "operator"})
    fire_failure_sensor(instance, instance.get_run_by_id(run.run_id), event)
    assert receiver.posts == []
