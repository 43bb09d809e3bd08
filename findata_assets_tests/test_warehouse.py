"""Warehouse on real MariaDB and on SQLite: schema, idempotent stores, history, rollback, speed.

Also the MariaDB provisioning logic of mariadb_setup.ensure_mariadb (with a simulated machine).
"""

from __future__ import annotations

import datetime as dt
import math
import time

import pymysql
import pytest
import sqlalchemy as sa

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import Group, TableSpec
from findata_assets.settings import Settings
from findata_assets.storage.warehouse import (
    PartialStoreError, SchemaMismatchError, StoreError, StoreResult, Warehouse)
from findata_assets_tests import mariadb_setup
from findata_assets_tests.ports import _bindable, pick_ports
from findata_assets_tests.service_error import ServiceError
from findata_assets_tests.synthetic_rows import synthetic_rows

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)
STOCK = catalog.table("stock", "all", "1d")
SECTOR = catalog.table("sector", "concept", "5d")


@pytest.fixture(params=["mysql", "sqlite"])
def db_url(request, tmp_path) -> str:
    if request.param == "mysql":
        return request.getfixturevalue("mysql_url")
    (tmp_path / "wh").mkdir()
    return f"sqlite:///{tmp_path}/wh/findata.db"


@pytest.fixture
def wh(db_url):
    warehouse = Warehouse(db_url, chunk_size=100)
    yield warehouse
    warehouse.dispose()


def tricky_rows(spec: TableSpec, trade_date: dt.date, count: int = 250, seed: int = 0) -> list[dict]:
    """Synthetic rows plus the values that break naive storage code."""
    rows = synthetic_rows(spec, trade_date, count, seed=seed)
    rows[0]["name"] = "平安银行'; DROP TABLE x; -- \\ \"q\" 100%s %(name)s\n\t\x00end"
    rows[1].update(price=None, change_pct=None, main_net=None, top_stock_name=None,
                   updated_at=None)  # NULLs stay NULL, never 0
    rows[2].update(main_net=0.0, main_pct=-0.0, price=1 / 3, super_large_net=1e17,
                   large_net=5e-324, small_pct=-1.7976931348623157e308)
    rows[3]["name"] = "😀 emoji name 测试"
    rows[4]["fetched_at"] = rows[4]["fetched_at"].replace(microsecond=1)
    return rows


def by_rank(rows):
    return sorted(rows, key=lambda r: (r["trade_date"], r["rank"], r["code"]))


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, by_rank(expected)):
        assert set(g) == set(catalog.COLUMN_NAMES)
        for name in catalog.COLUMN_NAMES:
            if e[name] is None:
                assert g[name] is None, (e["code"], name, g[name])
            else:
                assert g[name] == e[name], (e["code"], name, g[name], e[name])
                assert type(g[name]) is type(e[name]) or isinstance(e[name], float), name


# ------------------------------------------------------------------------------------------------
# store / read
# ------------------------------------------------------------------------------------------------
def test_store_and_read_roundtrip(wh):
    rows = tricky_rows(SECTOR, D1)
    result = wh.store(SECTOR, rows)
    assert isinstance(result, StoreResult)
    assert (result.table, result.rows, result.trade_dates) == (SECTOR.name, 250, [D1])
    assert result.chunks == 3 and result.seconds > 0
    got = wh.read(SECTOR, D1)
    assert_same_rows(got, rows)
    assert got[0]["rank"] == 1
    assert wh.read(SECTOR) == got
    assert wh.trade_dates(SECTOR) == [D1]
    assert wh.count(SECTOR) == 250
    nulls = next(r for r in got if r["code"] == rows[1]["code"])
    assert nulls["price"] is None and nulls["main_net"] is None and nulls["updated_at"] is None


def test_restore_same_day_replaces_rows_without_duplicates(wh):
    first = synthetic_rows(STOCK, D1, 300, seed=1)
    wh.store(STOCK, first)
    second = synthetic_rows(STOCK, D1, 240, seed=2)  # fewer codes, other values
    wh.store(STOCK, second)
    wh.store(STOCK, second)  # re-running is safe
    assert wh.count(STOCK) == 240
    assert_same_rows(wh.read(STOCK, D1), second)


