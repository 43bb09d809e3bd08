"""The snapshot model: one table as the API returned it, its JSON form and its archive key.

Its own module so the HTTP client, the parsing and the storage all depend on it, not on each
other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Mapping

from findata_assets.trading_calendar import TZ as SHANGHAI

ARCHIVE_PREFIX = "raw"


@dataclass
class Snapshot:
    """One table as the API returned it: raw rows ("-" kept) plus how they were fetched."""

    table: str
    kind: str
    group_key: str
    period_key: str
    url: str  # without credentials or query
    params: dict  # the query that selects this table (its group's fs), first page
    fetched_at: datetime  # aware, Asia/Shanghai: when the group's fetch completed
    updated_at: datetime | None  # aware, Asia/Shanghai: max f124 over the rows (strays left out)
    trade_date: date
    total: int
    page_size: int
    pages: int
    requests: int  # HTTP requests of the group fetch that served this table, retries included
    shared_with: list[str]  # the other tables served by the same fetch
    rows: list[dict]
    trade_date_fallback: bool = False  # no usable f124: the latest trading day at fetched_at
    fetched_by: list[str] = field(default_factory=list)  # the `fs` filters paged for it
    synthetic: bool = False  # the server said its data is synthetic (the bundled fake)
    empty_terms: list[str] = field(default_factory=list)  # terms that selected nothing
    stray_updates: int = 0  # rows whose f124 lies after fetched_at: ignored for the date
    hedges: int = 0  # hedged duplicates sent for late pages (included in `requests`)
    deadlines_expired: int = 0  # requests cut off by the page deadline (included too)
    # which refresh lane fetched it (full, incremental, quick; "manual" from the UI or a test):
    # retention deletes only the high-frequency lanes' snapshots, so the key carries it
    lane: str = "manual"

    def to_json(self) -> dict:
        return {
            "table": self.table, "kind": self.kind, "group_key": self.group_key,
            "period_key": self.period_key, "url": self.url, "params": dict(self.params),
            "fetched_at": self.fetched_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "trade_date": self.trade_date.isoformat(), "total": self.total,
            "page_size": self.page_size, "pages": self.pages, "requests": self.requests,
            "shared_with": list(self.shared_with), "rows": self.rows,
            "trade_date_fallback": self.trade_date_fallback,
            "fetched_by": list(self.fetched_by), "synthetic": self.synthetic,
            "empty_terms": list(self.empty_terms), "stray_updates": self.stray_updates,
            "hedges": self.hedges, "deadlines_expired": self.deadlines_expired,
            "lane": self.lane,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "Snapshot":
        def moment(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value).astimezone(SHANGHAI) if value else None

        return cls(
            table=data["table"], kind=data["kind"], group_key=data["group_key"],
            period_key=data["period_key"], url=data["url"], params=dict(data["params"]),
            fetched_at=moment(data["fetched_at"]), updated_at=moment(data.get("updated_at")),
            trade_date=date.fromisoformat(data["trade_date"]), total=int(data["total"]),
            page_size=int(data["page_size"]), pages=int(data["pages"]),
            requests=int(data["requests"]), shared_with=list(data.get("shared_with", [])),
            rows=list(data["rows"]), trade_date_fallback=bool(data.get("trade_date_fallback")),
            fetched_by=list(data.get("fetched_by", [])), synthetic=bool(data.get("synthetic")),
            empty_terms=list(data.get("empty_terms", [])),
            stray_updates=int(data.get("stray_updates", 0)),
            hedges=int(data.get("hedges", 0)),
            deadlines_expired=int(data.get("deadlines_expired", 0)),
            lane=str(data.get("lane", UNKNOWN_LANE)),
        )


# The archive: one object per snapshot, compressed with zstd (3.5x on a 1.3 MB 全部股票 snapshot in
# 10 ms, where gzip takes 70 ms for the same size; BENCHMARKS.md). Objects written before that are
# plain JSON and stay readable: the key's suffix says which.
COMPRESSED_SUFFIX = ".json.zst"
PLAIN_SUFFIX = ".json"
CONTENT_TYPE, CONTENT_ENCODING = "application/json", "zstd"
ZSTD_LEVEL = 3


STAMP = "%Y%m%dT%H%M%S.%f"
UNKNOWN_LANE = "unknown"  # archived before keys carried the lane: retention keeps these
_LANE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def lane_name(policy: str | None) -> str:
    """The lane a run's policy tag names, fit for a key ("manual" without one)."""
    return policy if policy and _LANE.match(policy) else "manual"


def archive_key(snapshot: Snapshot) -> str:
    """raw/<table>/<trade_date>/<fetched_at>.<lane>.json.zst: every snapshot its own object,
    the lane that fetched it in the name (what retention may delete is told by the key)."""
    stamp = snapshot.fetched_at.strftime(STAMP)
    return (f"{ARCHIVE_PREFIX}/{snapshot.table}/{snapshot.trade_date.isoformat()}/"
            f"{stamp}.{lane_name(snapshot.lane)}{COMPRESSED_SUFFIX}")


def is_snapshot_key(key: str) -> bool:
    return key.endswith((COMPRESSED_SUFFIX, PLAIN_SUFFIX))


def _stamp_and_lane(key: str) -> tuple[str, str]:
    name = key.rsplit("/", 1)[1]
    for suffix in (COMPRESSED_SUFFIX, PLAIN_SUFFIX):
        name = name.removesuffix(suffix)
    parts = name.split(".")  # <date>T<time>.<micros>[.<lane>]
    stamp = ".".join(parts[:2])
    return stamp, parts[2] if len(parts) > 2 else UNKNOWN_LANE


def fetched_at_of_key(key: str) -> datetime:
    """The fetch time a snapshot's key carries (naive Asia/Shanghai), any form of key."""
    return datetime.strptime(_stamp_and_lane(key)[0], STAMP)


def lane_of_key(key: str) -> str:
    """The lane a snapshot's key names; UNKNOWN_LANE for keys from before lanes were kept."""
    return _stamp_and_lane(key)[1]


def encode(snapshot: Snapshot) -> bytes:
    """The archived form: compact UTF-8 JSON, zstd-compressed."""
    import orjson
    import zstandard

    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(orjson.dumps(snapshot.to_json()))


def decode(key: str, body: bytes) -> Snapshot:
    """A snapshot from its archived object: zstd (`.json.zst`) or, written before, plain JSON."""
    import orjson
    import zstandard

    if key.endswith(COMPRESSED_SUFFIX):
        body = zstandard.ZstdDecompressor().decompress(body)
    return Snapshot.from_json(orjson.loads(body))
