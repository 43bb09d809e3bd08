"""What a benchmark stands on: the fixed start-up cost of a findata process (a fresh interpreter
importing the CLI and building the definitions) and the machine's facts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from findata_assets_tests.bench_env import REPO
from findata_assets_tests.bench_measured_process import run_measured
from findata_assets_tests.bench_session import Session

_STARTUP_CODE = ("import findata_assets.run\n"
                 "from findata_assets.definitions import build_definitions\n"
                 "build_definitions()\n")


def measure_startup(s: Session, repeat: int = 3) -> float:
    """Median wall seconds of a fresh interpreter importing the CLI and building definitions."""
    walls = []
    for _ in range(repeat):
        m = run_measured([sys.executable, "-c", _STARTUP_CODE], s.env(), s.workdir,
                         s.label("startup"), 120)
        if m.returncode == 0:
            walls.append(m.wall_s)
    return round(statistics.median(walls), 3) if walls else float("nan")


def machine_info() -> dict:
    def command(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = command("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = subprocess.run(  # not command(): stripping would eat the first status column
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "free_h": command("free", "-h"),
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu": next((line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "") if Path("/proc/cpuinfo").exists()
            else "", "uptime": command("uptime"), "git_commit": commit,
            "git_dirty_files": [line[3:] for line in dirty.splitlines()],
            "when": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
