"""Shared fixtures: real MariaDB, a real S3 server (SeaweedFS), the fake Eastmoney API, Dagster home.

    mariadb_url (session)   server URL mysql+pymysql://root@127.0.0.1:3306 (no database); the
                            server is installed/started when missing (findata_assets_tests/mariadb_setup.py)
    mysql_url               a fresh empty database findata_test_<hex>, dropped afterwards
    s3_server (session)     `weed server -s3` on free loopback ports: .endpoint, .access_key,
                            .secret_key, .region, .client(), .log_path
    s3_bucket / s3_env      a fresh bucket name / the FINDATA_S3_* and AWS_* variables for it
    fake_eastmoney          a started, frozen FakeEastmoneyServer (scale 0.1); options with
                            @pytest.mark.fake_eastmoney(scale=..., latency_ms=..., ...)
    dagster_home            a temporary DAGSTER_HOME with a minimal dagster.yaml
    clean_env               monkeypatch, with FINDATA_* / AWS_* removed (done for every test)

Every test starts without the developer's FINDATA_* and AWS_* variables (FINDATA_TEST_* stay:
they configure the test services), so no test reads a real database or bucket by accident.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from findata_assets_tests.mariadb_setup import (ENV_TEST_MYSQL_URL, MARIADB_HOST, MARIADB_PORT,
                                                MARIADB_SERVER_URL, ensure_mariadb,
                                                mariadb_login_error)
from findata_assets_tests.scratch_databases import create_test_database, drop_test_database
from findata_assets_tests.service_error import ServiceError
from findata_assets_tests.weed_s3 import WeedS3Server

_KEPT_PREFIX = "FINDATA_TEST_"
_CLEARED_PREFIXES = ("FINDATA_", "AWS_")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_eastmoney(**kwargs): options for the fake_eastmoney fixture "
                   "(scale, latency_ms, fault_rate, seed, frozen, trade_date)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line(
        "markers", "integration: end to end over several services (MariaDB, S3, the fake API)")


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) and not name.startswith(_KEPT_PREFIX):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_env(monkeypatch)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """monkeypatch with FINDATA_* and AWS_* removed; set what the test needs on it."""
    _clear_env(monkeypatch)
    return monkeypatch


# ------------------------------------------------------------------------------------------------
# MariaDB
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """A MariaDB/MySQL server URL without a database, root over TCP (or FINDATA_TEST_MYSQL_URL)."""
    custom = os.environ.get(ENV_TEST_MYSQL_URL)
    if custom:
        url = custom
    else:
        try:
            ensure_mariadb()
        except ServiceError as exc:
            pytest.fail(f"MariaDB is not available for the tests: {exc}", pytrace=False)
        url = MARIADB_SERVER_URL
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    error = mariadb_login_error(parsed.host or MARIADB_HOST, parsed.port or MARIADB_PORT,
                                parsed.username or "root", parsed.password or "")
    if error is not None:
        pytest.fail(f"cannot log in to {parsed.render_as_string(hide_password=True)}: {error}",
                    pytrace=False)
    return url


@pytest.fixture
def mysql_url(mariadb_url: str):
    """URL of a fresh, empty utf8mb4 database findata_test_<hex>; dropped after the test."""
    name, url = create_test_database(mariadb_url)
    try:
        yield url
    finally:
        drop_test_database(mariadb_url, name)


# ------------------------------------------------------------------------------------------------
# S3 (SeaweedFS)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """A SeaweedFS S3 server for the session; its log stays in the pytest temp dir."""
    server = WeedS3Server(tmp_path_factory.mktemp("weed"))
    try:
        server.start()
    except ServiceError as exc:
        server.stop()
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket() -> str:
    """A fresh bucket name (not created: the stores create their bucket on first use)."""
    return f"findata-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_env(s3_server: WeedS3Server, s3_bucket: str) -> dict[str, str]:
    return s3_server.env(s3_bucket)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test that used the S3 server gets the tail of the weed log in its report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        server = getattr(item, "funcargs", {}).get("s3_server")
        if isinstance(server, WeedS3Server):
            report.sections.append((f"weed log ({server.log_path}, tail)", server.log_tail(40)))


# ------------------------------------------------------------------------------------------------
# fake Eastmoney API
# ------------------------------------------------------------------------------------------------
FAKE_EASTMONEY_DEFAULTS = {"host": "127.0.0.1", "port": 0, "latency_ms": 0, "fault_rate": 0.0,
                           "seed": 0, "scale": 0.1, "frozen": True, "trade_date": None}


@pytest.fixture
def start_fake_eastmoney():
    """A factory of started FakeEastmoneyServers (keyword arguments as the class takes them),
    each stopped after the test."""
    from findata_assets.fake_eastmoney import FakeEastmoneyServer

    started = []

    def start(**kw):
        server = FakeEastmoneyServer(**({"host": "127.0.0.1", "port": 0} | kw)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fake_eastmoney(request: pytest.FixtureRequest):
    """A started FakeEastmoneyServer (frozen, scale 0.1 unless the marker says otherwise)."""
    from findata_assets.fake_eastmoney import FakeEastmoneyServer  # only tests using it need it

    options = dict(FAKE_EASTMONEY_DEFAULTS)
    marker = request.node.get_closest_marker("fake_eastmoney")
    if marker is not None:  # any FakeEastmoneyServer keyword argument
        options.update(marker.kwargs)
    server = FakeEastmoneyServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------------
# Dagster
# ------------------------------------------------------------------------------------------------
DAGSTER_YAML = """\
telemetry:
  enabled: false
