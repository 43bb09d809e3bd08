"""Issue 20, part 2 (first slice): a closed intraday day as one Parquet file in the bucket, on
MariaDB and SeaweedFS. The file equals the warehouse rows value for value (NULLs included), a
client that is not ours (pyarrow.dataset over S3, Hive partitioning) reads it, and a truncated or
differing file is named in one line and rebuilt by materializing the day again."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import pytest

from findata_assets.defs.location import build_definitions
from findata_assets.settings import Settings
from findata_assets.storage import intraday_history as history
from findata_assets.storage.intraday import IntradayStore
from findata_assets.resources.object_store import object_store_from_settings
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.intraday_rows import session_minutes, store_day

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 30)  # a Monday, closed
CODES = [f"{600000 + i}" for i in range(700)]
MINUTES = session_minutes(DAY, 6)


@pytest.fixture
def platform(monkeypatch, mysql_url, s3_env, dagster_home, tmp_path):
    env = {"FINDATA_HOME": str(tmp_path / "home"), "FINDATA_DATABASE_URL": mysql_url,
           "FINDATA_PARTITIONS_START": "2026-11-02", **s3_env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(os.environ)
    warehouse = Warehouse(settings.database_url)
    store_day(IntradayStore(warehouse), DAY, CODES, len(MINUTES))
    yield warehouse, object_store_from_settings(settings), s3_env
    warehouse.dispose()


def _materialize(instance) -> dg.ExecuteInProcessResult:
    job = build_definitions().resolve_job_def("intraday_history_job")
    return job.execute_in_process(  # the stock day only: the fixture stores no board minute
        partition_key=DAY.isoformat(), instance=instance, raise_on_error=False,
        asset_selection=[dg.AssetKey("stock_flow_intraday_history")])


def test_a_closed_day_is_a_verified_parquet_file_that_other_clients_read(platform):
    warehouse, store, s3_env = platform
    rows = IntradayStore(warehouse).read_day("stock", DAY, history.FILE_COLUMNS)
    with dg.DagsterInstance.get() as instance:
        result = _materialize(instance)
    assert result.success
    [event] = result.asset_materializations_for_node("stock_flow_intraday_history")
    metadata = {k: v.value for k, v in event.metadata.items()}
    key = f"history/stock_flow_intraday/trade_date={DAY}/part-0.parquet"
    assert metadata["parquet_key"] == key and metadata["rows"] == len(rows) == 700 * 6
    print(f"{len(rows):,} rows: {metadata['bytes']:,} bytes, {metadata['bytes_per_row']} B/row")

    # value for value, NULL for NULL, against the warehouse
    table = history.read_file(store, "stock", DAY)
    from_file = sorted(zip(*(table.column(c).to_pylist() for c in history.FILE_COLUMNS)))
    assert from_file == sorted(rows)
    assert sum(1 for r in from_file if r[history.FILE_COLUMNS.index("main_net")] is None) > 0

    # a client that is not ours: pyarrow.dataset over the bucket, Hive partitioning
    import pyarrow.dataset as ds
    from pyarrow import fs

    s3 = fs.S3FileSystem(access_key=s3_env["AWS_ACCESS_KEY_ID"],
                         secret_key=s3_env["AWS_SECRET_ACCESS_KEY"],
                         endpoint_override=s3_env["FINDATA_S3_ENDPOINT"].split("://")[1],
                         scheme="http", region=s3_env["AWS_REGION"])
    dataset = ds.dataset(f"{s3_env['FINDATA_S3_BUCKET']}/history/stock_flow_intraday",
                         filesystem=s3, format="parquet", partitioning="hive")
    one = dataset.to_table(filter=ds.field("code") == "600123").to_pylist()
    assert len(one) == 6 and {str(r["trade_date"]) for r in one} == {DAY.isoformat()}
    assert [r["minute"] for r in one] == MINUTES

    # our reader's ranged read: one stock, one minute
    assert history.read(store, "stock", DAY, code="600123").num_rows == 6
    assert history.read(store, "stock", DAY, minute=MINUTES[2]).num_rows == 700


def test_a_truncated_or_differing_file_is_named_and_rebuilt(platform):
    warehouse, store, _ = platform
    rows = IntradayStore(warehouse).read_day("stock", DAY, history.FILE_COLUMNS)
    with dg.DagsterInstance.get() as instance:
        assert _materialize(instance).success
        key = history.history_key("stock", DAY)
        body = store.get_bytes(key)
        store.put_bytes(key, body[: len(body) // 2], history.CONTENT_TYPE)
        with pytest.raises(history.HistoryFileError) as truncated:
            history.verify(store, "stock", DAY, history.to_arrow(rows))
        message = str(truncated.value)
        assert key in message and "truncated" in message and "\n" not in message

        changed = [list(r) for r in rows]
        changed[5][history.FILE_COLUMNS.index("main_net")] = 1.0
        history.write_day(store, "stock", DAY, history.to_arrow(changed))
        with pytest.raises(history.HistoryFileError, match=r"main_net of .* in the file"):
            history.verify(store, "stock", DAY, history.to_arrow(rows))

        assert _materialize(instance).success  # rebuilt from the warehouse, then verified
    assert history.verify(store, "stock", DAY, history.to_arrow(rows)) == len(rows)


def test_a_day_is_closed_only_after_its_session():
    from findata_assets.storage.intraday_reads import is_closed
    from findata_assets.trading_calendar import TZ

    assert not is_closed(DAY, dt.datetime(2026, 11, 30, 14, 59, tzinfo=TZ))
    assert is_closed(DAY, dt.datetime(2026, 11, 30, 15, 0, tzinfo=TZ))
    assert is_closed(DAY, dt.datetime(2026, 12, 1, 9, 0, tzinfo=TZ))
