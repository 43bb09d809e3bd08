"""What a process pays before and around its work: the code location and the every-minute path
import only what they use, and one process builds one S3 client however many runs it executes.

Each check runs in a fresh interpreter (a subprocess), as a command or a run worker starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# heavy libraries that neither building the code location nor a crawl needs: the charts, the
# Parquet history, the AI client
NOT_ON_THE_CRAWL_PATH = ("matplotlib", "pyarrow", "openai")


def _python(code: str, env: dict[str, str], timeout_s: float = 240, prelude: str = "") -> dict:
    """Run `prelude` then `code` in a fresh interpreter from the repo; it prints one JSON line
    last."""
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=REPO,
                         env=env,
                         capture_output=True, text=True, timeout=timeout_s)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# Code for _python: counts the clients botocore builds (`made`, by service), and the calls
# through them (`calls`, every S3 operation; `heads`, the bucket checks)
COUNT_S3_CLIENTS = """
import json
import botocore.client

made, calls, heads = [], [], []
create = botocore.client.ClientCreator.create_client

def counting(self, service_name, *args, **kwargs):
    made.append(service_name)
    client = create(self, service_name, *args, **kwargs)
    client.meta.events.register("before-call.s3", lambda **kw: calls.append(1))
    client.meta.events.register("before-call.s3.HeadBucket", lambda **kw: heads.append(1))
    return client

botocore.client.ClientCreator.create_client = counting
"""


def _loaded_report(names=NOT_ON_THE_CRAWL_PATH) -> str:
    """A Python expression: which of `names` the interpreter has imported."""
    return f"{{m: m in sys.modules for m in {list(names)!r}}}"


def test_building_the_code_location_loads_no_charts_parquet_or_ai_client(dagster_home):
    loaded = _python(f"""
        import json, sys
        import findata_assets.definitions as location
        defs = location.location()  # what `dagster` loads: the built definitions
        assert len(list(defs.resolve_asset_graph().get_all_asset_keys())) >= 10  # every area built
        print(json.dumps({_loaded_report()}))
    """, os.environ.copy())
    assert loaded == {m: False for m in NOT_ON_THE_CRAWL_PATH}


def test_building_the_code_location_loads_no_aws_client_library(dagster_home):
    """dagster-aws (every AWS component it has) and botocore load at the first S3 call."""
    loaded = _python(f"""
        import json, sys
        import findata_assets.definitions as location
        location.location()
        print(json.dumps({_loaded_report(("dagster_aws", "boto3", "botocore"))}))
    """, os.environ.copy())
    assert loaded == {"dagster_aws": False, "boto3": False, "botocore": False}


def test_the_quick_command_loads_no_charts_parquet_or_ai_client(dagster_home, tmp_path,
                                                                 fake_eastmoney):
    env = os.environ | {"FINDATA_HOME": str(tmp_path / "home"),
                        "FINDATA_EASTMONEY_URL": fake_eastmoney.url}
    result = _python(f"""
        import json, sys
        from findata_assets.cli.main import main
        rc = main(["quick"])
        print(json.dumps({{"rc": rc, "loaded": {_loaded_report()}}}))
    """, env)
    assert result["rc"] == 0
    assert result["loaded"] == {m: False for m in NOT_ON_THE_CRAWL_PATH}


def test_the_check_sees_a_library_that_is_loaded(dagster_home):
    """The import checks above can fail: a module that is loaded is reported as such."""
    loaded = _python(f"""
        import json, sys
        import findata_assets.definitions
        import pyarrow
        print(json.dumps({_loaded_report()}))
    """, os.environ.copy())
    assert loaded["pyarrow"] is True


@pytest.mark.integration
def test_one_process_builds_one_s3_client_for_every_run(platform_stores, dagster_home,
                                                        fake_eastmoney):
    """Three `quick` runs and a read of what they stored, in one process, on a real S3 server:
    botocore builds one S3 client, and the bucket is looked up once."""
    env = os.environ | {"FINDATA_EASTMONEY_URL": fake_eastmoney.url}
    result = _python("""
        from findata_assets.cli.main import main
        codes = [main(["quick"]) for _ in range(3)]
        import os
        from findata_assets.resources.object_store import object_store_from_settings
        from findata_assets.settings import Settings
        keys = object_store_from_settings(Settings.from_env(os.environ)).list_keys("raw/")
        print(json.dumps({"codes": codes, "clients": made, "head_bucket": len(heads),
                          "archived": len(keys)}))
    """, env, timeout_s=400, prelude=COUNT_S3_CLIENTS)
    assert result["codes"] == [0, 0, 0]
    assert result["archived"] >= 3  # the runs did archive through that client
    assert result["clients"] == ["s3"]
    assert result["head_bucket"] == 1


def test_the_client_built_before_the_fork_is_the_one_the_runs_use(platform_stores, dagster_home,
                                                                  fake_eastmoney):
    """The warm worker's preload call builds the archive's S3 client without sending anything;
    a run in that process (a forked worker) then builds none of its own."""
    env = os.environ | {"FINDATA_EASTMONEY_URL": fake_eastmoney.url}
    result = _python("""
        from findata_assets.resources.object_store import build_clients_before_fork
        build_clients_before_fork()
        before = {"clients": list(made), "calls": len(calls)}
        from findata_assets.cli.main import main
        code = main(["quick"])
        print(json.dumps({"before": before, "code": code, "clients": made,
                          "calls": len(calls)}))
    """, env, timeout_s=400, prelude=COUNT_S3_CLIENTS)
    assert result["before"] == {"clients": ["s3"], "calls": 0}  # built, nothing sent
    assert result["code"] == 0
    assert result["clients"] == ["s3"]  # the run used it
    assert result["calls"] >= 2  # the bucket check and the snapshot's upload, through it
