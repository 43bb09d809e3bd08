"""`python -m findata_assets.run`: the command line, kept at this path for users and scripts;
the commands live in findata_assets/cli (main.py dispatches)."""

import logging
import os
import sys
import threading

from findata_assets.cli.main import main


def exit_now(code: int) -> None:
    """End the process once the command is done: its output flushed, its files closed, no
    thread left. Python's own shutdown then tears down every module and object one by one,
    0.8 s here for the libraries a command loads (a third of a `quick` run's own work), and
    nothing is left for it to do."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)  # a thread still works: let the interpreter wait for it
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    exit_now(main())
