"""The catalog: 41 tables as data, names and keys the rest of the platform relies on."""

from __future__ import annotations

import re
from itertools import combinations

import pytest

from findata_assets.eastmoney import catalog


def test_41_tables_8_markets_x_4_periods_plus_3_boards_x_3_periods():
    assert len(catalog.STOCK_TABLES) == len(catalog.MARKETS) * len(catalog.STOCK_PERIODS) == 32
    assert len(catalog.SECTOR_TABLES) == len(catalog.BOARDS) * len(catalog.SECTOR_PERIODS) == 9
    assert len(catalog.ALL_TABLES) == 41
    assert {(t.kind, t.period.key) for t in catalog.SECTOR_TABLES} == {
        ("sector", p) for p in ("1d", "5d", "10d")}  # the API has no 3-day sector ranking


def test_names_partition_keys_and_legacy_names_are_unique():
    for attr in ("name", "partition_key", "legacy_table_name", "label_zh"):
        values = [getattr(t, attr) for t in catalog.ALL_TABLES]
        assert len(set(values)) == 41, attr
    assert set(catalog.TABLES_BY_NAME) == {t.name for t in catalog.ALL_TABLES}


def test_table_names_are_lowercase_identifiers_that_fit_mysql():
    pattern = re.compile(r"^(stock|sector)_flow_[a-z0-9_]+_(1d|3d|5d|10d)$")
    for t in catalog.ALL_TABLES:
        assert pattern.match(t.name), t.name
        assert len(t.name) <= 64
        assert t.name == f"{t.kind}_flow_{t.group.key}_{t.period.key}"


def test_every_table_has_fs_fields_and_fid():
    for t in catalog.ALL_TABLES:
        assert t.group.fs and " " not in t.group.fs
        assert all(re.fullmatch(r"m:\d+\+t:\d+(\+f:!2)?", term) for term in t.group.fs.split(","))
        assert t.period.fid in t.period.fields  # ranked by a field we also receive
        assert len(set(t.period.fields)) == len(t.period.fields)
        assert all(re.fullmatch(r"f\d+", f) for f in t.period.fields)
        # every required field is requested, so a missing one really is drift
        assert set(t.required_fields()) <= set(t.period.fields)
        assert t.field_map()["main_net"] == t.period.fid


def test_field_map_covers_every_value_column_and_stock_tables_have_no_top_stock():
    value_columns = {c.name for c in catalog.COLUMNS} - {
        "trade_date", "code", "name", "rank", "updated_at", "fetched_at"}
    for t in catalog.ALL_TABLES:
        expected = value_columns if t.kind == "sector" else value_columns - {
            "top_stock_code", "top_stock_name"}
        assert set(t.field_map()) == expected, t.name


def test_value_fields_of_different_periods_never_collide():
    """What lets one request carry several periods' fields (client.fetch_tables)."""
    for kind in ("stock", "sector"):
        specs = [catalog.table(kind, next(iter(catalog.groups(kind))), p)
                 for p in catalog.periods_of(kind)]
        for a, b in combinations(specs, 2):
            fa = set(a.field_map().values()) - {"f2"}
            fb = set(b.field_map().values()) - {"f2"}
            assert not fa & fb, (a.name, b.name, fa & fb)


def test_partition_keys_round_trip():
    for t in catalog.ALL_TABLES:
        assert t.partition_key == f"{t.group.key}|{t.period.key}"
        assert catalog.table_for_partition(t.kind, t.partition_key) == t
        assert catalog.table(t.kind, t.group.key, t.period.key) == t


@pytest.mark.parametrize("kind,key,needle", [
    ("stock", "nasdaq|1d", "'nasdaq'"),
    ("stock", "all|2d", "'2d'"),
    ("sector", "industry|3d", "'3d'"),  # exists for stocks only
    ("sector", "all|1d", "'all'"),
    ("stock", "all", "malformed"),
    ("stock", "all|1d|x", "malformed"),
])
def test_unknown_keys_give_clear_errors(kind, key, needle):
    with pytest.raises(KeyError) as info:
        catalog.table_for_partition(kind, key)
    message = str(info.value)
    assert needle in message
    if "malformed" not in needle:
        assert "expected one of" in message


def test_columns_shared_schema():
    assert catalog.COLUMN_NAMES[:2] == catalog.PRIMARY_KEY
    assert len(set(catalog.COLUMN_NAMES)) == len(catalog.COLUMN_NAMES)
    not_null = {c.name for c in catalog.COLUMNS if not c.nullable}
    assert {"trade_date", "code", "rank", "fetched_at"} == not_null
