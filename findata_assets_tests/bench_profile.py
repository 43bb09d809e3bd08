"""`--profile`: one more `full` under py-spy, its samples summed by phase."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Optional

from findata_assets_tests.bench_env import log
from findata_assets_tests.bench_measured_process import run_measured
from findata_assets_tests.bench_session import Session

# First match wins, in this order, over the frames below the entry module (py-spy's raw form).
PROFILE_PHASES = (
    ("imports (start-up, and lazy ones: matplotlib in the report)", r"<module> \("),
    ("Dagster: run creation (plan, planned events)", r"create_run_for_job"),
    ("crawl: HTTP client (requests, JSON decode, pages)", r"fetch_tables"),
    ("archive: snapshot JSON + object store upload",
     r"SnapshotArchiveIOManager\.(handle_output|load_input)"),
    ("store: warehouse (render + INSERT + commit)", r"store_many|_store_one|literal_stream"),
    ("parse: rows from snapshots", r"parse_table"),
    ("checks + metadata", r"checks\.py|metadata\.py"),
    ("analysis: digest (warehouse reads + compute)", r"digest\.py"),
    ("analysis: LLM narrative", r"narrative\.py"),
    ("report: charts + markdown", r"charts\.py|markdown\.py|fonts\.py"),
    ("Dagster: event log writes", r"store_event|handle_new_event"),
    ("Dagster: other run machinery", r"dagster/"),
)
# A sample whose innermost frame is one of these is a thread waiting, not working.
WAITING_LEAVES = re.compile(r"^([\w<>]+\.)*(wait|join|acquire|_wait_for_tstate_lock|read|readinto|"
                            r"recv|recv_into|poll|select|sleep|do_poll|_read_bytes|yield_gil|"
                            r"__enter__) \(")


def profile_full(s: Session, workdir: Path) -> Optional[dict]:
    """py-spy (100 Hz, every thread py-spy finds active) over one `full` CLI run, its samples
    summed by phase."""
    spy = Path(sys.executable).parent / "py-spy"
    spy_path = str(spy) if spy.exists() else shutil.which("py-spy")
    if not spy_path:
        log("profile: py-spy is not installed; skipped (pip install py-spy)")
        return None
    raw = workdir / "full.pyspy.raw"
    command = [spy_path, "record", "-r", "100", "-f", "raw", "-o", str(raw), "--",
               sys.executable, "-m", "findata_assets.run", "full"]
    m = run_measured(command, s.env(), workdir, s.label("full-profile"), s.timeout_s * 2)
    if m.returncode != 0 or not raw.exists():
        log(f"profile: py-spy run failed (exit {m.returncode}): {m.stderr_tail()}")
        return None
    other, waiting = "other (our code, the stdlib)", "waiting (sockets, locks, threads)"
    totals: dict[str, float] = {name: 0.0 for name, _ in PROFILE_PHASES}
    totals[other] = totals[waiting] = 0.0
    compiled = [(name, re.compile(pattern)) for name, pattern in PROFILE_PHASES]
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        entry = next((i for i, f in enumerate(frames) if f.startswith("<module> (")), -1)
        below = ";".join(frames[entry + 1:])  # the frames under findata_assets/run.py
        if not stack.strip() or WAITING_LEAVES.match(frames[-1]):  # no Python frame: native
            name = waiting
        else:
            name = next((n for n, p in compiled if p.search(below)), other)
        totals[name] += int(count) / 100
    return {"wall_s": round(m.wall_s, 2), "sampled_cpu_s": round(sum(totals.values()), 2),
            "raw": str(raw), "by_phase_s": {k: round(v, 2) for k, v in totals.items() if v}}