def test_other_trade_dates_are_kept(wh):
    day1 = synthetic_rows(STOCK, D1, 120, seed=1)
    day2 = synthetic_rows(STOCK, D2, 130, seed=2)
    wh.store(STOCK, day1)
    wh.store(STOCK, day2)
    assert wh.trade_dates(STOCK) == [D1, D2]
    assert_same_rows(wh.read(STOCK, D1), day1)
    assert_same_rows(wh.read(STOCK, D2), day2)
    day2_again = synthetic_rows(STOCK, D2, 90, seed=3)
    wh.store(STOCK, day2_again)
    assert_same_rows(wh.read(STOCK, D1), day1)
    assert_same_rows(wh.read(STOCK, D2), day2_again)
    assert wh.count(STOCK) == 210


def test_one_store_with_two_trade_dates_replaces_both(wh):
    wh.store(STOCK, synthetic_rows(STOCK, D1, 50, seed=1) + synthetic_rows(STOCK, D2, 50, seed=1))
    wh.store(STOCK, synthetic_rows(STOCK, D3, 10))
    both = synthetic_rows(STOCK, D1, 20, seed=5) + synthetic_rows(STOCK, D2, 30, seed=5)
    result = wh.store(STOCK, both)
    assert result.trade_dates == [D1, D2]
    assert wh.count(STOCK, D1) == 20 and wh.count(STOCK, D2) == 30 and wh.count(STOCK, D3) == 10


def test_empty_rows_change_nothing(wh):
    rows = synthetic_rows(STOCK, D1, 10)
    wh.store(STOCK, rows)
    result = wh.store(STOCK, [])
    assert (result.rows, result.trade_dates, result.chunks) == (0, [], 0)
    assert wh.count(STOCK) == 10


def test_aware_datetimes_are_stored_as_shanghai_time(wh):
    rows = synthetic_rows(STOCK, D1, 3)
    rows[0]["fetched_at"] = dt.datetime(2026, 3, 2, 7, 0, 3, 500, tzinfo=dt.timezone.utc)
    wh.store(STOCK, rows)
    got = {r["code"]: r for r in wh.read(STOCK)}
    assert got[rows[0]["code"]]["fetched_at"] == dt.datetime(2026, 3, 2, 15, 0, 3, 500)


def test_missing_nullable_keys_are_null(wh):
    rows = synthetic_rows(STOCK, D1, 5)
    for row in rows:
        del row["top_stock_code"], row["price"]
    wh.store(STOCK, rows)
    assert all(r["price"] is None and r["top_stock_code"] is None for r in wh.read(STOCK))


@pytest.mark.parametrize("mutate,match", [
    (lambda rows: rows[3].update(bogus=1), "unknown columns"),
    (lambda rows: rows[3].update(rank=None), "NOT NULL column rank"),
    (lambda rows: rows[3].update(fetched_at=None), "NOT NULL column fetched_at"),
    (lambda rows: rows[3].update(code=rows[2]["code"]), "duplicate"),
    (lambda rows: rows[3].update(trade_date=dt.datetime(2026, 3, 2, 9)), "trade_date"),
    (lambda rows: rows[3].update(trade_date="2026-03-02"), "trade_date"),
])
def test_bad_rows_are_rejected_before_anything_is_written(wh, mutate, match):
    before = synthetic_rows(STOCK, D1, 20, seed=1)
    wh.store(STOCK, before)
    rows = synthetic_rows(STOCK, D1, 20, seed=2)
    mutate(rows)
    with pytest.raises(ValueError, match=match) as excinfo:
        wh.store(STOCK, rows)
    assert STOCK.name in str(excinfo.value)
    assert_same_rows(wh.read(STOCK), before)


