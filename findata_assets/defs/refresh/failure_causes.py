"""What a failed run's error says, in one line: the failure alerts and coverage both use it."""

from __future__ import annotations

STOPPED_TAG = "findata/stopped_by"  # set by cli/operations.stop_policy


def root_cause(error):
    """The error that explains a step failure. Dagster wraps ours ("Error occurred while handling
    output ..."), and ours may wrap a driver's (StoreError -> OperationalError): the outermost of
    our own errors names the table and what went wrong, with the driver's cause in its message;
    without one of ours, the innermost error."""
    innermost = error
    while error is not None:
        if is_own_error(error):
            return error
        innermost, error = error, error.cause
    return innermost


def is_own_error(cause) -> bool:
    """Raised by findata itself: its message names the table, the problem and the setting."""
    return bool(cause and cause.message and cause.message.startswith("findata_assets.")
                and f"{cause.cls_name}: " in cause.message)


def cause_message(error) -> str:
    """The first line of the root cause; our own errors without their class path."""
    cause = root_cause(error)
    if cause is None or not cause.message:
        return "failed"
    line = cause.message.strip().splitlines()[0]
    return line.split(f"{cause.cls_name}: ", 1)[1] if is_own_error(cause) else line
