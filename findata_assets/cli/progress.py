"""What the CLI prints while a run executes: a line when it starts and one per finished step.

Dagster's own event stream (DEBUG lines, ~150 per full refresh) stays in the run's logs, which the
UI shows; `--verbose` puts it back on the terminal (`run_config`).
"""

from __future__ import annotations

import sys
import threading

import dagster as dg

from findata_assets.defs import metadata_keys as keys
from findata_assets.defs.eastmoney.families import TABLE_ASSETS
from findata_assets.defs.run_logging import was_stopped
from findata_assets.storage.intraday import TABLES as INTRADAY_TABLES

_PRINT_LOCK = threading.Lock()
_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
           dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_MATERIALIZATION}


def run_config(verbose: bool, base: dict | None = None, level: str = "WARNING") -> dict:
    """The run config of a CLI run: Dagster's console logger at `level` unless verbose (a
    command that prints its run's warnings and failure itself passes CRITICAL)."""
    config = dict(base or {})
    if not verbose:
        config["loggers"] = {"console": {"config": {"log_level": level}}}
    else:
        config.pop("loggers", None)
    return config


class RunProgress:
    """Prints a run's finished steps as its events are stored: the instance hands each stored
    event of the run to this listener, in the run's own thread (no polling of the storage,
    which cost a query every 0.3 s and a share of a short run)."""

    def __init__(self, instance: dg.DagsterInstance, run: dg.DagsterRun, stream=None) -> None:
        self.instance, self.run = instance, run
        self.stream = stream or sys.stdout
        self._listening = False
        self._started: dict[str, float] = {}
        self._counts: dict[str, list[int]] = {}  # step -> [partitions, rows]

    def __enter__(self) -> "RunProgress":
        partitions = self.run.tags.get(keys.RANGE_START_TAG)
        span = (f" {partitions}...{self.run.tags.get(keys.RANGE_END_TAG)}"
                if partitions else f" {self.run.tags.get(keys.PARTITION_TAG, '')}".rstrip())
        self._print(f"run {self.run.run_id[:8]} {self.run.job_name}{span}: started")
        self._listening = True
        self.instance.add_event_listener(self.run.run_id, self._on_event)
        return self

    def __exit__(self, *exc) -> None:
        self._listening = False  # the instance keeps the listener; it goes quiet

    def _on_event(self, entry) -> None:
        if (self._listening and entry.is_dagster_event
                and entry.dagster_event.event_type in _EVENTS):
            self._show(entry)

    def _show(self, entry) -> None:
        event = entry.dagster_event
        step = event.step_key or ""
        if event.event_type == dg.DagsterEventType.STEP_START:
            self._started[step] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key.path[-1] in INTRADAY_TABLES.values():
                return  # the minute a table step stores beside its tables: not a partition
            counts = self._counts.setdefault(step, [0, 0])
            counts[0] += 1
            if materialization.asset_key.path[-1] in TABLE_ASSETS:
                rows = materialization.metadata.get(keys.ROW_COUNT)
                counts[1] += int(rows.value) if rows is not None else 0
        else:
            seconds = entry.timestamp - self._started.get(step, entry.timestamp)
            parts, rows = self._counts.get(step, [0, 0])
            done = f"{parts} partition(s)" + (f", {rows:,} rows" if rows else "")
            state = "done" if event.event_type == dg.DagsterEventType.STEP_SUCCESS else \
                "stopped" if was_stopped(event) else "FAILED"
            self._print(f"  {step}: {state}, {done} ({seconds:.1f} s)")

    def _print(self, line: str) -> None:
        with _PRINT_LOCK:  # runs side by side: one whole line at a time
            self.stream.write(line + "\n")
            self.stream.flush()
