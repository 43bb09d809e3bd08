"""Where a CLI command's seconds go: `full` (with the analysis and report, the fake at 100 ms) and
`quick` (the fake at 0 ms, a SQLite warehouse), each a whole process as a user runs it, split by
the runs' own event logs, for this tree and another one (the code before a change) in turns.

    python -m findata_assets_tests.bench_budget [--base DIR] [--pairs 3] [--json FILE]

`--base DIR` is a checkout of the other code (`git worktree add /tmp/base b888b99`); it runs with
this venv, from its own folder (so `-m findata_assets` imports its code), on its own DAGSTER_HOME
holding its own dagster.yaml; the same MariaDB database, SeaweedFS bucket and fake. Each pair runs
both in turns, the order alternating.

The budget of one command, from its process start to its exit (wall clock, median of the pairs):
- start-up: interpreter, imports, settings, the code location, the instance - until the first
  event of the first run;
- per run, Dagster's share: run creation and plan until the first step starts, and the run's end
  after its last step (events, resources, progress), plus what the CLI does between runs;
- the steps, by what they do: crawl + archive (the raw steps), parse + store (the table steps),
  the intraday minute, the analysis, the charts + report, other steps;
- exit: after the last run's last event.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from findata_assets_tests.bench_cli_runs import run_events
from findata_assets_tests.bench_env import REPO, log, precompile
from findata_assets_tests.bench_measured_process import run_measured
from findata_assets_tests.bench_session import Session, session

STEP_KINDS = (  # first match of the step key wins
    ("crawl + archive", ("_raw",)),
    ("intraday minute", ("_intraday",)),
    ("parse + store", ("stock_flow", "sector_flow")),
    ("analysis", ("analysis",)),
    ("charts + report", ("report",)),
)
ROWS = ("start-up", "per run (create, plan, events, end)", "crawl + archive", "parse + store",
        "intraday minute", "analysis", "charts + report", "other steps", "exit", "wall")
COMMANDS = {"full": ["full"], "quick": ["quick", "--no-analysis"]}


def _kind(step_key: str) -> str:
    for kind, needles in STEP_KINDS:
        if any(n in step_key for n in needles):
            return kind
    return "other steps"


def split(started: float, ended: float, events_by_run: dict[str, list]) -> dict[str, float]:
    """The command's wall seconds by budget row (see the module docstring). The CLI runs a
    cycle's stock and sector runs side by side: an instant when several things are active is
    shared equally among them, so the rows add up to the wall time."""
    intervals: list[tuple[float, float, str]] = []
    for events in events_by_run.values():
        first, last = events[0].timestamp, events[-1].timestamp
        intervals.append((first, last, "run"))
        steps: dict[str, list[float]] = {}
        for e in events:
            kind = e.dagster_event.event_type_value
            if kind == "STEP_START":
                steps.setdefault(e.step_key, [e.timestamp, e.timestamp])
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and e.step_key in steps:
                steps[e.step_key][1] = e.timestamp
        intervals += [(a, b, _kind(key)) for key, (a, b) in steps.items()]
    budget = dict.fromkeys(ROWS, 0.0)
    first_event = min(a for a, _, _ in intervals)
    last_event = max(b for _, b, _ in intervals)
    budget["start-up"] = first_event - started
    budget["exit"] = ended - last_event
    marks = sorted({t for a, b, _ in intervals for t in (a, b)})
    for a, b in zip(marks, marks[1:]):
        active = [(x, y, k) for x, y, k in intervals if x <= a and y >= b]
        runs = [iv for iv in active if iv[2] == "run"]
        steps = [iv for iv in active if iv[2] != "run"]
        # a run's time outside its steps is Dagster's; each run active here counts once
        shares = [k for _, _, k in steps] + ["per run (create, plan, events, end)"] * max(
            0, len(runs) - len(steps))
        if not shares:  # between two runs: the CLI's own work
            shares = ["per run (create, plan, events, end)"]
        for kind in shares:
            budget[kind] += (b - a) / len(shares)
    budget["wall"] = ended - started
    return {k: round(v, 3) for k, v in budget.items()}


def run_once(s: Session, tree: Path, home: Path, command: str, env_extra: dict) -> dict:
    label = s.label(f"{command}-{tree.name}")
    out = s.workdir / f"{label}.json"
    env = {**s.env(), **env_extra, "DAGSTER_HOME": str(home),
           "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "findata_assets.run", *COMMANDS[command], "--json", str(out)]
    started = time.time()
    m = run_measured(argv, env, s.workdir, label, s.timeout_s, cwd=tree)
    ended = started + m.wall_s
    if m.returncode != 0 or not out.exists():
        raise RuntimeError(f"{command} in {tree} failed (exit {m.returncode}):\n{m.stderr_tail()}")
    outcome = json.loads(out.read_text())
    run_ids = [r["run_id"] for r in outcome["runs"] if r.get("run_id")]
    return split(started, ended, run_events(home, run_ids)) | {"cli_s": round(outcome["seconds"], 3)}


def measure(workdir: Path, trees: dict[str, Path], pairs: int) -> dict:
    results: dict = {}
    with session(workdir, concurrency=8, timeout_s=300) as s:
        homes = {}
        for name, tree in trees.items():
            precompile(tree)
            homes[name] = s.workdir / f"home-{name}"
            homes[name].mkdir()
            shutil.copy(tree / "dagster.yaml", homes[name] / "dagster.yaml")
        for command, latency_ms, env_extra in (
                ("full", 100, {}),
                ("quick", 0, {"FINDATA_DATABASE_URL": f"sqlite:///{workdir / 'quick.db'}"})):
            s.start_fake(latency_ms, 1.0, 0)
            for name, tree in trees.items():  # untimed: first runs create tables and buckets
                run_once(s, tree, homes[name], command, env_extra)
            samples: dict[str, list[dict]] = {name: [] for name in trees}
            for i in range(pairs):
                order = list(trees) if i % 2 == 0 else list(reversed(trees))
                for name in order:
                    sample = run_once(s, trees[name], homes[name], command, env_extra)
                    log(f"{command} {name}: {sample}")
                    samples[name].append(sample)
            results[command] = {
                name: {row: round(statistics.median(x[row] for x in got), 2)
                       for row in (*ROWS, "cli_s")} | {"walls_s": [x["wall"] for x in got]}
                for name, got in samples.items()}
    return results


def table(results: dict) -> str:
    lines = []
    for command, by_tree in results.items():
        names = list(by_tree)
        lines.append(f"\n{command}: " + " | ".join(names))
        for row in (*ROWS, "cli_s"):
            lines.append(f"  {row:38} " + "  ".join(f"{by_tree[n][row]:8.2f}" for n in names))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m findata_assets_tests.bench_budget",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    trees = {"now": REPO}
    if args.base:
        trees = {"base": args.base.resolve(), "now": REPO}
    with tempfile.TemporaryDirectory(prefix="findata-budget-") as tmp:
        results = measure(Path(tmp), trees, args.pairs)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
