"""The launcher's side of one warm worker process: start it, send it runs, hear what became of
them. No Dagster here; forking.py decides what a message means for a run."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from findata_assets.launcher import control

log = logging.getLogger(__name__)


def code_fingerprint(modules: list[str]) -> tuple:
    """What the warm worker's code was when it loaded: each preloaded module's top package, as
    (files, newest mtime, total size) of its .py files. An edit, added or removed file changes
    it, and the next launch starts a fresh warm worker (as a code server reload would)."""
    import importlib.util

    prints = []
    for target in modules:
        top = target.partition(":")[0].split(".")[0]
        spec = importlib.util.find_spec(top)
        roots = list(spec.submodule_search_locations or []) if spec else []
        if not roots and spec and spec.origin:
            roots = [spec.origin]
        for root in roots:
            files = [Path(root)] if root.endswith(".py") else Path(root).rglob("*.py")
            stats = [p.stat() for p in files]
            prints.append((root, len(stats), max((s.st_mtime_ns for s in stats), default=0),
                           sum(s.st_size for s in stats)))
    return tuple(prints)


@dataclass
class Started:
    pid: int
    start_ticks: Optional[int]
    warm_pid: int


class LaunchRefused(Exception):
    """The warm worker did not fork the run (it said so, or never got the request): the code
    server may start it."""


class LaunchUnanswered(Exception):
    """The warm worker got the request but did not answer in time: it may have forked the run,
    so no other process may start it."""


@dataclass
class WarmHandle:
    preload: list[str]
    on_exit: Callable[[str, int, int], None]  # (run_id, pid, waitpid status)
    imports: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fingerprint: tuple = ()
    began: float = field(default_factory=time.monotonic)
    ready: threading.Event = field(default_factory=threading.Event)
    gone: threading.Event = field(default_factory=threading.Event)
    pid: int = 0
    failure: str = ""
    retired: bool = False

    def __post_init__(self):
        self.fingerprint = code_fingerprint(self.preload)
        self._socket, child_end = socket.socketpair()
        self._send_lock = threading.Lock()
        self._pending: dict[str, dict] = {}
        self._replied = threading.Condition()
        argv = [sys.executable, "-m", "findata_assets.launcher.warm_process",
                "--control-fd", str(child_end.fileno())]
        for target in self.preload:
            argv += ["--preload", target]
        for name in self.imports:
            argv += ["--import", name]
        for target in self.calls:
            argv += ["--call", target]
        self._process = subprocess.Popen(argv, pass_fds=[child_end.fileno()],
                                         stdin=subprocess.DEVNULL, close_fds=True)
        child_end.close()
        self.pid = self._process.pid
        threading.Thread(target=self._read, name="findata-warm-worker-reader",
                         daemon=True).start()

    def age_s(self) -> float:
        return time.monotonic() - self.began

    def wait_ready(self, timeout_s: float) -> None:
        """Until it is ready, gone, or `timeout_s` after it was started (not after this call:
        a warm worker that hangs while loading holds each run once, not each run again)."""
        deadline = self.began + timeout_s
        while not self.ready.is_set() and not self.gone.is_set() and time.monotonic() < deadline:
            self.ready.wait(0.1)

    def usable(self) -> bool:
        return self.ready.is_set() and not self.gone.is_set() and not self.retired

    def launch(self, run_id: str, instance_ref: str, timeout_s: float) -> Started:
        message = {"op": "launch", "run_id": run_id, "instance_ref": instance_ref}
        try:
            with self._send_lock:
                control.send(self._socket, message)
        except OSError as exc:
            raise LaunchRefused(f"the warm worker (pid {self.pid}) is gone ({exc})") from exc
        deadline = time.monotonic() + timeout_s
        with self._replied:
            while run_id not in self._pending:
                left = deadline - time.monotonic()
                if self.gone.is_set():  # it died: nothing forks any more
                    raise LaunchRefused(f"the warm worker (pid {self.pid}) exited")
                if left <= 0:
                    raise LaunchUnanswered(f"the warm worker (pid {self.pid}) did not answer "
                                           f"for run {run_id} within {timeout_s:.0f} s")
                self._replied.wait(min(left, 0.5))
            reply = self._pending.pop(run_id)
        if reply["event"] != "started":
            raise LaunchRefused(reply.get("reason", "refused"))
        return Started(reply["pid"], reply.get("start_ticks"), self.pid)

    def retire(self) -> None:
        """No more runs: the warm worker refuses launches sent after this, reports the ends
        of the runs it forked (so a dead one still fails its run at once), then exits."""
        self.retired = True
        try:
            with self._send_lock:
                control.send(self._socket, {"op": "retire"})
        except OSError:
            self.close()

    def close(self) -> None:
        """Now (the launcher is disposed): the warm worker exits; the runs it forked go on."""
        self.gone.set()
        try:
            # shutdown, not close alone: the reader thread's recv keeps a closed socket open,
            # and the warm worker would never read its end-of-file
            self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
        except OSError:
            pass
        finally:
            threading.Thread(target=self._process.wait, daemon=True).start()  # reap it

    def _read(self) -> None:
        lines = control.Lines()
        try:
            while True:
                data = self._socket.recv(1 << 16)
                if not data:
                    break
                for message in lines.feed(data):
                    self._dispatch(message)
        except OSError:
            pass
        finally:
            if not self.ready.is_set() and not self.failure and not self.retired:
                code = self._process.poll()
                self.failure = f"it exited while loading (exit code {code})"
                log.warning("findata: the warm run worker %s %s; runs start through the code "
                            "server until the code changes", self.pid, self.failure)
            self.gone.set()
            with self._replied:
                self._replied.notify_all()

    def _dispatch(self, message: dict) -> None:
        event = message.get("event")
        if event == "ready":
            log.info("findata: warm run worker %s ready in %.1f s", self.pid, message["seconds"])
            for failure in message.get("failed_imports") or []:
                log.warning("findata: the warm run worker could not preload %s", failure)
            self.ready.set()
        elif event == "failed":
            self.failure = message.get("reason", "")
            log.warning("findata: the warm run worker could not load the code (%s); runs start "
                        "through the code server: check run_launcher.config in dagster.yaml",
                        self.failure)
            self.gone.set()
        elif event in ("started", "refused"):
            with self._replied:
                self._pending[message["run_id"]] = message
                self._replied.notify_all()
        elif event == "exited":  # on its own thread: the reader must answer launches now
            threading.Thread(target=self._account, args=(message,), daemon=True,
                             name="findata-run-worker-exit").start()

    def _account(self, message: dict) -> None:
        try:
            self.on_exit(message["run_id"], message["pid"], message["status"])
        except Exception:  # noqa: BLE001 - say it; run monitoring checks the run as well
            log.exception("findata: could not account for run worker %s", message["pid"])


def exit_code(status: int) -> int:
    """A waitpid status as subprocess spells it: the code, or -N for a signal."""
    return os.waitstatus_to_exitcode(status)
