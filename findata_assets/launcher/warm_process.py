"""The warm worker: a process that imports Dagster and the code location once, then forks a
run worker per run (gunicorn's --preload, Dagster's forkserver with preload_modules).

    python -m findata_assets.launcher.warm_process --control-fd N --preload MODULE[:ATTR] ...
        [--import MODULE ...] [--call MODULE:FUNCTION ...]

The launcher (forking.py) owns the other end of the control socket and speaks JSON lines:
    -> {"op": "launch", "run_id": ..., "instance_ref": ...}
    <- {"event": "ready", "pid": ..., "seconds": ..., "threads": ...}
    <- {"event": "started", "run_id": ..., "pid": ..., "start_ticks": ...}
    <- {"event": "exited", "run_id": ..., "pid": ..., "status": <waitpid status>}
    <- {"event": "refused", "run_id": ..., "reason": ...}
    -> {"op": "retire"}: fork no more; report the running workers' ends, then exit
The process stays single-threaded so that forking it is safe; it holds no database connection
(the location builds its clients lazily, and the build closes what it read). It ends when the
launcher closes the socket (the daemon is gone: the runs it forked go on and end on their own).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import threading
import time

from findata_assets.launcher import control as control_lines
from findata_assets.launcher import run_worker  # with Dagster's execution machinery, once
from findata_assets.launcher.worker_identity import start_ticks

REAP_INTERVAL_S = 0.2  # how soon a worker's death is reported (and its run failed)


# What every run worker imports after the code location, whatever the location: the instance
# and its storage, compute logs, the executor (from FINDATA_WARM_REPORT_IMPORTS)
RUN_WORKER_IMPORTS = (
    "dagster._core.instance.factory", "dagster._core.storage.root",
    "dagster._core.storage.local_compute_log_manager", "dagster._core.storage.migration.utils",
    "dagster._core.executor.in_process", "dagster._core.execution.plan.active",
    "dagster._core.secrets.env_file", "dagster._core.system_config.composite_descent",
    "multiprocessing", "watchdog.observers")


def warm(preload: list[str], imports: list[str], calls: list[str] = ()) -> list[str]:
    """Import and build each code location the way the run worker will load it, then import
    what its runs import lazily (the location itself stays light for the UI and the CLI), then
    call each `module:function` of `calls` (clients every run builds alike); returns what
    failed of the imports and calls (a run does them again and says why)."""
    import importlib

    from dagster._core.definitions.reconstruct import ReconstructableRepository

    for target in preload:
        module, _, attribute = target.partition(":")
        try:
            ReconstructableRepository.for_module(module, attribute or "defs",
                                                 os.getcwd()).get_definition()
        except Exception as exc:
            raise RuntimeError(f"preload_modules entry {target!r}: {type(exc).__name__}: "
                               f"{(str(exc).strip().splitlines() or [''])[0][:200]}") from exc
    failed = []
    for name in (*RUN_WORKER_IMPORTS, *imports):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - not needed to fork runs
            failed.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
    for target in calls:
        module, _, function = target.partition(":")
        try:
            getattr(importlib.import_module(module), function)()
        except Exception as exc:  # noqa: BLE001 - the run builds it itself
            failed.append(f"{target}: {type(exc).__name__}: {exc}"[:200])
    return failed


def os_threads() -> int:
    """Threads of this process as the kernel counts them (native ones too, e.g. a BLAS pool)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class WarmProcess:
    def __init__(self, control: socket.socket):
        self.control = control
        self.children: dict[int, str] = {}
        self.lines = control_lines.Lines()
        self.retiring = False

    def send(self, **message) -> None:
        control_lines.send(self.control, message)

    def serve(self) -> None:
        while not (self.retiring and not self.children):
            readable, _, _ = select.select([self.control], [], [], REAP_INTERVAL_S)
            if readable:
                data = self.control.recv(1 << 16)
                if not data:
                    return  # the launcher is gone: fork no more; the running workers go on
                for message in self.lines.feed(data):
                    self.handle(message)
            self.reap()

    def handle(self, message: dict) -> None:
        if message.get("op") == "retire":  # replaced: fork no more, report the running ones
            self.retiring = True
            return
        if message.get("op") != "launch":
            return
        run_id = message["run_id"]
        threads = os_threads()
        if self.retiring or threads > 1:  # a fork would copy locks no thread will release
            self.send(event="refused", run_id=run_id,
                      reason="the warm worker is retiring" if self.retiring else
                      f"the warm worker has {threads} threads")
            return
        for stream in (sys.stdout, sys.stderr):  # or each child writes the buffer again
            stream.flush()
        pid = os.fork()
        if pid == 0:
            self.control.close()
            run_worker.main_in_child(run_id, message["instance_ref"])  # never returns
        self.children[pid] = run_id
        self.send(event="started", run_id=run_id, pid=pid, start_ticks=start_ticks(pid))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run_id = self.children.pop(pid, None)
            if run_id is not None:
                self.send(event="exited", run_id=run_id, pid=pid, status=status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets.launcher.warm_process")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--preload", action="append", default=[])
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--call", dest="calls", action="append", default=[])
    args = parser.parse_args(argv)
    # Ctrl-C on the daemon's terminal reaches the whole process group: the runs take it (their
    # own handler), the warm process ends when the daemon closes the socket
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.control_fd)
    began = time.monotonic()
    process = WarmProcess(control)
    try:
        try:
            failed_imports = warm(args.preload, args.imports, args.calls)
        except BaseException as exc:  # noqa: BLE001 - the launcher falls back to the code server
            first = (str(exc).strip().splitlines() or [""])[0]
            process.send(event="failed", reason=f"{type(exc).__name__}: {first}"[:300])
            return 1
        threads = os_threads()
        if threads > 1:  # something it loaded started a thread: forking it is not safe
            process.send(event="failed", reason=f"the code location started {threads - 1} "
                                                f"thread(s) while loading; fork is not safe")
            return 1
        process.send(event="ready", pid=os.getpid(), threads=threads,
                     seconds=round(time.monotonic() - began, 3), failed_imports=failed_imports)
        process.serve()
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
