"""Issue 21: `dg` (dagster-dg-cli) from the project root, as a Dagster 1.13 user runs it:
`dg list defs` lists the code location, `dg check defs` passes on it and fails, naming the
problem, on a copy of the project with one definition broken."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).parent / "dg"
BROKEN_ASSET = '''

@dg.asset(required_resource_keys={"no_such_resource"})
def broken_asset():
    """Needs a resource nobody provides: the location cannot load."""
'''


def _dg(args: list[str], project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "PYTHONPATH": str(project),
           "FINDATA_HOME": str(tmp_path / "home"), "VIRTUAL_ENV": str(Path(sys.prefix)),
           "FINDATA_PARTITIONS_START": "2026-11-02"}
    (tmp_path / "dagster").mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    return subprocess.run([str(DG), *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "findata_assets", project / "findata_assets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "dagster.yaml"):
        shutil.copy(ROOT / name, project / name)
    return project


@pytest.fixture(autouse=True)
def _dg_installed():
    if not DG.exists():
        pytest.skip(f"no {DG}: pip install -e . (dagster-dg-cli is a dependency)")


def test_dg_lists_and_checks_the_definitions(tmp_path):
    listed = _dg(["list", "defs", "--json"], ROOT, tmp_path)
    assert listed.returncode == 0, listed.stderr[-3000:]
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"] for a in defs["assets"]}
    assert {"stock_flow", "stock_flow_raw", "stock_flow_intraday_history",
            "fund_flow_report"} <= assets
    assert {j["name"] for j in defs["jobs"]} >= {"stock_flow_job", "housekeeping_job"}
    checked = _dg(["check", "defs"], ROOT, tmp_path)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr


def test_dg_check_defs_fails_on_a_broken_definition(tmp_path):
    project = _copy(tmp_path)
    intact = _dg(["check", "defs"], project, tmp_path)  # the copy itself is sound
    assert intact.returncode == 0, intact.stdout[-2000:] + intact.stderr[-3000:]
    module = project / "findata_assets" / "definitions.py"
    source = module.read_text(encoding="utf-8")
    assert "    return location()" in source
    module.write_text(source.replace(
        "    return location()",
        "    return dg.Definitions.merge(location(), dg.Definitions(assets=[broken_asset]))")
        + BROKEN_ASSET, encoding="utf-8")
    broken = _dg(["check", "defs"], project, tmp_path)
    assert broken.returncode != 0
    assert "no_such_resource" in broken.stdout + broken.stderr