def test_nan_is_refused_and_rolled_back(wh):
    before = synthetic_rows(STOCK, D1, 20, seed=1)
    wh.store(STOCK, before)
    rows = synthetic_rows(STOCK, D1, 20, seed=2)
    rows[5]["main_net"] = math.nan
    with pytest.raises((StoreError, ValueError), match="NaN"):
        wh.store(STOCK, rows)
    assert_same_rows(wh.read(STOCK), before)


def test_table_names_only_come_from_the_catalog(wh):
    evil = TableSpec(Group("stock", "x; DROP TABLE y", "坏", "bad", "m:0", "Bad"),
                     catalog.PERIODS["1d"])
    with pytest.raises(ValueError, match="not a table of the catalog"):
        wh.store(evil, [])
    with pytest.raises(ValueError):
        wh.ensure_table("stock_flow_all_1d")  # type: ignore[arg-type]


def test_store_many_pipelines_tables_each_in_its_own_transaction(wh):
    specs = [catalog.table("stock", "star", p) for p in catalog.STOCK_PERIODS]
    data = {s.name: synthetic_rows(s, D1, 150, seed=i) for i, s in enumerate(specs)}
    results = wh.store_many([(s, data[s.name]) for s in specs])
    assert [r.table for r in results] == [s.name for s in specs]
    assert [r.rows for r in results] == [150] * 4
    for s in specs:
        assert_same_rows(wh.read(s), data[s.name])


