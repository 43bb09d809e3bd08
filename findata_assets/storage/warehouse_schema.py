"""The warehouse's tables as SQLAlchemy Core: types, DDL from the catalog, and the check of an
existing table against it (no automatic ALTER: a mismatch is an error)."""

from __future__ import annotations

from typing import Optional, Union

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, make_url

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import COLUMNS, PRIMARY_KEY, TableSpec
from findata_assets.storage.warehouse_errors import SchemaMismatchError

MYSQL_CHARSET = "utf8mb4"
MYSQL_COLLATION = "utf8mb4_unicode_ci"
MYSQL_BACKENDS = ("mysql", "mariadb")
STRING_LENGTHS = {"code": 16, "text": 64}


def _family(sql_type: str) -> str:
    return {"date": "date", "code": "string", "text": "string", "int": "integer",
            "float": "float", "datetime": "datetime"}[sql_type]


def column_type(column: catalog.Column) -> sa.types.TypeEngine:
    kind = column.sql_type
    if kind == "date":
        return sa.Date()
    if kind in STRING_LENGTHS:
        return sa.String(STRING_LENGTHS[kind])
    if kind == "int":
        return sa.Integer()
    if kind == "float":
        return sa.Double(asdecimal=False)
    if kind == "datetime":
        # Microseconds kept on MySQL/MariaDB (DATETIME(6)); SQLite stores ISO text with them.
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_BACKENDS)
    raise ValueError(f"unknown catalog column type {kind!r}")


def reflected_family(type_: sa.types.TypeEngine) -> str:
    """Map a reflected column type to a comparable family name."""
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, (sa.Float, sa.Double)) or type(type_).__name__.upper() in (
            "DOUBLE", "REAL", "FLOAT", "DOUBLE_PRECISION"):
        return "float"
    if isinstance(type_, sa.Numeric):
        return "decimal"
    if isinstance(type_, sa.Integer) and not isinstance(type_, sa.Boolean):
        return "integer"
    if isinstance(type_, sa.String):
        return "string"
    return type(type_).__name__.lower()


def build_table(spec: TableSpec, metadata: Optional[sa.MetaData] = None) -> sa.Table:
    """The SQLAlchemy table of a catalog entry (not bound to an engine)."""
    metadata = metadata if metadata is not None else sa.MetaData()
    columns = [
        sa.Column(c.name, column_type(c), nullable=c.nullable and c.name not in PRIMARY_KEY,
                  primary_key=c.name in PRIMARY_KEY, autoincrement=False, comment=c.label_zh)
        for c in COLUMNS
    ]
    return sa.Table(
        spec.name, metadata, *columns,
        sa.Index(f"ix_{spec.name}_date_rank", "trade_date", "rank"),
        comment=spec.label_zh,
        **mysql_table_options(),
    )


def mysql_table_options() -> dict[str, str]:
    """InnoDB, utf8mb4 for every MySQL dialect name (ignored by SQLite)."""
    options = {}
    for prefix in MYSQL_BACKENDS:
        options |= {f"{prefix}_engine": "InnoDB", f"{prefix}_charset": MYSQL_CHARSET,
                    f"{prefix}_collate": MYSQL_COLLATION}
    return options


def normalize_url(url: Union[str, URL]) -> URL:
    """utf8mb4 for MySQL/MariaDB (other charsets are refused)."""
    url = make_url(url)
    if url.get_backend_name() in MYSQL_BACKENDS:
        charset = url.query.get("charset")
        if charset is None:
            url = url.update_query_dict({"charset": MYSQL_CHARSET})
        elif charset != MYSQL_CHARSET:
            raise ValueError(f"MySQL URLs must use charset={MYSQL_CHARSET}, got charset={charset}")
    return url


def verify_table(conn: sa.Connection, spec: TableSpec, backend: str) -> None:
    """An existing table against the catalog's schema; SchemaMismatchError lists every gap."""
    inspector = sa.inspect(conn)
    reflected = {c["name"].lower(): c for c in inspector.get_columns(spec.name)}
    expected = {c.name: c for c in COLUMNS}
    problems, bad = [], []
    missing = [name for name in expected if name not in reflected]
    extra = [name for name in reflected if name not in expected]
    if missing:
        problems.append(f"missing columns {missing}")
        bad += missing
    if extra:
        problems.append(f"unexpected columns {extra}")
        bad += extra
    for name, column in expected.items():
        if name not in reflected:
            continue
        got = reflected[name]["type"]
        want = _family(column.sql_type)
        family = reflected_family(got)
        if family != want:
            problems.append(f"column {name} is {got} ({family}), expected {want}")
            bad.append(name)
        elif want == "string":
            length = getattr(got, "length", None)
            if length is not None and length < STRING_LENGTHS[column.sql_type]:
                problems.append(f"column {name} is {got}, shorter than "
                                f"{STRING_LENGTHS[column.sql_type]} characters")
                bad.append(name)
    pk = [c.lower() for c in inspector.get_pk_constraint(spec.name).get("constrained_columns", [])]
    if pk != list(PRIMARY_KEY):
        problems.append(f"primary key is ({', '.join(pk) or 'none'}), expected "
                        f"({', '.join(PRIMARY_KEY)})")
        bad += list(PRIMARY_KEY)
    if backend in MYSQL_BACKENDS:
        rows = conn.execute(sa.text(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
            "AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> :cs"),
            {"t": spec.name, "cs": MYSQL_CHARSET}).all()
        for name, charset in rows:
            problems.append(f"column {name} uses charset {charset}, expected {MYSQL_CHARSET}")
            bad.append(name)
    if problems:
        raise SchemaMismatchError(spec.name, problems, bad)
