"""Every definition loads, and the partitions are exactly the catalog's 41 tables."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from findata_assets.defs.eastmoney import partitions
from findata_assets.defs.eastmoney.families import FAMILIES
from findata_assets.eastmoney import catalog
from findata_assets.settings import SettingsError


@pytest.fixture
def defs(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("FINDATA_") or name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path))
    from findata_assets.definitions import build_definitions

    return build_definitions()


def test_definitions_load_and_resolve_every_job(defs):
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert job.name  # resolving builds the execution plan inputs; a broken selection raises
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"stock_flow_raw", "stock_flow", "sector_flow_raw", "sector_flow"} <= keys
    assert repo.has_job("stock_flow_job") and repo.has_job("sector_flow_job")


def test_partition_keys_are_the_41_catalog_tables(defs):
    stock = set(partitions.STOCK_PARTITIONS.get_partition_keys())
    sector = set(partitions.SECTOR_PARTITIONS.get_partition_keys())
    assert len(stock) == 32 and len(sector) == 9
    assert stock | sector == {t.partition_key for t in catalog.ALL_TABLES}
    assert "all|1d" in stock and "concept|10d" in sector and "industry|3d" not in sector


def test_table_assets_carry_the_six_checks(defs):
    graph = defs.get_repository_def().asset_graph
    for name in ("stock_flow", "sector_flow"):
        checks = {k.name for k in graph.get_check_keys_for_assets({dg.AssetKey(name)})}
        assert checks == {"complete", "codes_unique", "main_is_super_plus_large",
                          "shares_within_bounds", "values_parse", "trading_calendar_ahead"}


@pytest.mark.parametrize("name,value", [
    ("FINDATA_EASTMONEY_CONCURRENCY", "many"),
    ("FINDATA_EASTMONEY_CONCURRENCY", "0"),
    ("FINDATA_EASTMONEY_URL", "push2.eastmoney.com/api"),
    ("FINDATA_EASTMONEY_URL", "ftp://push2.eastmoney.com/api/qt/clist/get"),
    ("FINDATA_EASTMONEY_URL", "http://127.0.0.1:port/api/qt/clist/get"),
    ("FINDATA_DATABASE_URL", "not a url"),
])
def test_malformed_setting_fails_at_load_naming_it(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv("FINDATA_HOME", str(tmp_path))
    monkeypatch.setenv(name, value)
    from findata_assets.definitions import build_definitions

    with pytest.raises(SettingsError, match=name):
        build_definitions()


@pytest.mark.parametrize("url", ["http://10.0.0.5:8765", "http://10.0.0.5:8765/"])
def test_a_base_url_without_the_api_path_is_completed_at_load(url):
    from findata_assets.defs.location import build_definitions

    resources = build_definitions({"FINDATA_EASTMONEY_URL": url, "FINDATA_HOME": "/tmp/x"}).resources
    assert resources["eastmoney"].base_url == "http://10.0.0.5:8765/api/qt/clist/get"


def test_the_cli_reports_a_malformed_setting_in_one_line(monkeypatch, tmp_path, capsys):
    from findata_assets.cli.main import main

    monkeypatch.setenv("FINDATA_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("FINDATA_EASTMONEY_URL", "ftp://user:hunter2@example.com/x")
    assert main(["quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: FINDATA_EASTMONEY_URL must be an http(s) URL")
    assert "\n" not in err and "hunter2" not in err and "Traceback" not in err


def test_unknown_partition_key_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown stock group 'nasdaq'"):
        FAMILIES["stock"].specs(["nasdaq|1d"])
    with pytest.raises(KeyError, match="unknown sector period '3d'"):
        FAMILIES["sector"].specs(["industry|3d"])
    with pytest.raises(KeyError, match="malformed"):
        FAMILIES["stock"].specs(["all-1d"])


def test_the_package_is_a_code_location_too(tmp_path):
    """`-m findata_assets` (the issue's `dagster job execute -m findata_assets -j ...`) loads the
    same definitions as `-m findata_assets.definitions`, through Dagster's own loader."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINDATA_", "AWS_"))}
    env.update(FINDATA_HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path))
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run([str(dagster), "job", "list", "-m", "findata_assets"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for job in ("stock_flow_job", "sector_flow_job", "analysis_report_job"):
        assert job in out.stdout


def test_every_code_path_builds_the_stores_from_the_same_settings(tmp_path):
    """The code location and the analysis (alone, as the report samples use it) get the same
    warehouse and object store: the database timeout and the secrets as dg.EnvVar included."""
    from findata_assets.defs.location import build_analysis_definitions, build_definitions

    environ = {"FINDATA_HOME": str(tmp_path), "FINDATA_DATABASE_TIMEOUT_S": "7",
               "FINDATA_DATABASE_URL": "mysql+pymysql://u:pw@db:3306/findata",
               "FINDATA_S3_ENDPOINT": "http://minio:9000", "AWS_ACCESS_KEY_ID": "key",
               "AWS_SECRET_ACCESS_KEY": "secret-key"}
    for resources in (build_definitions(environ).resources,
                      build_analysis_definitions(environ).resources):
        warehouse, store = resources["warehouse"], resources["object_store"]
        assert warehouse.timeout_s == 7
        assert isinstance(warehouse.database_url, dg.EnvVar)  # the password stays in the env
        assert isinstance(store.aws_secret_access_key, dg.EnvVar) and store.bucket == "findata"


def test_asset_kinds_do_not_name_a_storage_server(defs):
    """The stores are configured (SQLite or MySQL, a folder or S3): the kinds say what an asset
    is made of, and each materialization's metadata names the store it went to."""
    graph = defs.get_repository_def().asset_graph
    servers = {"mysql", "mariadb", "sqlite", "postgres", "s3", "minio"}
    kinds = {key.to_user_string(): set(graph.get(key).kinds) for key in graph.get_all_asset_keys()}
    assert kinds["stock_flow"] == {"python", "sql"} and kinds["stock_flow_raw"] == {"python", "json"}
    assert all(not (k & servers) for k in kinds.values()), kinds


def test_the_run_names_below_the_wiring_are_the_wirings_own():
    """housekeeping/ reads policies and the intraday job by name (run_names.py): the names must
    be those the definitions give."""
    from findata_assets import run_names
    from findata_assets.defs.intraday.definitions import intraday_job
    from findata_assets.defs.refresh.policies import POLICIES

    assert tuple(POLICIES) == run_names.POLICY_NAMES
    assert intraday_job.name == run_names.INTRADAY_JOB_NAME