# ------------------------------------------------------------------------------------------------
# failures roll back
# ------------------------------------------------------------------------------------------------
def _fail_on_insert(engine, number: int, action):
    """Call action(conn) just before the number-th INSERT statement; returns the listener."""
    state = {"inserts": 0}

    def listener(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            state["inserts"] += 1
            if state["inserts"] == number:
                action(conn)

    sa.event.listen(engine, "before_cursor_execute", listener)
    return listener


def test_failure_between_chunks_rolls_back_and_rerun_completes(wh):
    before = synthetic_rows(STOCK, D1, 500, seed=1)
    wh.store(STOCK, before)
    new = synthetic_rows(STOCK, D1, 450, seed=2)

    def boom(conn):
        raise RuntimeError("simulated failure after two chunks")

    listener = _fail_on_insert(wh.engine, 3, boom)
    with pytest.raises(StoreError) as excinfo:
        wh.store(STOCK, new)
    sa.event.remove(wh.engine, "before_cursor_execute", listener)
    message = str(excinfo.value)
    assert excinfo.value.table == STOCK.name and STOCK.name in message
    assert "rolled back" in message and "after 2 insert chunk(s)" in message
    assert_same_rows(wh.read(STOCK), before)  # the previous data, untouched
    wh.store(STOCK, new)
    assert_same_rows(wh.read(STOCK), new)


def test_killed_connection_mid_store_rolls_back(mysql_url):
    wh = Warehouse(mysql_url, chunk_size=100)
    try:
        before = synthetic_rows(STOCK, D1, 500, seed=1)
        wh.store(STOCK, before)
        new = synthetic_rows(STOCK, D1, 480, seed=2)
        url = sa.engine.make_url(mysql_url)
        killer = pymysql.connect(host=url.host, port=url.port, user=url.username,
                                 password=url.password or "", autocommit=True)
        killed = []

        def kill(conn):
            thread_id = conn.connection.dbapi_connection.thread_id()
            with killer.cursor() as cur:
                cur.execute(f"KILL CONNECTION {int(thread_id)}")
            killed.append(thread_id)

        listener = _fail_on_insert(wh.engine, 3, kill)  # after two chunks went in
        with pytest.raises(StoreError) as excinfo:
            wh.store(STOCK, new)
        sa.event.remove(wh.engine, "before_cursor_execute", listener)
        killer.close()
        assert killed, "the hook never ran"
        assert STOCK.name in str(excinfo.value)
        assert isinstance(excinfo.value.__cause__, sa.exc.DBAPIError)
        assert_same_rows(wh.read(STOCK), before)  # pool_pre_ping replaced the dead connection
        result = wh.store(STOCK, new)
        assert result.rows == 480 and result.chunks == 5
        assert_same_rows(wh.read(STOCK), new)
    finally:
        wh.dispose()


def test_store_many_stops_at_the_failed_table(wh):
    specs = [catalog.table("stock", "sh_b", p) for p in ("1d", "3d", "5d")]
    old = {s.name: synthetic_rows(s, D1, 30, seed=1) for s in specs}
    wh.store_many([(s, old[s.name]) for s in specs])
    new = {s.name: synthetic_rows(s, D1, 30, seed=2) for s in specs}

    def boom(conn):
        raise RuntimeError("second table fails")

    listener = _fail_on_insert(wh.engine, 2, boom)  # 30 rows = 1 chunk per table
    with pytest.raises(PartialStoreError) as excinfo:
        wh.store_many([(s, new[s.name]) for s in specs])
    sa.event.remove(wh.engine, "before_cursor_execute", listener)
    partial = excinfo.value
    assert isinstance(partial.cause, StoreError) and partial.cause.table == specs[1].name
    assert [r.table for r in partial.stored] == [specs[0].name]
    assert partial.not_stored == [specs[1].name, specs[2].name]
    assert str(partial).startswith(f"1 of 3 tables stored, 2 not stored ({specs[1].name}, ")
    assert_same_rows(wh.read(specs[0]), new[specs[0].name])  # committed before the failure
    assert_same_rows(wh.read(specs[1]), old[specs[1].name])  # rolled back
    assert_same_rows(wh.read(specs[2]), old[specs[2].name])  # never touched


# ------------------------------------------------------------------------------------------------
# schema
# ------------------------------------------------------------------------------------------------
def _mysql_query(url: str, sql: str, *args):
    parsed = sa.engine.make_url(url)
    conn = pymysql.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                           password=parsed.password or "", database=parsed.database,
                           charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_mysql_table_types_comments_charset_and_keys(mysql_url):
    wh = Warehouse(mysql_url)
    wh.ensure_table(SECTOR)
    wh.dispose()
    name = SECTOR.name
    (table_comment, collation, engine), = _mysql_query(
        mysql_url, "SELECT TABLE_COMMENT, TABLE_COLLATION, ENGINE FROM information_schema.TABLES "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", name)
    assert table_comment == "概念5日资金流向" == SECTOR.label_zh
    assert collation.startswith("utf8mb4_") and engine == "InnoDB"
    columns = {r[0]: r[1:] for r in _mysql_query(
        mysql_url, "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, "
                   "COLUMN_COMMENT, CHARACTER_SET_NAME, DATETIME_PRECISION, COLUMN_KEY "
                   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                   "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", name)}
    assert list(columns) == list(catalog.COLUMN_NAMES)
    expected_type = {"date": "date", "code": "varchar", "text": "varchar", "int": "int",
                     "float": "double", "datetime": "datetime"}
    for column in catalog.COLUMNS:
        data_type, length, nullable, comment, charset, precision, key = columns[column.name]
        assert data_type == expected_type[column.sql_type], column.name
        assert comment == column.label_zh, column.name
        assert (nullable == "YES") == (column.nullable and column.name not in catalog.PRIMARY_KEY)
        if column.sql_type in ("code", "text"):
            assert charset == "utf8mb4"
            assert length == {"code": 16, "text": 64}[column.sql_type]
        if column.sql_type == "datetime":
            assert precision == 6  # fetched_at keeps microseconds
    pk = [r[0] for r in _mysql_query(
        mysql_url, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                   "DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
        name)]
    assert pk == ["trade_date", "code"]
    rank_index = [r[0] for r in _mysql_query(
        mysql_url, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                   "DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s ORDER BY SEQ_IN_INDEX",
        name, f"ix_{name}_date_rank")]
    assert rank_index == ["trade_date", "rank"]


def test_sqlite_table_types_and_primary_key(tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path}/x.db")
    wh.ensure_table(STOCK)
    with wh.engine.connect() as conn:
        info = conn.exec_driver_sql(f"PRAGMA table_info({STOCK.name})").all()
        indexes = conn.exec_driver_sql(f"PRAGMA index_list({STOCK.name})").all()
    wh.dispose()
    types = {row[1]: row[2] for row in info}
    assert types["trade_date"] == "DATE" and types["code"] == "VARCHAR(16)"
    assert types["price"] == "DOUBLE" and types["rank"] == "INTEGER"
    assert types["fetched_at"] == "DATETIME"
    assert [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])] == [
        "trade_date", "code"]
    assert any(row[1] == f"ix_{STOCK.name}_date_rank" for row in indexes)


