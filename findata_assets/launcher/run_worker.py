"""What a forked run worker does: execute one run as Dagster's own run worker does (the code
server's run subprocess, `dagster api execute_run`), in a process that has the code location
loaded already.

The run's events, its failure on an exception or an interrupt, and the "Started process for run"
and "Process for run exited" engine events are Dagster's (core_execute_run), so the UI, run
retries and the CLI read a forked run as any other.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._grpc.impl import core_execute_run
from dagster._serdes import deserialize_value
from dagster._utils.hosted_user_process import recon_job_from_origin
from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers
from dagster._core.instance.ref import InstanceRef

from findata_assets import environment
from findata_assets.settings import operations


def reset_process_state() -> None:
    """Undo what the warm process set for itself: its children take Ctrl-C and SIGTERM as a
    run worker does (an interrupt that fails or cancels the run), and draw their own randomness
    (jitter, hedges) rather than the sequence every sibling would share."""
    import random

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    setup_interrupt_handlers()  # SIGTERM as SIGINT, as Dagster's run workers take it
    random.seed()


def execute(run_id: str, serialized_instance_ref: str) -> int:
    """Run `run_id` to its end; the exit code is 0 when the run succeeded."""
    instance_ref = deserialize_value(serialized_instance_ref, InstanceRef)
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        run = instance.get_run_by_id(run_id)
        if run is None or run.job_code_origin is None:
            print(f"findata run worker: run {run_id} is not in this instance's run storage "
                  f"(or has no code origin); nothing executed", file=sys.stderr)
            return 1
        pid = os.getpid()
        instance.report_engine_event(
            f"Started process for run (pid: {pid}), forked from the warm worker "
            f"(pid: {os.getppid()}) that holds the code location loaded.",
            run, EngineEventData.in_process(pid))
        try:
            for _event in core_execute_run(recon_job_from_origin(run.job_code_origin), run,
                                           instance, inject_env_vars=False):
                pass
        except BaseException:  # noqa: BLE001 - core_execute_run has logged it to the run
            pass
        finally:
            instance.report_engine_event(f"Process for run exited (pid: {pid}).", run)
        final = instance.get_run_by_id(run_id)
        return 0 if final is not None and final.status == dg.DagsterRunStatus.SUCCESS else 1


def _report_imports(loaded_at_fork: frozenset) -> None:
    """With FINDATA_WARM_REPORT_IMPORTS=1: which packages the run imported that the warm
    process had not (candidates for the launcher's preload_imports)."""
    if not operations.warm_report_imports(environment.current()):
        return
    names = set(sys.modules) - loaded_at_fork
    new = sorted({name.split(".")[0] for name in names}
                 | {name for name in names if name.startswith(("findata_assets.", "dagster."))})
    print(f"findata run worker {os.getpid()}: imported after the fork: {', '.join(new) or '-'}",
          file=sys.stderr)


def main_in_child(run_id: str, serialized_instance_ref: str) -> None:
    """The forked child's whole life: never returns into the warm process's loop."""
    code = 1
    loaded_at_fork = frozenset(sys.modules)
    try:
        reset_process_state()
        # as Dagster's run workers: an interrupt before the steps start is held until the
        # execution can take it (and end the run CANCELED), not raised in the middle of set-up
        with capture_interrupts():
            code = execute(run_id, serialized_instance_ref)
        _report_imports(loaded_at_fork)
    except BaseException:  # noqa: BLE001 - say it, then leave with a failing code
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)  # not the warm process's atexit handlers or finalizers
