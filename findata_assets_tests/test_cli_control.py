"""Issue 11, items 1 and 2: one launch path for CLI runs. They carry the code location's origin
(the UI lists them), `run stop` / the UI's Terminate / one signal stop them CANCELED and end the
command, and a lane holds one run at a time. CLIs run as subprocesses against MariaDB, the S3
server and the fake API over HTTP (slowed down so there is time to stop them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from findata_assets.cli import lanes, operations
from findata_assets.cli import runs as cli_runs
from findata_assets.defs.refresh.policies import LANE_TAG, POLICY_TAG
from findata_assets.eastmoney import catalog
from findata_assets.storage.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def home(project_dagster_home):
    return project_dagster_home


@pytest.fixture
def slow_api(start_fake_eastmoney):
    """A fake that answers one request a second: a full crawl takes tens of seconds."""
    return start_fake_eastmoney(scale=0.1, frozen=True, latency_ms=1000)


@pytest.fixture
def cli_env(home, tmp_path, mysql_url, s3_env, slow_api):
    return {**os.environ, **s3_env, "DAGSTER_HOME": str(home),
            "FINDATA_HOME": str(tmp_path / "home"), "FINDATA_DATABASE_URL": mysql_url,
            "FINDATA_EASTMONEY_URL": slow_api.url, "FINDATA_EASTMONEY_CONCURRENCY": "1"}


class Cli:
    def __init__(self, env: dict, *args: str, tmp: Path) -> None:
        self.out = tmp / f"cli-{time.monotonic_ns()}.txt"
        self.proc = subprocess.Popen([sys.executable, "-m", "findata_assets.run", *args],
                                     env=env, cwd=tmp, stdout=self.out.open("w"),
                                     stderr=subprocess.STDOUT)

    def wait(self, timeout: float) -> tuple[int, str]:
        rc = self.proc.wait(timeout=timeout)
        return rc, self.out.read_text()


def _runs(instance: dg.DagsterInstance, policy: str) -> list[dg.DagsterRun]:
    """The policy's crawl runs (not the intraday run that follows each CLI cycle)."""
    return [run for run in instance.get_runs(dg.RunsFilter(tags={POLICY_TAG: policy}))
            if run.job_name != "intraday_job"]


def _wait_for_started_run(instance, policy: str, cli: Cli, api) -> dg.DagsterRun:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        started = [r for r in _runs(instance, policy) if r.status == dg.DagsterRunStatus.STARTED]
        if started and api.request_count > 0:
            return started[0]
        assert cli.proc.poll() is None, cli.out.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no {policy} run started: {cli.out.read_text()}")


def _assert_tables_untouched_or_complete(mysql_url: str, api) -> None:
    warehouse = Warehouse(mysql_url)
    try:
        for spec in catalog.ALL_TABLES:
            dates = warehouse.trade_dates(spec)
            stored = len(warehouse.read(spec, dates[-1])) if dates else 0
            assert stored in (0, len(api.expected_rows(spec))), spec.name
    finally:
        warehouse.dispose()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_the_whole_full_command(cli_env, tmp_path, slow_api, mysql_url, signum):
    cli = Cli(cli_env, "full", tmp=tmp_path)
    with dg.DagsterInstance.get() as instance:
        run = _wait_for_started_run(instance, "full", cli, slow_api)
        cli.proc.send_signal(signum)
        sent = time.monotonic()
        rc, output = cli.wait(timeout=30)
        took = time.monotonic() - sent
        runs = _runs(instance, "full")
    print(f"{signal.Signals(signum).name}: the CLI exited {took:.1f} s after the signal")
    assert took < 10, output
    assert rc == 128 + signum, output
    # the two family runs execute side by side: both stopped, no further run (the analysis)
    assert run.run_id in {r.run_id for r in runs}, output
    assert sorted(r.job_name for r in runs) == ["sector_flow_job", "stock_flow_job"], output
    assert {instance.get_run_by_id(r.run_id).status for r in runs} == {
        dg.DagsterRunStatus.CANCELED}
    name = signal.Signals(signum).name
    assert f"stopped: {name} received; 0 table(s) stored before the stop" in output
    assert "  stock_flow_raw: stopped, " in output  # the progress line says why the step ended
    assert "stock_flow_job: CANCELED" in output
    _assert_tables_untouched_or_complete(mysql_url, slow_api)