def test_default_sqlite_file_is_created_under_findata_home(tmp_path):
    settings = Settings.from_env({"FINDATA_HOME": str(tmp_path / "home")})
    wh = Warehouse(settings.database_url)
    wh.store(STOCK, synthetic_rows(STOCK, D1, 5))
    wh.dispose()
    assert (tmp_path / "home" / "findata.db").is_file()


_BAD_SCHEMAS = {
    "missing column": ("CREATE TABLE {t} (trade_date DATE NOT NULL, code VARCHAR(16) NOT NULL, "
                       "name VARCHAR(64), PRIMARY KEY (trade_date, code))", ["rank", "fetched_at"]),
    "type family": (None, ["price"]),
    "primary key": (None, ["trade_date", "code"]),
    "extra column": (None, ["legacy_col"]),
}


def _create_like_catalog(conn, spec, *, price_type="DOUBLE", pk="trade_date, code", extra=""):
    columns = []
    for c in catalog.COLUMNS:
        sql_type = {"date": "DATE", "code": "VARCHAR(16)", "text": "VARCHAR(64)", "int": "INTEGER",
                    "float": "DOUBLE", "datetime": "DATETIME"}[c.sql_type]
        if c.name == "price":
            sql_type = price_type
        not_null = " NOT NULL" if c.name in ("trade_date", "code") else ""
        quoted = f"`{c.name}`" if conn.dialect.name in ("mysql", "mariadb") else f'"{c.name}"'
        columns.append(f"{quoted} {sql_type}{not_null}")
    if extra:
        columns.append(extra)
    conn.exec_driver_sql(f"CREATE TABLE {spec.name} ({', '.join(columns)}, PRIMARY KEY ({pk}))")


@pytest.mark.parametrize("case", list(_BAD_SCHEMAS))
def test_schema_mismatch_is_an_error_never_an_alter(db_url, case):
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        if case == "missing column":
            conn.exec_driver_sql(_BAD_SCHEMAS[case][0].format(t=STOCK.name))
        elif case == "type family":
            _create_like_catalog(conn, STOCK, price_type="VARCHAR(20)")
        elif case == "primary key":
            _create_like_catalog(conn, STOCK, pk="code")
        else:
            _create_like_catalog(conn, STOCK, extra="legacy_col INTEGER")

    def snapshot():
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return ([(c["name"], str(c["type"])) for c in inspector.get_columns(STOCK.name)],
                    inspector.get_pk_constraint(STOCK.name)["constrained_columns"])

    before = snapshot()
    wh = Warehouse(db_url)
    with pytest.raises(SchemaMismatchError) as excinfo:
        wh.store(STOCK, synthetic_rows(STOCK, D1, 5))
    wh.dispose()
    message = str(excinfo.value)
    assert STOCK.name in message and excinfo.value.table == STOCK.name
    for column in _BAD_SCHEMAS[case][1]:
        assert column in message and column in excinfo.value.columns
    assert snapshot() == before  # nothing was altered
    engine.dispose()


def test_existing_matching_table_is_reused(db_url):
    first = Warehouse(db_url)
    first.store(STOCK, synthetic_rows(STOCK, D1, 7))
    first.dispose()
    second = Warehouse(db_url)  # a new process: verifies the existing table, keeps its rows
    assert second.count(STOCK) == 7
    second.dispose()


