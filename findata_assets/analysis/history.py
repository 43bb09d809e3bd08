"""The `fund_flow_analysis` SQL table: one row per trade date, history kept, upserted.

It holds the digest, the narrative and what it cost, so the report (and anyone with SQL) can
rebuild a day without recomputing anything. SQLAlchemy Core, MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from findata_assets.trading_calendar import TZ

if TYPE_CHECKING:
    from findata_assets.storage.warehouse import Warehouse

TABLE_NAME = "fund_flow_analysis"
_MYSQL = ("mysql", "mariadb")


def build_table(metadata: Optional[sa.MetaData] = None) -> sa.Table:
    metadata = metadata if metadata is not None else sa.MetaData()
    long_text = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)  # digests can exceed TEXT's 64 KB
    options = {}
    for prefix in _MYSQL:
        options |= {f"{prefix}_engine": "InnoDB", f"{prefix}_charset": "utf8mb4",
                    f"{prefix}_collate": "utf8mb4_unicode_ci"}
    return sa.Table(
        TABLE_NAME, metadata,
        sa.Column("trade_date", sa.Date, primary_key=True, autoincrement=False, comment="交易日"),
        sa.Column("digest_hash", sa.String(64), nullable=False, comment="sha256 of the digest"),
        sa.Column("digest_json", long_text, nullable=False, comment="numeric digest (JSON)"),
        sa.Column("narrative", long_text, comment="LLM narrative (Markdown), NULL when skipped"),
        sa.Column("narrative_status", sa.String(16), nullable=False, comment="ok|cached|skipped|failed"),
        sa.Column("narrative_detail", sa.String(500), comment="why skipped/failed (no secrets)"),
        sa.Column("model", sa.String(100)),
        sa.Column("prompt_version", sa.String(32)),
        sa.Column("lang", sa.String(8)),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("digest_key", sa.String(255), comment="object-store key of digest.json"),
        sa.Column("report_key", sa.String(255), comment="object-store key of the Markdown report"),
        sa.Column("created_at", sa.DateTime, nullable=False, comment="first analysis, Asia/Shanghai"),
        sa.Column("updated_at", sa.DateTime, nullable=False, comment="last analysis, Asia/Shanghai"),
        comment="每日资金流向分析 (digest + narrative)",
        **options,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(TZ).replace(tzinfo=None, microsecond=0)


class AnalysisHistory:
    """Read and upsert rows of `fund_flow_analysis` in the warehouse (through its connections:
    the warehouse's timeouts and driver apply)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.table = build_table()
        self._created = False

    def ensure(self) -> None:
        if not self._created:
            with self.warehouse.begin() as conn:
                self.table.metadata.create_all(conn, checkfirst=True)
            self._created = True

    def upsert(self, trade_date: dt.date, **values: Any) -> None:
        """Insert the day's row or update it in place; created_at keeps the first analysis time."""
        self.ensure()
        now = _now()
        row = {"trade_date": trade_date, **values, "updated_at": now}
        backend = self.warehouse.dialect
        with self.warehouse.begin() as conn:
            if backend in _MYSQL:
                stmt = mysql.insert(self.table).values(created_at=now, **row)
                conn.execute(stmt.on_duplicate_key_update(**row))
            elif backend == "sqlite":
                stmt = sqlite.insert(self.table).values(created_at=now, **row)
                conn.execute(stmt.on_conflict_do_update(index_elements=["trade_date"], set_=row))
            else:  # portable fallback: update, insert when nothing was there
                done = conn.execute(self.table.update()
                                    .where(self.table.c.trade_date == trade_date).values(**row))
                if not done.rowcount:
                    conn.execute(self.table.insert().values(created_at=now, **row))

    def set_report(self, trade_date: dt.date, report_key: str) -> None:
        self.ensure()
        with self.warehouse.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.trade_date == trade_date)
                         .values(report_key=report_key))

    def get(self, trade_date: dt.date) -> Optional[dict]:
        self.ensure()
        with self.warehouse.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.trade_date == trade_date)
                               ).mappings().first()
        return dict(row) if row else None

    def trade_dates(self) -> list[dt.date]:
        self.ensure()
        with self.warehouse.connect() as conn:
            return list(conn.execute(sa.select(self.table.c.trade_date)
                                     .order_by(self.table.c.trade_date)).scalars())
