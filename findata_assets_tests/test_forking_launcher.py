"""The forking run launcher (findata_assets/launcher) on a real `dagster-daemon`: runs start as
workers forked from a warm process, and keep what Dagster's default launcher gives: a worker that
dies fails its run at once and run retries start another, Terminate from another process cancels
the run, a changed code location is not run from the stale warm process, and a location the warm
process does not hold starts through its code server.

A small code location of its own (a job whose step records its pid and holds while a file
exists), so each run takes a fraction of a second; the project's dagster.yaml with its
`preload_modules` pointed at it. test_daemon_e2e runs the findata location on the same launcher.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.launcher import WorkerStatus

from findata_assets.launcher.forking import ForkingRunLauncher
from findata_assets.launcher.worker_identity import WORKER_TAG, WorkerIdentity, start_ticks, this_host
from findata_assets_tests.test_daemon_e2e import Daemon, wait_for

pytestmark = [pytest.mark.xdist_group("test_forking_launcher.py"),  # one module fixture
              pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")]

REPO = Path(__file__).resolve().parents[1]

CODE = '''
import os
import time
from pathlib import Path

import dagster as dg

OUT = Path(os.environ["WARM_OUT"])
TRIGGERS = Path(os.environ["WARM_TRIGGERS"])


@dg.op
def work(context):
    (OUT / f"{context.run_id}.pid").write_text(f"{os.getpid()} {os.getppid()}")
    print(f"stdout of step work in {os.getpid()}", flush=True)
    deadline = time.monotonic() + 120
    while (OUT / "hold").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@dg.job(tags={"test/location": "{name}"})
def {name}_job():
    work()


@dg.sensor(job={name}_job, minimum_interval_seconds=1,
           default_status=dg.DefaultSensorStatus.RUNNING)
def {name}_trigger(context):
    for trigger in sorted(TRIGGERS.glob("{name}.*")):
        yield dg.RunRequest(run_key=trigger.name, tags={{"test/trigger": trigger.name}})


defs = dg.Definitions(jobs=[{name}_job], sensors=[{name}_trigger],
                      executor=dg.in_process_executor)
'''

WORKSPACE = '''
load_from:
  - python_module: {{module_name: warm_defs, attribute: defs, working_directory: {dir}}}
  - python_module: {{module_name: other_defs, attribute: defs, working_directory: {dir}}}
'''


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("forking")
    home, code, out, triggers = (root / n for n in ("home", "code", "out", "triggers"))
    for d in (home, code, out, triggers):
        d.mkdir()
    for name in ("warm", "other"):
        (code / f"{name}_defs.py").write_text(CODE.replace("{name}", name)
                                              .replace("{{", "{").replace("}}", "}"))
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["run_launcher"]["class"] == "ForkingRunLauncher"  # what production runs
    config["run_launcher"]["config"]["preload_modules"] = ["warm_defs:defs"]
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (home / "workspace.yaml").write_text(WORKSPACE.format(dir=code))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINDATA_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(home), "WARM_OUT": str(out), "WARM_TRIGGERS": str(triggers),
                "PYTHONPATH": os.pathsep.join([str(code), str(REPO)])})
    daemon = Daemon(home, env, root / "daemon.log")
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.from_config(str(home))
    ns = type("Stack", (), dict(home=home, code=code, out=out, triggers=triggers, daemon=daemon,
                                instance=instance))
    try:
        yield ns
    finally:
        (out / "hold").unlink(missing_ok=True)
        daemon.stop()
        instance.dispose()
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


def _trigger(stack, name: str) -> str:
    (stack.triggers / name).touch()
    return name


def _run(stack, trigger: str, timeout: float = 90) -> dg.DagsterRun:
    def find():
        runs = stack.instance.get_runs(dg.RunsFilter(tags={"test/trigger": trigger}))
        return runs[0] if runs else None
    return wait_for(find, timeout, f"the run of trigger {trigger}", stack.daemon)


def _finished(stack, run_id: str, timeout: float = 90) -> dg.DagsterRun:
    def done():
        run = stack.instance.get_run_by_id(run_id)
        return run if run.is_finished else None
    return wait_for(done, timeout, f"run {run_id} to finish", stack.daemon)


def _step_pids(stack, run_id: str, timeout: float = 60) -> tuple[int, int]:
    path = stack.out / f"{run_id}.pid"
    wait_for(path.exists, timeout, f"the step of run {run_id}", stack.daemon)
    pid, parent = path.read_text().split()
    return int(pid), int(parent)


def _messages(stack, run_id: str) -> list[str]:
    return [e.message or "" for e in stack.instance.all_logs(run_id)]


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_runs_after_the_first_are_forked_from_one_warm_worker(stack):
    runs = []
    for i in range(4):
        run = _finished(stack, _run(stack, _trigger(stack, f"warm.first-{i}")).run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS, _messages(stack, run.run_id)
        runs.append(stack.instance.get_run_by_id(run.run_id))
    # the first run starts the warm worker and waits for it to load
    forked = [r for r in runs if WORKER_TAG in r.tags]
    print({r.run_id[:8]: r.tags.get(WORKER_TAG) for r in runs})
    assert forked == runs, "a run was not forked"
    identities = [WorkerIdentity.from_tags(r.tags) for r in forked]
    warm_pids = {w.forked_from for w in identities}
    assert len(warm_pids) == 1, identities  # one warm process serves them all
    warm_pid = warm_pids.pop()
    assert _parent_of(warm_pid) == stack.daemon.proc.pid  # the daemon's child, not a code server
    for run, worker in zip(forked, identities):
        assert _step_pids(stack, run.run_id) == (worker.pid, warm_pid)  # the step ran in the fork
        assert not worker.alive()  # it ended with its run, and was reaped
        assert any("forked from the warm worker" in m for m in _messages(stack, run.run_id))
        # the step's stdout is captured for the UI, as in any run worker
        logs = list((stack.home / "storage" / run.run_id / "compute_logs").glob("*.out"))
        assert any(f"stdout of step work in {worker.pid}" in p.read_text() for p in logs), logs


def test_a_location_the_warm_worker_does_not_hold_starts_through_its_code_server(stack):
    run = _finished(stack, _run(stack, _trigger(stack, "other.1")).run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert WORKER_TAG not in run.tags
    pid, parent = _step_pids(stack, run.run_id)
    assert parent != stack.daemon.proc.pid  # a subprocess of the code server


def test_a_killed_worker_fails_its_run_at_once_and_run_retries_start_another(stack):
    _warm_up(stack)
    hold = stack.out / "hold"
    hold.touch()
    run = _run(stack, _trigger(stack, "warm.killed"))
    pid, _ = _step_pids(stack, run.run_id)
    assert WorkerIdentity.from_tags(stack.instance.get_run_by_id(run.run_id).tags).pid == pid
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = _finished(stack, run.run_id, timeout=30)
    noticed = time.monotonic() - killed_at
    print(f"failed {noticed:.1f} s after SIGKILL")
    assert failed.status == dg.DagsterRunStatus.FAILURE
    crash = [m for m in _messages(stack, run.run_id) if f"Run worker (pid {pid}, forked)" in m]
    assert crash and "SIGKILL" in crash[0], _messages(stack, run.run_id)
    assert noticed < 15  # not the 30 s monitoring poll: the warm process reports the death
    hold.unlink()
    retry = wait_for(lambda: stack.instance.get_runs(dg.RunsFilter(
        tags={"dagster/parent_run_id": run.run_id})), 90, "the retry run", stack.daemon)[0]
    retry = _finished(stack, retry.run_id)
    assert retry.status == dg.DagsterRunStatus.SUCCESS, _messages(stack, retry.run_id)


def test_terminate_from_another_process_cancels_the_forked_run(stack):
    _warm_up(stack)
    hold = stack.out / "hold"
    hold.touch()
    try:
        run = _run(stack, _trigger(stack, "warm.terminated"))
        pid, _ = _step_pids(stack, run.run_id)
        launcher = stack.instance.run_launcher  # this test process: no warm worker of its own
        assert isinstance(launcher, ForkingRunLauncher)
        assert launcher.terminate(run.run_id)
        canceled = _finished(stack, run.run_id, timeout=30)
    finally:
        hold.unlink(missing_ok=True)
    assert canceled.status == dg.DagsterRunStatus.CANCELED, _messages(stack, run.run_id)
    wait_for(lambda: start_ticks(pid) is None, 15, "the worker to exit")
    # a terminate of a finished run does nothing, and says so by returning False
    assert not launcher.terminate(run.run_id)


def test_a_code_change_is_not_run_from_the_stale_warm_worker(stack):
    before = _warm_up(stack)
    source = stack.code / "warm_defs.py"
    source.write_text(source.read_text() + "\n# edited\n")
    after_edit = _finished(stack, _run(stack, _trigger(stack, "warm.edited")).run_id)
    assert after_edit.status == dg.DagsterRunStatus.SUCCESS
    fresh = WorkerIdentity.from_tags(after_edit.tags).forked_from  # from a new warm worker
    assert fresh != before
    assert _warm_up(stack) == fresh  # which serves the runs after it
    wait_for(lambda: start_ticks(before) is None, 15, "the stale warm worker to exit")


def _warm_up(stack) -> int:
    """Runs until one is forked; the pid of the warm process that forked it."""
    for i in range(6):
        trigger = _trigger(stack, f"warm.warm-{time.monotonic_ns()}-{i}")
        run = _finished(stack, _run(stack, trigger).run_id)
        worker = WorkerIdentity.from_tags(run.tags)
        if worker:
            return worker.forked_from
        time.sleep(1)
    raise AssertionError("no run was forked")


def test_health_of_a_worker_is_its_pid_and_start_time(stack):
    launcher = stack.instance.run_launcher
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ticks = start_ticks(sleeper.pid)
        live = WorkerIdentity(this_host(), sleeper.pid, ticks, os.getpid())
        reused = WorkerIdentity(live.host, sleeper.pid, ticks - 1, os.getpid())  # pid reused
        elsewhere = WorkerIdentity("another-host", sleeper.pid, ticks - 1, os.getpid())

        def health(identity):
            run = dg.DagsterRun(job_name="warm_job", tags={WORKER_TAG: identity.to_tag()})
            return launcher.check_run_worker_health(run).status

        assert health(live) == WorkerStatus.RUNNING
        assert health(reused) == WorkerStatus.FAILED
        assert health(elsewhere) == WorkerStatus.RUNNING  # not ours to judge
        sleeper.kill()
        sleeper.wait()
        assert health(live) == WorkerStatus.FAILED
        no_tag = dg.DagsterRun(job_name="warm_job")
        assert launcher.check_run_worker_health(no_tag).status == \
            WorkerStatus.RUNNING  # the code server's subprocess
        assert json.loads(live.to_tag())["pid"] == sleeper.pid
    finally:
        sleeper.kill()


def test_a_warm_worker_that_cannot_load_says_which_entry_in_one_line(tmp_path):
    from findata_assets.launcher.warm_handle import WarmHandle

    warm = WarmHandle(["no_such_module_here:defs"], on_exit=lambda *_: None)
    try:
        warm.wait_ready(120)
        assert not warm.usable()
        assert "preload_modules entry 'no_such_module_here:defs'" in warm.failure
        assert "no_such_module_here" in warm.failure and "\n" not in warm.failure
    finally:
        warm.close()


def test_an_aged_warm_worker_forks_the_next_run_then_makes_way(monkeypatch):
    """Age alone (settings and partitions read at load) is not worth a run's wait: the old warm
    worker forks the run, its replacement loads meanwhile for the next one. A changed code
    location is replaced before the run (the daemon test above)."""
    import threading

    from findata_assets.launcher import forking

    class Handle:  # the decisions only; the real warm process is the stack's, above
        made: list = []

        def __init__(self, *args, **kwargs):
            self.began, self.retired, self.failure = time.monotonic(), False, None
            self.fingerprint = "code-1"
            self.ready, self.gone = threading.Event(), threading.Event()
            self.ready.set()
            Handle.made.append(self)

        def age_s(self):
            return time.monotonic() - self.began

        def wait_ready(self, timeout_s):
            pass

        def usable(self):
            return self.ready.is_set() and not self.retired

        def retire(self):
            self.retired = True

    monkeypatch.setattr(forking, "WarmHandle", Handle)
    monkeypatch.setattr(forking, "code_fingerprint", lambda modules: "code-1")
    launcher = ForkingRunLauncher(max_age_seconds=3600)
    monkeypatch.setattr(launcher, "_runs_here", lambda run: True)
    first = launcher._warm_worker_for(None)
    assert first is Handle.made[0] and launcher._warm_worker_for(None) is first
    first.began -= 3601  # an hour old
    assert launcher._warm_worker_for(None) is first  # forks this run: nobody waits
    launcher._replace_if_aged(first)  # what launch_run does once it forked
    assert first.retired and len(Handle.made) == 2
    assert launcher._warm_worker_for(None) is Handle.made[1]  # the next run: the new one
    monkeypatch.setattr(forking, "code_fingerprint", lambda modules: "code-2")
    assert launcher._warm_worker_for(None) is Handle.made[2]  # changed code: replaced first
    assert Handle.made[1].retired
    monkeypatch.setattr(forking, "code_fingerprint", lambda modules: "code-1")
    Handle.made[2].began -= 7201  # past twice max_age (an idle night): replaced first too
    assert launcher._warm_worker_for(None) is Handle.made[3] and Handle.made[2].retired