def test_password_is_not_in_repr(mysql_url):
    url = sa.engine.make_url(mysql_url).set(password="very-secret-pw")
    wh = Warehouse(url)
    assert "very-secret-pw" not in repr(wh) and "***" in wh.describe()
    wh.dispose()


# ------------------------------------------------------------------------------------------------
# bulk insert path and speed (MariaDB)
# ------------------------------------------------------------------------------------------------
def _count_inserts(engine):
    statements = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, executemany))

    sa.event.listen(engine, "before_cursor_execute", listener)
    return statements, listener


def test_mysql_inserts_are_multi_row_statements(mysql_url):
    wh = Warehouse(mysql_url, chunk_size=1000)
    rows = synthetic_rows(STOCK, D1, 2500)
    statements, listener = _count_inserts(wh.engine)
    wh.store(STOCK, rows)
    sa.event.remove(wh.engine, "before_cursor_execute", listener)
    assert len(statements) == 3  # 1000 + 1000 + 500 rows
    assert [s.count("),(") + 1 for s, _ in statements] == [1000, 1000, 500]
    wh.dispose()


def test_mysql_executemany_path_is_rewritten_into_multi_row_inserts(mysql_url, monkeypatch):
    """insert_method="executemany": PyMySQL turns each executemany into few big INSERTs."""
    executed = []
    original = pymysql.cursors.Cursor.execute

    def counting_execute(self, query, args=None):
        head = query[:20].decode("utf-8", "replace") if isinstance(query, (bytes, bytearray)) else query[:20]
        if head.lstrip().upper().startswith("INSERT"):
            executed.append(len(query))
        return original(self, query, args)

    monkeypatch.setattr(pymysql.cursors.Cursor, "execute", counting_execute)
    wh = Warehouse(mysql_url, chunk_size=2000, insert_method="executemany")
    rows = tricky_rows(STOCK, D1, 3000)
    wh.store(STOCK, rows)
    assert 2 <= len(executed) <= 6, executed  # not one statement per row
    assert_same_rows(wh.read(STOCK), rows)
    wh.dispose()


@pytest.mark.slow
def test_bulk_store_of_all_41_tables(mysql_url, capsys):
    """~74k rows over the 41 tables (realistic sizes), the shape of a full refresh."""
    data = {spec.name: synthetic_rows(spec, D1) for spec in catalog.ALL_TABLES}
    total = sum(map(len, data.values()))
    assert 70_000 < total < 80_000
    wh = Warehouse(mysql_url)
    for spec in catalog.ALL_TABLES:
        wh.ensure_table(spec)
    statements, listener = _count_inserts(wh.engine)
    started = time.perf_counter()
    results = wh.store_many([(spec, data[spec.name]) for spec in catalog.ALL_TABLES])
    seconds = time.perf_counter() - started
    sa.event.remove(wh.engine, "before_cursor_execute", listener)
    assert sum(r.rows for r in results) == total
    assert len(statements) < 100  # multi-row statements, never one per row
    with capsys.disabled():
        print(f"\n[warehouse] stored {total} rows into 41 tables in {seconds:.2f}s: "
              f"{total / seconds:,.0f} rows/s ({len(statements)} INSERT statements)")
    # a floor that only catches row-by-row regressions on a busy 2-core machine
    assert total / seconds > 5_000
    assert wh.count(catalog.ALL_TABLES[0]) == len(data[catalog.ALL_TABLES[0].name])
    wh.dispose()


