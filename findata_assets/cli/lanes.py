"""One run per policy and family ("lane") for CLI runs too.

dagster.yaml's tag limit binds the runs that pass the daemon's queue; the CLI executes its runs
itself, so it checks the lane on its own before it starts: a lock file per lane under DAGSTER_HOME
(two CLIs on one machine exclude each other exactly) and the instance's in-flight runs of the lane
(runs launched by the daemon, the UI or another machine's CLI). A busy lane is refused, not
waited for: the next tick of the policy comes soon and brings fresher data than a run that waited.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterator

import dagster as dg

from findata_assets.cli import runs as cli_runs
from findata_assets.defs.refresh.policies import LANE_TAG
from findata_assets.defs.refresh.schedules import IN_FLIGHT as SCHEDULE_IN_FLIGHT

# NOT_STARTED is left out: a run that never started (a failed `dagster job execute`) would hold
# the lane forever, and a CLI's own not-yet-started run is covered by its lock file.
IN_FLIGHT = [s for s in SCHEDULE_IN_FLIGHT if s != dg.DagsterRunStatus.NOT_STARTED]


class LaneBusy(Exception):
    """A lane this command needs is taken; the message names who holds it."""


def _lock_dir(instance: dg.DagsterInstance) -> Path:
    root = instance.root_directory if instance.is_persistent else tempfile.gettempdir()
    folder = Path(root) / "findata-lanes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def hold(instance: dg.DagsterInstance, lanes: list[str], policy: str) -> Iterator[None]:
    """Hold the lanes for the whole command, or raise LaneBusy naming the holder."""
    with contextlib.ExitStack() as stack:
        for lane in sorted(set(lanes)):  # one order for every CLI: no deadlock between them
            path = _lock_dir(instance) / f"{lane.replace(':', '-')}.lock"
            handle = stack.enter_context(open(path, "a+"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise LaneBusy(_busy(lane, policy, _holder(handle.read()))) from None
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "since": time.strftime("%H:%M:%S")}))
            handle.flush()
            _check_runs(instance, lane, policy)
        yield


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"the CLI pid {info['pid']} on {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another CLI"


def _check_runs(instance: dg.DagsterInstance, lane: str, policy: str) -> None:
    for run in instance.get_runs(dg.RunsFilter(tags={LANE_TAG: lane}, statuses=IN_FLIGHT)):
        if cli_runs.orphaned(run):  # its CLI died: it will never end by itself
            cli_runs.fail_orphan(instance, run, run.run_id)
            continue
        raise LaneBusy(_busy(lane, policy, f"run {run.run_id} ({run.status.value})"))


def _busy(lane: str, policy: str, holder: str) -> str:
    return (f"lane {lane} is busy with {holder}: one run per policy and family, so this "
            f"{policy} run is not started; wait for it, or stop it with "
            f"`python -m findata_assets.run stop {policy}`")
