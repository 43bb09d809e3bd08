"""One measured child process: its wall seconds (interpreter start included), its own peak RSS,
and a py-spy stack dump when it outlives its timeout."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from findata_assets_tests.bench_env import REPO

TIME_BIN = "/usr/bin/time"


@dataclass
class Measured:
    returncode: Optional[int]
    wall_s: float
    peak_rss_mb: Optional[float]
    timed_out: bool
    stdout_path: Path
    stderr_path: Path
    dump_path: Optional[Path] = None

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        interesting = [t for t in text if "Warning" not in t and "return fn(" not in t]
        return "\n".join(interesting[-lines:])


_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _stack_dump(pid: int, path: Path) -> Optional[Path]:
    """py-spy dump of the measured Python child (the wrapper's child), if py-spy is around."""
    spy = Path(sys.executable).parent / "py-spy"
    spy = str(spy) if spy.exists() else shutil.which("py-spy")
    if not spy:
        return None
    targets = _children(pid) or [pid]
    with open(path, "w") as out:
        for target in targets:
            subprocess.run([spy, "dump", "--pid", str(target)], stdout=out,
                           stderr=subprocess.STDOUT, timeout=60, check=False)
    return path


def run_measured(argv: Sequence[str], env: dict[str, str], workdir: Path, label: str,
                 timeout_s: float, cwd: Path = REPO) -> Measured:
    """Run argv in its own wrapper process, in `cwd`: wall seconds (perf_counter around the
    wrapper, interpreter start included) and the child's own peak RSS."""
    workdir.mkdir(parents=True, exist_ok=True)
    rss_path = workdir / f"{label}.rss"
    stdout_path, stderr_path = workdir / f"{label}.out", workdir / f"{label}.err"
    rss_path.unlink(missing_ok=True)
    if os.access(TIME_BIN, os.X_OK):
        wrapped = [TIME_BIN, "-f", "%M", "-o", str(rss_path), *argv]
    else:
        wrapped = [sys.executable, "-c", _RUSAGE_WRAPPER, str(rss_path), *argv]
    dump = None
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env=env, cwd=cwd, start_new_session=True)
        try:
            returncode = process.wait(timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out, returncode = True, None
        wall = time.perf_counter() - started
        if timed_out:
            with contextlib.suppress(Exception):
                dump = _stack_dump(process.pid, workdir / f"{label}.hang.txt")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    peak = None
    with contextlib.suppress(OSError, ValueError, IndexError):  # no file after a kill
        text = rss_path.read_text().strip().splitlines()
        peak = int(text[-1]) / 1024  # kilobytes (GNU time %M, Linux ru_maxrss) -> MiB
    return Measured(returncode, wall, peak, timed_out, stdout_path, stderr_path, dump)
