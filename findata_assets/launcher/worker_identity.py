"""Which process runs a run, told apart from a later process that reuses its pid.

A forked run worker is named by host, pid and the kernel's start time of that pid (Linux's
/proc/<pid>/stat, field 22, in clock ticks since boot), stored as a run tag, so the UI's
Terminate (in the webserver) and run monitoring (in the daemon) find it without asking the
process that forked it. No Dagster here.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from typing import Optional

WORKER_TAG = "findata/run_worker"


def start_ticks(pid: int) -> Optional[int]:
    """The kernel's start time of `pid`, or None when no such process is running (gone, or a
    zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):  # state: a zombie or dead
        return None
    return int(fields[19])  # field 22 of the whole line


@dataclass(frozen=True)
class WorkerIdentity:
    host: str
    pid: int
    start_ticks: int
    forked_from: int

    def to_tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_tags(cls, tags) -> Optional["WorkerIdentity"]:
        raw = tags.get(WORKER_TAG)
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """The same process is still running (only meaningful on its own host)."""
        return start_ticks(self.pid) == self.start_ticks


def this_host() -> str:
    return socket.gethostname()

