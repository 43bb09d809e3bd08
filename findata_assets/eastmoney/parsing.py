"""Pure functions from HTTP bodies to rows: no I/O here, so every rule is unit-testable.

- `decode_body` / `parse_page`: JSONP or plain JSON -> (total, raw rows); `np=2` objects -> lists.
- `check_required`: a row without a required field is schema drift, never a silent NULL.
- `typed_rows`: raw API rows of one snapshot -> rows with exactly `catalog.COLUMN_NAMES` keys,
  "-" -> None, ranks computed here (the pages were fetched sorted by code, see client.py).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, SchemaDriftError, ValueParseError)

if TYPE_CHECKING:  # client.py imports this module; only the type is needed here
    from findata_assets.eastmoney.client import Snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")
MISSING = "-"  # the API's spelling of "unknown" (suspended stock, new board): NULL, never 0

# `cb=jQuery123_456` wraps the JSON as `jQuery123_456({...});`
_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*$", re.DOTALL)


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict]


def decode_body(text: str) -> Any:
    """Body text -> JSON value. Empty, truncated or non-JSON bodies are retryable errors."""
    if not text or not text.strip():
        raise BadResponseError("empty body")
    match = _JSONP.match(text)
    payload = match.group(1) if match else text
    try:
        return json.loads(payload)
    except ValueError as exc:
        snippet = text[:80].replace("\n", " ")
        raise BadResponseError(f"body is not JSON ({exc.msg} at {exc.pos}): {snippet!r}") from None


def parse_page(payload: Any, table: str) -> Page:
    """Validate the envelope `{"rc":0,"data":{"total":N,"diff":[...]}}` and return its rows.

    rc != 0 and `data: null` are the API's way of failing softly: retryable. A missing key or a
    wrong type means the API changed: SchemaDriftError, so nobody retries it forever.
    """
    if not isinstance(payload, dict):
        raise SchemaDriftError(table, "<envelope>", f"expected a JSON object, got "
                                                    f"{type(payload).__name__}")
    rc = payload.get("rc", 0)
    if rc != 0:
        raise BadResponseError(f"rc={rc!r}")
    if "data" not in payload:
        raise SchemaDriftError(table, "data", f"envelope keys: {sorted(payload)}")
    data = payload["data"]
    if data is None:
        raise BadResponseError("data: null")
    if not isinstance(data, dict):
        raise SchemaDriftError(table, "data", f"expected an object, got {type(data).__name__}")
    total = data.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise SchemaDriftError(table, "data.total", f"expected a count, got {total!r}")
    if "diff" not in data:
        raise SchemaDriftError(table, "data.diff", f"data keys: {sorted(data)}")
    return Page(total, _diff_rows(data["diff"], table))


def _diff_rows(diff: Any, table: str) -> list[dict]:
    if isinstance(diff, dict):  # np=2: {"0": {...}, "1": {...}}; order by the numeric key
        try:
            diff = [diff[k] for k in sorted(diff, key=int)]
        except ValueError:
            raise SchemaDriftError(table, "data.diff", "np=2 keys not numeric") from None
    if not isinstance(diff, list):
        raise SchemaDriftError(table, "data.diff", f"expected a list, got {type(diff).__name__}")
    for i, row in enumerate(diff):
        if not isinstance(row, dict):
            raise SchemaDriftError(table, f"data.diff[{i}]", f"expected an object, got "
                                                            f"{type(row).__name__}")
    return diff


def check_required(rows: Iterable[Mapping], required: Mapping[str, str]) -> None:
    """`required` maps field code -> the table that needs it; the first gap raises."""
    wanted = required.keys()
    for row in rows:
        gaps = wanted - row.keys()
        if gaps:
            field = next(f for f in required if f in gaps)  # in the order the caller gave
            code = row.get(catalog.CODE_FIELD, "?")
            raise SchemaDriftError(required[field], field, f"absent from row {code!r}")


def number(value: Any, table: str, code: str, field: str) -> float | None:
    """API value -> float, "-"/missing -> None. Anything else non-numeric is a parse error."""
    if value is None or value == MISSING or value == "":
        return None
    if isinstance(value, bool):
        raise ValueParseError(table, code, field, value)
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ValueParseError(table, code, field, value) from None
    else:
        raise ValueParseError(table, code, field, value)
    if not math.isfinite(result):
        raise ValueParseError(table, code, field, value)
    return result


def text(value: Any) -> str | None:
    if value is None or value == MISSING or value == "":
        return None
    return str(value)


def updated_at(row: Mapping, table: str) -> datetime | None:
    """A row's f124 (Unix seconds) as an aware Asia/Shanghai datetime; "-"/missing -> None."""
    code = str(row.get(catalog.CODE_FIELD, "?"))
    seconds = number(row.get(catalog.UPDATED_AT_FIELD), table, code, catalog.UPDATED_AT_FIELD)
    if seconds is None or seconds <= 0:  # epoch 0 is "never updated", not 1970
        return None
    return datetime.fromtimestamp(int(seconds), SHANGHAI)


