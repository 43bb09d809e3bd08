"""Issue 11, item 5: bad input gets one clear line. A reversed partition range is an error, a
setting with credentials in it is refused without echoing them, and three CLIs started at once
on a new DAGSTER_HOME leave a working instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from findata_assets.cli.main import main
from findata_assets.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
SECRET = "hunter2-Secret"


@pytest.mark.parametrize("kind,start,end", [("stock", "sz_b|1d", "all|1d"),
                                            ("sector", "region|1d", "industry|1d")])
def test_a_reversed_partition_range_is_an_error_naming_the_range_and_the_order(
        monkeypatch, tmp_path, fake_eastmoney, kind, start, end):
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path))
    monkeypatch.setenv("FINDATA_EASTMONEY_URL", fake_eastmoney.url)
    job = build_definitions().resolve_job_def(f"{kind}_flow_job")
    result = job.execute_in_process(raise_on_error=False, tags={
        "dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert f"the partition range {start}...{end} selects nothing" in message
    assert "the start must come before the end" in message
    assert fake_eastmoney.request_count == 0


@pytest.mark.parametrize("name,value", [
    ("FINDATA_S3_ENDPOINT", f"http://minio:9000/?X-Amz-Signature={SECRET}"),
    ("FINDATA_S3_ENDPOINT", f"http://admin:{SECRET}@minio:9000"),
    ("FINDATA_S3_ENDPOINT", f"ftp://admin:{SECRET}@minio:9000"),
    ("FINDATA_LLM_BASE_URL", f"ftp://user:{SECRET}@llm.example.com/v1?key={SECRET}"),
    ("FINDATA_EASTMONEY_URL", f"ftp://user:{SECRET}@push2.eastmoney.com/api?token={SECRET}"),
    ("FINDATA_DATABASE_URL", f"mysql+pymysql://findata:{SECRET}@db:99999/findata"),
    ("FINDATA_DATABASE_TIMEOUT_S", "soon"),
])
def test_a_bad_setting_is_one_line_naming_it_and_never_its_credentials(
        monkeypatch, tmp_path, capsys, name, value):
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
    monkeypatch.setenv(name, value)
    assert main(["quick"]) == 2
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and name in lines[0], captured.err
    assert SECRET not in captured.err + captured.out and "Traceback" not in captured.err


@pytest.mark.slow
def test_three_clis_started_at_once_on_a_new_dagster_home_leave_a_working_instance(
        tmp_path, monkeypatch):
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": str(home), "FINDATA_HOME": str(tmp_path / "fh")}
        procs = [subprocess.Popen([sys.executable, "-m", "findata_assets.run", "status", "quick"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  cwd=tmp_path) for _ in range(3)]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_run(dg.DagsterRun(job_name="stock_flow_job"))  # the storage works
            assert len(instance.get_runs()) == 1


@pytest.mark.slow
def test_a_wrong_key_to_dagsters_cli_names_it_and_leaves_no_run_behind(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "FINDATA_HOME": str(tmp_path / "fh")}
    tags = '{"dagster/asset_partition_range_start": "nasdaq|1d", ' \
           '"dagster/asset_partition_range_end": "sz_b|1d"}'
    out = subprocess.run([str(Path(sys.executable).with_name("dagster")), "job", "execute",
                          "-m", "findata_assets", "-j", "stock_flow_job", "--tags", tags],
                         env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode != 0
    assert "Nonexistent partition keys" in out.stderr and "nasdaq" in out.stderr  # Dagster's
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    from findata_assets.cli import runs as cli_runs

    with dg.DagsterInstance.from_config(str(home)) as instance:
        [left] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED]))
        assert cli_runs.cancel_unstarted(instance) == []  # too young: it may still start
        assert cli_runs.cancel_unstarted(instance, min_age_s=0) == [left.run_id]
        assert instance.get_run_by_id(left.run_id).status == dg.DagsterRunStatus.CANCELED
