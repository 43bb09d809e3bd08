"""What the benchmarks share: the repository root their child processes run in, an environment
without the developer's settings, and the progress log on stderr."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clean_environ() -> dict[str, str]:
    """os.environ without the developer's FINDATA_*, AWS_* and DAGSTER_HOME."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("FINDATA_", "AWS_")) and k != "DAGSTER_HOME"}