def _updated_at_parser(table: str, naive: bool = False) -> Callable[[Mapping], datetime | None]:
    """`updated_at` (naive Shanghai wall time if `naive`) with each distinct f124 value parsed
    once: the rows of a snapshot share a handful of update times. A list or dict (unhashable)
    still raises ValueParseError."""
    stamps: dict[Any, datetime | None] = {}

    def convert(row: Mapping) -> datetime | None:
        stamp = updated_at(row, table)
        return naive_shanghai(stamp) if naive and stamp else stamp

    def parse(row: Mapping) -> datetime | None:
        value = row.get(catalog.UPDATED_AT_FIELD)
        if not isinstance(value, (int, float, str, type(None))):
            return convert(row)
        if value not in stamps:
            stamps[value] = convert(row)
        return stamps[value]

    return parse


def latest_update(rows: Iterable[Mapping], table: str) -> datetime | None:
    """Max f124 over the rows: when the data was last updated by the exchange feed."""
    parse = _updated_at_parser(table)
    found = [t for t in map(parse, rows) if t is not None]
    return max(found) if found else None


def trade_date_for(latest: datetime | None, fetched_at: datetime) -> tuple[date, bool]:
    """The trading day a snapshot belongs to, and whether it had to fall back to the clock.

    The data says it best: at 08:00 before the open "today" still holds the previous session,
    whose f124 is that session's date. Only without any timestamp do we use the fetch date.
    """
    if latest is not None:
        return latest.astimezone(SHANGHAI).date(), False
    return fetched_at.astimezone(SHANGHAI).date(), True


def naive_shanghai(moment: datetime) -> datetime:
    """Aware -> naive wall-clock time in Asia/Shanghai (what the warehouse stores)."""
    if moment.tzinfo is None:
        return moment  # already wall-clock Shanghai by convention
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


_COLUMN_TYPES = {c.name: c.sql_type for c in catalog.COLUMNS}


def typed_rows(spec: catalog.TableSpec, snapshot: "Snapshot") -> list[dict]:
    """One dict per row with exactly COLUMN_NAMES keys, in rank order."""
    table = spec.name
    check_required(snapshot.rows, dict.fromkeys(spec.required_fields(), table))
    fields = spec.field_map()
    numeric = [(c, f) for c, f in fields.items() if _COLUMN_TYPES[c] == "float"]
    textual = [(c, f) for c, f in fields.items() if _COLUMN_TYPES[c] != "float"]
    fetched_at = naive_shanghai(snapshot.fetched_at)
    template = dict.fromkeys(catalog.COLUMN_NAMES)
    template.update(trade_date=snapshot.trade_date, fetched_at=fetched_at)
    naive_stamp_of = _updated_at_parser(table, naive=True)
    isfinite = math.isfinite
    out, seen = [], set()
    for raw in snapshot.rows:
        code = text(raw[catalog.CODE_FIELD])
        if code is None:
            raise ValueParseError(table, "?", catalog.CODE_FIELD, raw[catalog.CODE_FIELD])
        if code in seen:  # the client guarantees distinct codes; an edited archive may not
            raise EastmoneyError(f"{table}: code {code!r} appears twice in the snapshot")
        seen.add(code)
        row = template.copy()
        row["code"] = code
        row["name"] = text(raw.get(catalog.NAME_FIELD))
        for column, field in numeric:
            value = raw.get(field)
            # fast path: a finite float is what fltt=2 sends for nearly every value
            row[column] = value if type(value) is float and isfinite(value) \
                else number(value, table, code, field)
        for column, field in textual:
            row[column] = text(raw.get(field))
        row["updated_at"] = naive_stamp_of(raw)
        out.append(row)
    return rank(out)


def rank(rows: list[dict]) -> list[dict]:
    """rank 1 = largest main_net; NULL main_net last; ties by code. Sorts `rows` in place."""
    rows.sort(key=lambda r: (r["main_net"] is None, -(r["main_net"] or 0.0), r["code"]))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return rows