@pytest.mark.parametrize("how", ["run stop", "UI terminate"])
def test_a_cli_run_is_stopped_by_run_stop_and_by_the_ui(cli_env, tmp_path, slow_api, mysql_url,
                                                        how):
    cli = Cli(cli_env, "full", tmp=tmp_path)
    with dg.DagsterInstance.get() as instance:
        run = _wait_for_started_run(instance, "full", cli, slow_api)
        started = time.monotonic()
        if how == "run stop":
            report = operations.stop_policy(instance, "full", wait_s=15)
            assert report.ok and run.run_id in report.runs, report
            assert set(report.runs.values()) == {"CANCELED"}, report
            assert not any("could not reach" in n for n in report.notes), report.notes
        else:  # what the UI's Terminate button calls
            instance.run_coordinator.cancel_run(run.run_id)
        while instance.get_run_by_id(run.run_id).status not in FINISHED:
            assert time.monotonic() - started < 15
            time.sleep(0.2)
        took = time.monotonic() - started
        rc, output = cli.wait(timeout=30)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
        runs = _runs(instance, "full")  # the family runs side by side, both stopped, no analysis
        assert sorted(r.job_name for r in runs) == ["sector_flow_job", "stock_flow_job"], output
        assert {r.status for r in runs} == {dg.DagsterRunStatus.CANCELED}, output
    print(f"{how}: CANCELED {took:.1f} s after the request")
    who = "by `run stop`" if how == "run stop" else "from the UI or by the daemon's run monitoring"
    assert rc == 1 and f"was terminated {who}" in output, output
    assert "Traceback" not in output and " ERROR " not in output, output  # a stop is no crash
    [line] = [x for x in output.splitlines() if x.startswith("stopped: ")]
    assert "table(s) stored before the stop" in line
    _assert_tables_untouched_or_complete(mysql_url, slow_api)


def test_a_second_cli_in_the_same_lane_is_refused_naming_the_first(cli_env, tmp_path, slow_api):
    first = Cli(cli_env, "quick", tmp=tmp_path)
    with dg.DagsterInstance.get() as instance:
        _wait_for_started_run(instance, "quick", first, slow_api)
        second = Cli(cli_env, "quick", tmp=tmp_path)
        rc, output = second.wait(timeout=60)
        assert rc == 3, output
        line = [x for x in output.splitlines() if x.startswith("error:")]
        assert line == [f"error: lane quick:stock is busy with the CLI pid {first.proc.pid} on "
                        f"{os.uname().nodename} (since {line[0].split('(since ')[1]}"], output
        assert "stop quick" in line[0]
        rc, output = first.wait(timeout=90)
        assert rc == 0, output
        assert [r.status for r in _runs(instance, "quick")] == [dg.DagsterRunStatus.SUCCESS]


def test_a_lane_held_by_a_daemon_run_is_refused_and_a_dead_clis_run_is_cleared(home):
    with dg.DagsterInstance.get() as instance:
        job = dg.GraphDefinition("noop").to_job()

        def started(tags):
            run = instance.create_run_for_job(job, tags=tags)
            instance.handle_run_event(run.run_id, dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name))
            return run

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        orphan = started({LANE_TAG: "quick:stock", **cli_runs.cli_tags(pid=dead.pid)})
        with lanes.hold(instance, ["quick:stock"], "quick"):
            pass  # the dead CLI's run does not hold the lane...
        assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
        daemon_run = started({LANE_TAG: "quick:stock"})
        with pytest.raises(lanes.LaneBusy, match=f"busy with run {daemon_run.run_id} "
                                                 r"\(STARTED\)"):
            with lanes.hold(instance, ["quick:stock"], "quick"):
                pass


def test_cli_runs_carry_the_code_location_origin_the_ui_lists_them_by(cli_env, tmp_path):
    rc, output = Cli(cli_env, "quick", tmp=tmp_path).wait(timeout=120)
    assert rc == 0, output
    with dg.DagsterInstance.get() as instance:
        [run] = _runs(instance, "quick")
        origin = run.remote_job_origin
        assert origin.location_name == "findata" and origin.job_name == "stock_flow_job"
        assert origin.repository_origin.repository_name == "__repository__"
        assert run.job_code_origin.repository_origin.code_pointer.module == \
            "findata_assets.definitions"
        # the UI's job page lists a job's runs by this filter (dagster_graphql, RemoteJob.runs)
        listed = instance.get_runs(dg.RunsFilter(
            job_name="stock_flow_job", tags={REPOSITORY_LABEL_TAG: "__repository__@findata"}))
        assert [r.run_id for r in listed] == [run.run_id]
    # the name the origin carries is the one workspace.yaml and the helm chart give the location
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["location_name"] == cli_runs.LOCATION_NAME
    helm = yaml.safe_load((REPO / "helm" / "values-dagster.yaml").read_text())
    names = [d["name"] for d in helm["dagster-user-deployments"]["deployments"]]
    assert names == [cli_runs.LOCATION_NAME]