# ------------------------------------------------------------------------------------------------
# services: MariaDB provisioning (simulated machine) and ports
# ------------------------------------------------------------------------------------------------
class FakeMachine(mariadb_setup.MariaDBProbe):
    """A machine whose state changes as ensure_mariadb's commands run."""

    def __init__(self, *, installed=False, initialised=False, running=False, tcp_root=False,
                 root=True, password_protected=False):
        super().__init__()
        self.installed, self.initialised, self.running = installed, initialised, running
        self.tcp_root, self.root, self.password_protected = tcp_root, root, password_protected
        self.commands: list[list[str]] = []

    def run(self, argv, env=None, timeout_s=900):
        self.commands.append(list(argv))
        program = argv[0]
        if program == "apt-get" and "install" in argv:
            self.installed = True
        elif program == "mariadb-install-db":
            self.initialised = True
        elif program == "start-stop-daemon":
            assert self.installed and self.initialised
            self.running = True
        elif program in ("mariadb", "mysql") and "-e" in argv:
            assert self.running
            self.tcp_root = True

    def login_error(self):
        if self.running and self.tcp_root and not self.password_protected:
            return None
        return "Can't connect" if not self.running else "Access denied for user 'root'"

    def port_open(self):
        return self.running

    def binary_exists(self):
        return self.installed

    def is_root(self):
        return self.root

    def have(self, program):
        return True

    def datadir(self):
        return "/var/lib/mysql"

    def datadir_initialised(self, datadir):
        return self.initialised


def _ensure(machine, **kwargs):
    return mariadb_setup.ensure_mariadb(probe=machine, run=machine.run, log=lambda m: None, **kwargs)


def test_ensure_mariadb_does_nothing_when_root_logs_in():
    machine = FakeMachine(installed=True, initialised=True, running=True, tcp_root=True)
    assert _ensure(machine) == [] and machine.commands == []


def test_ensure_mariadb_on_a_fresh_machine_installs_starts_and_grants(monkeypatch):
    monkeypatch.setattr(mariadb_setup, "wait_for_port", lambda host, port, timeout_s: True)
    machine = FakeMachine()
    done = _ensure(machine)
    programs = [c[0] for c in machine.commands]
    assert programs == ["apt-get", "apt-get", "mariadb-install-db", "install",
                        "start-stop-daemon", "mariadb"]
    assert machine.commands[1][:3] == ["apt-get", "install", "-y"]
    start = machine.commands[4]
    assert start[:5] == ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec"]
    assert "/usr/sbin/mariadbd" in start and "--user=mysql" in start
    assert "--bind-address=127.0.0.1" in start and "--skip-name-resolve" in start
    assert "'root'@'127.0.0.1'" in machine.commands[5][-1]
    assert len(done) == 7 and machine.login_error() is None


def test_ensure_mariadb_installed_but_stopped_only_starts(monkeypatch):
    monkeypatch.setattr(mariadb_setup, "wait_for_port", lambda host, port, timeout_s: True)
    machine = FakeMachine(installed=True, initialised=True, tcp_root=True)
    _ensure(machine)
    assert [c[0] for c in machine.commands] == ["install", "start-stop-daemon"]


def test_ensure_mariadb_never_touches_a_running_server_with_other_credentials():
    machine = FakeMachine(installed=True, initialised=True, running=True, password_protected=True)
    with pytest.raises(ServiceError, match="FINDATA_TEST_MYSQL_URL"):
        _ensure(machine)
    assert machine.commands == []


def test_ensure_mariadb_without_root_explains():
    machine = FakeMachine(root=False)
    with pytest.raises(ServiceError, match="not root"):
        _ensure(machine)
    assert machine.commands == []


def test_ensure_mariadb_without_install_permission():
    with pytest.raises(ServiceError, match="install"):
        _ensure(FakeMachine(), install=False)


def test_ensure_mariadb_dry_run_lists_the_plan_and_runs_nothing():
    machine = FakeMachine()
    done = _ensure(machine, dry_run=True)
    assert machine.commands == []
    text = "\n".join(done)
    for expected in ("apt-get update", "apt-get install", "mariadb-install-db",
                     "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
                     "wait up to", "'root'@'127.0.0.1'"):
        assert expected in text


def test_ensure_mariadb_real_server_here_needs_nothing():
    """This machine's server answers: the real probe sees that, dry run or not."""
    assert mariadb_setup.ensure_mariadb(dry_run=True, log=lambda m: None) == []


def test_pick_ports_leaves_grpc_ports_free():
    ports = pick_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        assert 11000 <= port < 22700 and port + 10000 < 32768
        assert port + 10000 not in ports
        assert _bindable(port) and _bindable(port + 10000)
