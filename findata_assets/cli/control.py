"""Keeping a CLI command in the operator's control: stop requests and signals.

The CLI executes its runs in its own process (a run worker per run would cost seconds), so there
is no run worker that `run stop`, the UI's Terminate or the daemon could signal. Instead:

- each run executes in a worker thread (`execute`, or `execute_all` for runs side by side), and
  the main thread keeps SIGINT and SIGTERM: Dagster swaps those handlers only when it executes
  in the main thread;
- a watcher thread polls the run's status: `run stop`, the UI and the daemon's run monitoring
  all mark a run CANCELING (the default run launcher does so before it looks for a run worker);
- on a signal or CANCELING the watcher marks the run CANCELING (if it is not yet) and then sets
  the process-wide stop request (findata_assets.cancellation), which the client checks between
  pages and the warehouse between tables. The step fails, Dagster sees the run CANCELING and
  ends it CANCELED; every table is stored in full or untouched; the command starts no further run.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Callable, TypeVar

import dagster as dg

from findata_assets import cancellation
from findata_assets.defs.refresh.sensors import STOPPED_TAG

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.2
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's 128 + signal number
T = TypeVar("T")


class StopControl:
    """The stop requests of one CLI command; `stop_reason` is set once one arrived."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.stop_reason: str | None = None
        self.signum: int | None = None
        self._run_ids: set[str] = set()  # the runs executing now
        self._stopped_runs: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="findata-stop")
        self._handlers: dict[int, object] = {}

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 1)

    def __enter__(self) -> "StopControl":
        cancellation.clear()
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._handlers[signum] = signal.signal(signum, self._on_signal)
        self._watcher.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._wake.set()
        self._watcher.join(timeout=10)  # a storage call that hangs must not hang the exit
        self._restore_handlers()
        cancellation.clear()

    def _restore_handlers(self) -> None:
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers = {}

    def execute(self, run_id: str, work: Callable[[], T]) -> T:
        """`work()` (the run `run_id`) in a worker thread; the main thread stays free for
        signals. Returns its result or raises its exception."""
        [outcome] = self.execute_all([(run_id, work)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def execute_all(self, runs: list[tuple[str, Callable[[], T]]]) -> list[T | BaseException]:
        """Each `work()` (the run `run_id`) in a worker thread of its own, side by side; the main
        thread waits, free for signals. Returns each result, or the exception it raised."""
        outcomes: dict[str, object] = {}

        def target(run_id: str, work: Callable[[], T]) -> None:
            try:
                outcomes[run_id] = work()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                outcomes[run_id] = exc

        with self._lock:
            self._run_ids.update(run_id for run_id, _ in runs)
        self._wake.set()  # a stop that came in before the runs started applies to them
        workers = [threading.Thread(target=target, args=(run_id, work),
                                    name=f"findata-run-{run_id[:8]}") for run_id, work in runs]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(POLL_S)  # wakes for signal handlers
        finally:
            with self._lock:
                self._run_ids.difference_update(run_id for run_id, _ in runs)
        for run_id, _ in runs:
            if not isinstance(outcomes[run_id], BaseException):
                self._undo_late_canceling(run_id, outcomes[run_id])
        return [outcomes[run_id] for run_id, _ in runs]

    def _undo_late_canceling(self, run_id: str, result) -> None:
        """A stop that came in as the run succeeded may have marked the finished run CANCELING
        (the watcher read STARTED just before RUN_SUCCESS): put back what happened."""
        run = self.instance.get_run_by_id(run_id)
        if getattr(result, "success", False) and run and \
                run.status == dg.DagsterRunStatus.CANCELING:
            self.instance.handle_run_event(run_id, dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name))

    # -- requests ----------------------------------------------------------------------------
    def request_stop(self, reason: str, signum: int | None = None) -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason, self.signum = reason, signum
        self._wake.set()

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.stop_reason:  # the second signal: the next one acts at once, as by default
            print(f"{name}: already stopping ({self.stop_reason}); the current run ends at its "
                  "next safe point. Once more to abort at once.", file=sys.stderr)
            self._restore_handlers()
            return
        self.request_stop(f"{name} received", signum)

    # -- the watcher -------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                self._look()
            except Exception as exc:  # noqa: BLE001 - a storage hiccup must not end the watch
                log.warning("stop watcher: %s: %s (trying again)", type(exc).__name__, exc)

    def _look(self) -> None:
        """One look: a new stop request, or a run someone else marked CANCELING."""
        with self._lock:
            run_ids = sorted(self._run_ids - self._stopped_runs)
        if not run_ids:
            return
        if self.stop_reason is None and not self.instance.get_run_ids(dg.RunsFilter(
                run_ids=run_ids, statuses=[dg.DagsterRunStatus.CANCELING,
                                           dg.DagsterRunStatus.CANCELED]), limit=1):
            # five times a second, nothing to do: one indexed query, no run deserialized
            # (reading whole runs took ~10% of a core). Once a run is marked, every run of the
            # command is read below, so all are marked CANCELING before the stop is requested.
            return
        runs = [run for run in map(self.instance.get_run_by_id, run_ids)
                if run is not None and run.status != dg.DagsterRunStatus.NOT_STARTED]
        for run in runs:  # not started yet: looked at again at the next poll
            if self.stop_reason is None and run.status in (dg.DagsterRunStatus.CANCELING,
                                                           dg.DagsterRunStatus.CANCELED):
                who = ("by `run stop`" if run.tags.get(STOPPED_TAG) else
                       "from the UI or by the daemon's run monitoring")
                self.request_stop(f"run {run.run_id[:8]} was terminated {who}")
        reason = self.stop_reason
        if reason is None:
            return
        for run in runs:  # the process-wide stop ends every run of the command
            if run.status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
                # CANCELING before the work fails: Dagster then ends the run CANCELED
                self.instance.report_run_canceling(run, message=f"stopping: {reason}")
            self._stopped_runs.add(run.run_id)
        if runs:
            cancellation.request(reason)