def test_the_default_output_of_full_is_short_and_verbose_brings_dagsters_events(
        cli_env, tmp_path, start_fake_eastmoney):
    fast = start_fake_eastmoney(scale=0.1, frozen=True)
    env = {**cli_env, "FINDATA_EASTMONEY_URL": fast.url, "FINDATA_EASTMONEY_CONCURRENCY": "4"}
    rc, output = Cli(env, "full", tmp=tmp_path).wait(timeout=180)
    lines = output.splitlines()
    print(f"full, default output: {len(lines)} lines")
    assert rc == 0, output
    assert len(lines) <= 65 and not [x for x in lines if " - DEBUG - " in x], output
    assert "run " in lines[0] or any(x.endswith(": started") for x in lines)
    assert any(x.startswith("  stock_flow: done, 32 partition(s), ") for x in lines), output
    [summary] = [x for x in lines if x.startswith("full: 41 tables, ")]
    with dg.DagsterInstance.get() as instance:  # `run status`: first run's start to last's end
        [cycle] = operations.policy_cycles(instance, "full")
    wall = float(summary.rsplit(" in ", 1)[1].removesuffix(" s"))  # the CLI's own, start-up included
    assert 0 < cycle.seconds <= wall and cycle.tables == 41
    rc, output = Cli(env, "quick", "--verbose", tmp=tmp_path).wait(timeout=120)
    assert rc == 0 and " - DEBUG - " in output and "STEP_SUCCESS" in output, output


def test_the_ui_lists_cli_runs_under_the_locations_job(cli_env, tmp_path, start_fake_eastmoney):
    """What the UI's job page asks the webserver (GraphQL), against a real dagster-webserver."""
    import httpx

    from findata_assets_tests.ports import pick_ports, wait_for_port

    fast = start_fake_eastmoney(scale=0.1, frozen=True)
    env = {**cli_env, "FINDATA_EASTMONEY_URL": fast.url}
    rc, output = Cli(env, "quick", tmp=tmp_path).wait(timeout=120)
    assert rc == 0, output
    [port] = pick_ports(1)
    web = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-w",
                            str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                           env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, 120)
        query = ('{ pipelineOrError(params: {repositoryLocationName: "findata", '
                 'repositoryName: "__repository__", pipelineName: "stock_flow_job"}) '
                 '{ ... on Pipeline { runs(limit: 5) { runId status } } } }')
        deadline = time.monotonic() + 60
        while True:  # the location loads after the port opens
            body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query},
                              timeout=30).json()
            runs = (body.get("data") or {}).get("pipelineOrError") or {}
            if "runs" in runs or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        web.terminate()
        web.wait(timeout=30)
    with dg.DagsterInstance.get() as instance:
        [run] = _runs(instance, "quick")
    assert runs.get("runs") == [{"runId": run.run_id, "status": "SUCCESS"}], body


def test_a_run_stopped_elsewhere_marks_every_run_of_the_command_before_the_stop_is_requested(
        tmp_path, monkeypatch):
    """The UI terminates one of a command's side-by-side runs: in the same look every run of the
    command is marked CANCELING before the process-wide stop wakes their steps, so each ends
    CANCELED, not FAILURE (a run still STARTED when its step fails is a failure)."""
    from findata_assets import cancellation
    from findata_assets.cli.control import StopControl

    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    stopped, sibling = (instance.add_run(dg.DagsterRun(job_name="stock_flow_job",
                                                       status=dg.DagsterRunStatus.STARTED))
                        for _ in range(2))
    control = StopControl(instance)
    control._run_ids.update({stopped.run_id, sibling.run_id})
    control._look()  # nothing marked: nothing happens
    assert not cancellation.requested() and control.stop_reason is None
    instance.report_run_canceling(stopped)  # what the UI's Terminate does
    seen = []
    monkeypatch.setattr(cancellation, "request", lambda reason: seen.append(
        instance.get_run_by_id(sibling.run_id).status))
    control._look()
    assert "terminated from the UI" in control.stop_reason
    assert seen == [dg.DagsterRunStatus.CANCELING]  # marked before the stop was requested
