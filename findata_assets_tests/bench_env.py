"""What the benchmarks share: the repository root their child processes run in, an environment
without the developer's settings, and the progress log on stderr."""

from __future__ import annotations

import os
import subprocess
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


def precompile(tree: Path = REPO) -> None:
    """Bytecode for a checkout's packages, as an installed package or a developer's first run has
    it. Where PYTHONDONTWRITEBYTECODE is set (this machine) an editable checkout has none, and
    every process would compile findata again (~0.3 s): two trees compared must be alike."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "findata_assets"],
                   cwd=tree, check=False, stdout=subprocess.DEVNULL)
