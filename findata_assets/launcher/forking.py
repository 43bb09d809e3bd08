"""A run launcher for one machine that starts a run in milliseconds, not seconds.

Dagster's default launcher asks the code server to start a new interpreter per run, which
imports Dagster and findata again (3-4 s here before the first step). This one keeps a warm
worker process (warm_process.py) that has imported and built the code location once, and forks
a run worker from it per run. Everything else is Dagster's: the run executes as in its own run
worker (run_worker.py), the queue and its limits (the lanes) are the run coordinator's, run
retries follow the run's failure event.

What the default launcher's code server did, this launcher does too:
- a worker that dies without ending its run (killed, out of memory) fails the run at once, with
  its exit code, so run retries take over; run monitoring checks the worker by its pid and start
  time as well (supports_check_run_worker_health), for a worker whose warm process is gone;
- Terminate (UI, `run stop`) interrupts the worker by signal, as Ctrl-C would, from any process
  on the same host (the worker is named in the run's `findata/run_worker` tag);
- a changed code location (any .py file of its package) is replaced before the next run, so
  runs never execute stale code; a warm worker older than `max_age_seconds` (its settings and
  partitions read at load) forks one more run and is replaced right after, so no run waits for
  the replacement to load; past twice that age (an idle night) it is replaced before the run.
The first run after the daemon starts (or after a code change) waits for the warm worker to
load (2-3 s, less than a new interpreter takes). A run starts through the code server
(DefaultRunLauncher) when the warm worker does not get ready within `ready_timeout_seconds` or
cannot load the location, when the run's code is not one of `preload_modules`, or where fork is
not safe (not Linux).
On Kubernetes, helm/instance keeps K8sRunLauncher: a pod per run.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any, Mapping, Optional

import dagster as dg
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster._utils import get_run_crash_explanation

from findata_assets.launcher.warm_handle import (
    LaunchRefused, LaunchUnanswered, WarmHandle, code_fingerprint, exit_code)
from findata_assets.launcher.worker_identity import WORKER_TAG, WorkerIdentity, this_host

log = logging.getLogger(__name__)
DEFAULT_PRELOAD = ["findata_assets.definitions:defs"]


class ForkingRunLauncher(DefaultRunLauncher):
    def __init__(self, inst_data: Optional[ConfigurableClassData] = None,
                 preload_modules: Optional[list[str]] = None,
                 preload_imports: Optional[list[str]] = None,
                 preload_calls: Optional[list[str]] = None, max_age_seconds: int = 3600,
                 fork_timeout_seconds: int = 30, ready_timeout_seconds: int = 60):
        super().__init__(inst_data=inst_data)
        self.preload_modules = list(preload_modules or DEFAULT_PRELOAD)
        self.preload_imports = list(preload_imports or [])
        self.preload_calls = list(preload_calls or [])
        self.max_age_seconds = max_age_seconds
        self.fork_timeout_seconds = fork_timeout_seconds
        self.ready_timeout_seconds = ready_timeout_seconds
        self._warm: Optional[WarmHandle] = None
        self._lock = threading.Lock()

    @classmethod
    def config_type(cls):
        return {
            "preload_modules": dg.Field([str], is_required=False, default_value=DEFAULT_PRELOAD,
                                        description="module:attribute of each code location "
                                                    "the warm worker loads"),
            "preload_imports": dg.Field([str], is_required=False, default_value=[],
                                        description="modules the runs import lazily, imported "
                                                    "once by the warm worker"),
            "preload_calls": dg.Field([str], is_required=False, default_value=[],
                                      description="module:function called once by the warm "
                                                  "worker, to build what every run builds"),
            "max_age_seconds": dg.Field(int, is_required=False, default_value=3600),
            "fork_timeout_seconds": dg.Field(int, is_required=False, default_value=30),
            "ready_timeout_seconds": dg.Field(int, is_required=False, default_value=60,
                                              description="how long a run waits for a loading "
                                                          "warm worker before the code server "
                                                          "starts it"),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    # -- launching ---------------------------------------------------------------------------

    def launch_run(self, context) -> None:
        run = context.dagster_run
        warm = self._warm_worker_for(run)
        if warm is None:
            return super().launch_run(context)
        try:
            started = warm.launch(run.run_id, serialize_value(self._instance.get_ref()),
                                  self.fork_timeout_seconds)
        except LaunchRefused as exc:  # nothing was forked: the code server starts it
            log.warning("findata: %s; run %s starts through the code server", exc, run.run_id)
            return super().launch_run(context)
        except LaunchUnanswered as exc:  # it may run: failing the launch, not a second start
            with self._lock:
                if self._warm is warm:
                    self._retire()
            raise DagsterLaunchFailedError(f"{exc}; the run may have started and is failed "
                                           f"rather than started twice") from exc
        identity = WorkerIdentity(this_host(), started.pid, started.start_ticks or -1,
                                  started.warm_pid)
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: identity.to_tag()})
        self._run_ids.add(run.run_id)
        try:  # the run is forked and named: nothing here may fail its launch
            self._replace_if_aged(warm)
        except Exception:  # noqa: BLE001 - the next run starts a replacement again
            log.exception("findata: could not start the aged warm worker's replacement")

    def _warm_worker_for(self, run: dg.DagsterRun) -> Optional[WarmHandle]:
        """The warm worker that can fork this run now, or None (then: the code server); starts
        or replaces the warm worker for the runs after this one."""
        if not self._runs_here(run):
            return None
        with self._lock:
            warm = self._warm
            changed = warm is not None and self._code_changed(warm)  # a walk of the package
            if warm is not None and warm.failure and not changed:
                return None  # it could not load this code: not again until the code changes
            if warm is not None and not warm.ready.is_set() and \
                    warm.age_s() > self.ready_timeout_seconds:
                return None  # loading for too long: the code server starts runs meanwhile
            if warm is not None and (warm.gone.is_set() or changed or self._too_old(warm) or
                                     (self._aged(warm) and not warm.usable())):
                self._retire()
                warm = None
            if warm is None:
                warm = self._start_warm()
        # a loading warm worker is ready in 2-3 s; a run through the code server meanwhile would
        # take longer (a new interpreter, on the same cores the warm worker loads on)
        warm.wait_ready(self.ready_timeout_seconds)
        return warm if warm.usable() else None

    def _runs_here(self, run: dg.DagsterRun) -> bool:
        if not sys.platform.startswith("linux") or run.job_code_origin is None:
            return False
        origin = run.job_code_origin.repository_origin
        module = getattr(origin.code_pointer, "module", None)
        attribute = getattr(origin.code_pointer, "fn_name", None) or "defs"
        same_python = os.path.realpath(origin.executable_path or "") == \
            os.path.realpath(sys.executable)
        return same_python and f"{module}:{attribute}" in self.preload_modules

    def _start_warm(self) -> WarmHandle:
        self._warm = WarmHandle(self.preload_modules, on_exit=self._worker_exited,
                                imports=self.preload_imports, calls=self.preload_calls)
        return self._warm

    def _code_changed(self, warm: WarmHandle) -> bool:
        return warm.fingerprint != code_fingerprint(self.preload_modules)

    def _aged(self, warm: WarmHandle) -> bool:
        return warm.age_s() > self.max_age_seconds

    def _too_old(self, warm: WarmHandle) -> bool:
        """Aged past twice max_age (an idle night): its settings, holidays and partitions start
        were read too long ago for even one more run; replaced before it."""
        return warm.age_s() > 2 * self.max_age_seconds

    def _replace_if_aged(self, warm: WarmHandle) -> None:
        """An old warm worker with current code forks this run, then makes way: its
        replacement loads now, for the next run, so no run waits for it (a changed code
        location is replaced before the run instead: no run executes stale code)."""
        with self._lock:
            if self._warm is warm and self._aged(warm):
                self._retire()
                self._start_warm()

    def _retire(self) -> None:
        if self._warm is not None:
            self._warm.retire()
            self._warm = None

    def _worker_exited(self, run_id: str, pid: int, status: int) -> None:
        """A forked worker ended: a run it left unfinished fails now (as the code server fails
        the run of a subprocess that died), so run retries can start another."""
        with dg.DagsterInstance.from_ref(self._instance.get_ref()) as instance:
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                return
            message = get_run_crash_explanation(
                prefix=f"Run worker (pid {pid}, forked) for {run_id}", exit_code=exit_code(status))
            if run.status == dg.DagsterRunStatus.CANCELING:  # stopped before it could say so
                instance.report_run_canceled(run, message=message)
                return
            instance.report_engine_event(message, run, cls=self.__class__)
            instance.report_run_failed(run)

    # -- watching and stopping -----------------------------------------------------------------

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = WorkerIdentity.from_tags(run.tags)
        if worker is None:  # started through the code server, which watches its subprocess
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker of the code server")
        if not worker.on_this_host():
            return CheckRunHealthResult(WorkerStatus.RUNNING,
                                        f"run worker on {worker.host}: not checked from here")
        if worker.alive():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {worker.pid}")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker pid {worker.pid} is gone and left the run unfinished")

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        worker = WorkerIdentity.from_tags(run.tags) if run else None
        if worker is None:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        if not worker.on_this_host():
            self._instance.report_engine_event(
                f"Cannot interrupt run worker pid {worker.pid}: it runs on {worker.host}.", run,
                cls=self.__class__)
            return False
        if not worker.alive():  # gone already: nothing will end the run but us
            self._instance.report_run_canceled(
                run, message=f"Run worker pid {worker.pid} was gone; the run is canceled.")
            return True
        os.kill(worker.pid, signal.SIGINT)  # Dagster's interrupt, as the code server sends
        return True

    def dispose(self) -> None:
        with self._lock:
            if self._warm is not None:  # the daemon is stopping: the warm worker goes now
                self._warm.close()
                self._warm = None
        super().dispose()
