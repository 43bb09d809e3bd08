"""The console logger of every findata run: Dagster's own, except that a stop is not an error.

A run stopped by the operator (`run stop`, a signal to the CLI, the UI's Terminate, the daemon's
run monitoring) ends CANCELED, but Dagster logs the interrupted step as a STEP_FAILURE at ERROR
with a stack trace, then every skipped step and the RUN_CANCELED at ERROR too. On the console
those records drop to INFO (out of sight at the CLI's WARNING level) and the step's stop shows
as one line; the run's event log, which the UI shows, keeps everything.
"""

from __future__ import annotations

import logging

import dagster as dg

META_ATTR = "dagster_meta"  # where Dagster's log records carry their event (log_manager.py)
STOP_ERRORS = {"Cancelled", "DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def was_stopped(event) -> bool:
    """A step failure caused by the operator's stop (cancellation.Cancelled, an interrupt)."""
    data = getattr(event, "step_failure_data", None)
    if data is None:
        return False
    if getattr(data.error_source, "value", "") == "INTERRUPT":
        return True
    error = data.error
    while error is not None:
        if error.cls_name in STOP_ERRORS:
            return True
        error = error.cause or error.context
    return False


class _StopIsNotAnError(logging.Filter):
    """Per run (the logger is built per run): a stopped step, the steps skipped after it, and
    the run's RUN_CANCELED."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        event = (getattr(record, META_ATTR, None) or {}).get("dagster_event")
        kind = getattr(event, "event_type", None)
        if kind == dg.DagsterEventType.STEP_FAILURE and was_stopped(event):
            self.stopped = True
            head = str(record.msg).split("STEP_FAILURE - ", 1)[0]  # job, run, pid, step
            _demote(record, logging.INFO, f"{head}STEP_FAILURE - stopped by the operator")
        elif kind == dg.DagsterEventType.RUN_CANCELED or (
                self.stopped and "Not executing." in record.getMessage()):
            _demote(record, logging.INFO)  # a canceled run was stopped: by someone, on purpose
        return True


def _demote(record: logging.LogRecord, level: int, message: str | None = None) -> None:
    record.levelno, record.levelname = level, logging.getLevelName(level)
    record.exc_info = record.exc_text = None
    if message is not None:
        record.msg, record.args = message, ()


@dg.logger(dg.colored_console_logger.config_schema,
           description="Dagster's colored console logger; a stop by the operator is not logged "
                       "as an error.")
def findata_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    logger.addFilter(_StopIsNotAnError())
    return logger


LOGGERS = {"console": findata_console_logger}