"""


@pytest.fixture
def project_dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary DAGSTER_HOME with the project's own dagster.yaml (queued run coordinator,
    lane limits, the eastmoney pool), as an operator's instance has."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary DAGSTER_HOME with a minimal dagster.yaml (telemetry off)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def platform_stores(monkeypatch: pytest.MonkeyPatch, mysql_url: str, s3_env: dict[str, str],
                    dagster_home: Path, tmp_path: Path):
    """(IntradayStore, archive) of the platform on this test's MariaDB database, S3 bucket and
    DAGSTER_HOME, set in the environment as a user sets them (the reader and the code location
    read the same)."""
    from findata_assets import reader
    from findata_assets.settings import Settings
    from findata_assets.storage.intraday import IntradayStore
    from findata_assets.resources.object_store import object_store_from_settings
    from findata_assets.storage.warehouse import Warehouse

    env = {"FINDATA_HOME": str(tmp_path / "home"), "FINDATA_DATABASE_URL": mysql_url,
           "FINDATA_PARTITIONS_START": "2026-11-02", **s3_env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reader.reset()
    settings = Settings.from_env(os.environ)
    warehouse = Warehouse(settings.database_url)
    yield IntradayStore(warehouse), object_store_from_settings(settings)
    reader.reset()
    warehouse.dispose()


# ------------------------------------------------------------------------------------------------
# pytest-xdist: run_tests.sh runs the suite on several workers (--dist loadgroup, pytest.ini)
# ------------------------------------------------------------------------------------------------
# Each worker is its own session (its own SeaweedFS on free ports, its own temp folders);
# databases, buckets and DAGSTER_HOMEs are per test. The modules below share one expensive
# module-scoped fixture, and their tests rely on it being the same one (the daemon's failing run
# started by the fixture is checked by a later test): each marks itself
# `xdist_group(<its file name>)`, so its tests run together on one worker and the fixture is
# built once (a marker added here would come too late for xdist's own hook in the workers),
# and they go out first, so the longest groups do not start last and end the run late.
SHARED_MODULE_FIXTURES = {
    "test_daemon_e2e.py": "one dagster-daemon stack for the module",
    "test_ui.py": "one webserver over one full refresh, one browser",
    "test_forking_launcher.py": "one dagster-daemon over a small code location",
}


# Tests that take many minutes of real time on the daemon's clock (mostly waiting): started
# first, on a worker that is given nothing else while they run, so the rest of the suite runs
# beside them instead of after them (LongestFirstScheduling).
LONGEST_FIRST = ("test_daemon_coverage.py",)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class LongestFirstScheduling(LoadGroupScheduling):
        """xdist's loadgroup, except that a worker with a LONGEST_FIRST test gets one more
        test, the last of the queue (a worker starts a test only once it knows the next one),
        and then nothing while others remain (xdist tops a worker up when two or fewer of its
        tests are left: they would wait the long test out); and the work goes out in the
        collection's order (pytest_collection_modifyitems), not xdist's largest-group-first."""

        def __init__(self, config: pytest.Config, log=None) -> None:
            super().__init__(config, log)
            config.option.loadscopereorder = False

        def _reschedule(self, node) -> None:
            if node.shutting_down:  # as xdist's own: a unit sent now would never run
                return
            pending = [nodeid for unit in self.assigned_work[node].values()
                       for nodeid, done in unit.items() if not done]
            long = [nodeid for nodeid in pending if nodeid.split("::")[0].endswith(LONGEST_FIRST)]
            if not long or not self.workqueue:
                super()._reschedule(node)
            elif len(long) == len(pending):  # a companion to run after it: the queue's last
                scope, unit = self.workqueue.popitem(last=True)
                self.workqueue[scope] = unit
                self.workqueue.move_to_end(scope, last=False)
                self._assign_work_unit(node)

    return LongestFirstScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    first = [item for item in items if item.path.name in LONGEST_FIRST]
    shared = [item for item in items if item.path.name in SHARED_MODULE_FIXTURES]
    # only when parallel: the controller has -n, its workers (which collect, and whose order
    # the controller's scheduler follows) have PYTEST_XDIST_WORKER instead
    parallel = getattr(config.option, "numprocesses", None) or os.environ.get("PYTEST_XDIST_WORKER")
    if (first or shared) and parallel:
        rest = [item for item in items if item not in first and item not in shared]
        items[:] = first + shared + rest
