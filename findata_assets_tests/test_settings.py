"""Settings.from_env: embedded defaults, validation naming the variable, secrets never shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from findata_assets.settings import Settings, SettingsError
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.object_store import LocalObjectStore, S3ObjectStore

SECRET = "s3cr3t-VALUE-never-shown"
DB_PASSWORD = "pw-Never-Shown-42"
S3 = {"FINDATA_S3_ENDPOINT": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "AKIAFINDATATEST",
      "AWS_SECRET_ACCESS_KEY": SECRET}


def _all_text(settings: Settings) -> str:
    return " ".join([repr(settings), str(settings), str(settings.redacted())])


def test_defaults_are_embedded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.home == tmp_path / ".findata"
    assert s.home.is_absolute()
    assert s.database_url == f"sqlite:///{tmp_path}/.findata/findata.db"
    assert s.s3_endpoint is None and not s.uses_s3
    assert s.s3_bucket == "findata"
    assert s.s3_region == "us-east-1"
    assert s.archive_dir == tmp_path / ".findata" / "archive"
    assert s.aws_access_key_id is None and s.aws_secret_access_key is None
    assert s.database_backend == "sqlite"
    assert not (tmp_path / ".findata").exists(), "reading settings must not create folders"
    store = object_store_from_settings(s)
    assert isinstance(store, LocalObjectStore)
    assert store.describe() == str(tmp_path / ".findata" / "archive")


def test_from_env_reads_os_environ_by_default(clean_env, tmp_path):
    clean_env.setenv("FINDATA_HOME", str(tmp_path / "h"))
    assert Settings.from_env().home == tmp_path / "h"


def test_home_relative_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"FINDATA_HOME": "data/../here"})
    assert s.home == tmp_path / "here"
    assert s.database_url == f"sqlite:///{tmp_path}/here/findata.db"


def test_home_that_is_a_file_is_rejected(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SettingsError, match="FINDATA_HOME"):
        Settings.from_env({"FINDATA_HOME": str(afile)})


def test_blank_values_count_as_unset(tmp_path):
    s = Settings.from_env({"FINDATA_HOME": str(tmp_path), "FINDATA_DATABASE_URL": "  ",
                           "FINDATA_S3_ENDPOINT": "", "FINDATA_S3_BUCKET": ""})
    assert s.database_url.startswith("sqlite:///") and s.s3_endpoint is None
    assert s.s3_bucket == "findata"


def test_full_configuration(tmp_path):
    env = {"FINDATA_HOME": str(tmp_path),
           "FINDATA_DATABASE_URL": f"mysql+pymysql://findata:{DB_PASSWORD}@db.internal:3306/findata",
           "FINDATA_S3_BUCKET": "fund-flow.archive", "AWS_REGION": "cn-north-1", **S3}
    s = Settings.from_env(env)
    assert s.database_url == env["FINDATA_DATABASE_URL"]  # the real URL, for connecting
    assert s.database_backend == "mysql"
    assert s.s3_endpoint == "http://127.0.0.1:9000"
    assert s.s3_bucket == "fund-flow.archive"
    assert s.s3_region == "cn-north-1"
    assert s.aws_access_key_id == "AKIAFINDATATEST"
    assert s.aws_secret_access_key == SECRET
    store = object_store_from_settings(s)
    assert isinstance(store, S3ObjectStore)
    assert store.describe() == "s3://fund-flow.archive (http://127.0.0.1:9000)"


def test_secrets_absent_from_repr_str_and_redacted():
    env = {"FINDATA_DATABASE_URL": f"mysql+pymysql://findata:{DB_PASSWORD}@db:3306/findata", **S3}
    s = Settings.from_env(env)
    text = _all_text(s)
    assert DB_PASSWORD not in text
    assert SECRET not in text
    assert "AKIAFINDATATEST" not in text  # the key id is shortened too
    red = s.redacted()
    assert red["database_url"] == "mysql+pymysql://findata:***@db:3306/findata"
    assert red["aws_secret_access_key"] == "***"
    assert red["aws_access_key_id"].startswith("AKIA") and red["aws_access_key_id"] != "AKIAFINDATATEST"
    assert red["archive"] == "s3://findata (http://127.0.0.1:9000)"
    # still a frozen dataclass
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.s3_bucket = "other"  # type: ignore[misc]


def test_settings_built_directly_accept_str_paths():
    s = Settings(home=None, database_url="", s3_endpoint=None, archive_dir="rel/archive")
    assert s.archive_dir == Path("rel/archive")
    assert isinstance(object_store_from_settings(s), LocalObjectStore)
    assert Settings(home="/tmp/x", database_url="sqlite://").archive_dir == Path("/tmp/x/archive")


@pytest.mark.parametrize("url", [
    "not a url",
    f"mysql+pymysql://user:{DB_PASSWORD}@host:notaport/db",
    f"mysql+pymysql://user:{DB_PASSWORD}@host:99999/db",
    f"mysql+pymysql://user:{DB_PASSWORD}@with@at@host/db",   # unescaped '@' in the password
    f"nosuchdialect://user:{DB_PASSWORD}@host/db",
    f"mysql://user:{DB_PASSWORD}@host/db",                  # MySQLdb driver is not installed
    f"mysql+pymysql://user:{DB_PASSWORD}@host:3306",         # no database
    f"mysql+pymysql://user:{DB_PASSWORD}@host/db?charset=latin1",
])
def test_malformed_database_url_names_the_variable_not_the_password(url):
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"FINDATA_DATABASE_URL": url})
    message = str(excinfo.value)
    assert "FINDATA_DATABASE_URL" in message
    assert DB_PASSWORD not in message
    # the parser's own error (which may quote the URL) is not chained into tracebacks
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__


@pytest.mark.parametrize("url", [
    "sqlite:////tmp/x/findata.db", "sqlite://", "mysql+pymysql://root@127.0.0.1:3306/findata",
    "mariadb+pymysql://u:p%40ss@localhost/findata?charset=utf8mb4",
])
def test_valid_database_urls(url):
    assert Settings.from_env({"FINDATA_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("endpoint", [
    "127.0.0.1:9000", "ftp://host:21", "http://", "http://host:0", "http://host:70000",
    "http://host:9000/path", "http://host:9000?x=1", "http:///nohost", "http://bad host:9000",
])
def test_malformed_s3_endpoint_names_the_variable(endpoint):
    with pytest.raises(SettingsError, match="FINDATA_S3_ENDPOINT"):
        Settings.from_env({**S3, "FINDATA_S3_ENDPOINT": endpoint})


def test_s3_endpoint_with_credentials_is_rejected_without_echoing_them():
    with pytest.raises(SettingsError, match="FINDATA_S3_ENDPOINT") as excinfo:
        Settings.from_env({**S3, "FINDATA_S3_ENDPOINT": f"http://key:{SECRET}@host:9000"})
    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize("endpoint,expected", [
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
    ("https://s3.example.com", "https://s3.example.com"),
    ("http://[::1]:9000", "http://[::1]:9000"),
    ("http://minio:9000", "http://minio:9000"),
])
def test_valid_s3_endpoints(endpoint, expected):
    assert Settings.from_env({**S3, "FINDATA_S3_ENDPOINT": endpoint}).s3_endpoint == expected


@pytest.mark.parametrize("bucket", [
    "ab", "a" * 64, "Upper", "under_score", "-start", "end-", "two..dots", "192.168.1.1",
    "xn--punycode", "bucket-s3alias", "dot.-dash",
])
def test_malformed_bucket_names_the_variable(bucket):
    with pytest.raises(SettingsError, match="FINDATA_S3_BUCKET"):
        Settings.from_env({"FINDATA_S3_BUCKET": bucket})


@pytest.mark.parametrize("missing", [
    ["AWS_ACCESS_KEY_ID"], ["AWS_SECRET_ACCESS_KEY"], ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]])
def test_endpoint_needs_both_keys(missing):
    env = {k: v for k, v in S3.items() if k not in missing}
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env(env)
    for name in missing:
        assert name in str(excinfo.value)
    assert SECRET not in str(excinfo.value)


def test_keys_without_endpoint_are_ignored_for_the_archive():
    s = Settings.from_env({"AWS_ACCESS_KEY_ID": "id-only"})
    assert not s.uses_s3
    assert isinstance(object_store_from_settings(s), LocalObjectStore)


def test_secret_with_whitespace_is_rejected_without_echo():
    with pytest.raises(SettingsError, match="AWS_SECRET_ACCESS_KEY") as excinfo:
        Settings.from_env({**S3, "AWS_SECRET_ACCESS_KEY": "has space" + SECRET})
    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_region_variables(variable):
    assert Settings.from_env({variable: "eu-west-3"}).s3_region == "eu-west-3"
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: "Not A Region"})


def test_aws_region_wins_over_default_region():
    s = Settings.from_env({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"})
    assert s.s3_region == "eu-west-1"


def test_developer_environment_does_not_leak_into_tests():
    import os

    assert not [n for n in os.environ
                if n.startswith(("FINDATA_", "AWS_")) and not n.startswith("FINDATA_TEST_")]
