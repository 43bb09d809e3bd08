"""Pure functions from HTTP bodies to rows: no I/O here, so every rule is unit-testable.

- `decode_body` / `parse_page`: JSONP or plain JSON -> (total, raw rows); `np=2` objects -> lists;
  `data: null` with rc 0 is the API's answer for "nothing selected" (`Page.null`), not an error.
- `check_required`: a row without a required field is schema drift, never a silent NULL.
- `parse_table`: raw API rows of one snapshot -> rows with exactly `catalog.COLUMN_NAMES` keys,
  "-" -> None, ranks computed here (the pages were fetched sorted by code, see client.py). A stray
  unparsable cell ("NaN", "--") is stored as NULL and reported (`ParsedTable.bad_cells`); a
  column unparsable in more than `MAX_BAD_SHARE` of its rows is an error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

import orjson

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.errors import (
    BadResponseError, EastmoneyError, NotTheApiError, SchemaDriftError, UnparsableColumnError,
    ValueParseError)
from findata_assets.eastmoney.snapshot import SHANGHAI, Snapshot

MISSING = "-"  # the API's spelling of "unknown" (suspended stock, new board): NULL, never 0

# `cb=jQuery123_456` wraps the JSON as `jQuery123_456({...});`
_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*$", re.DOTALL)


# f124 above this is milliseconds, not seconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MILLISECONDS_FROM = 1e11
# A column may lose this share of its cells to garbage (stored NULL, reported) before the whole
# table is refused: a stray cell is the feed's hiccup, a column of them is a changed API.
MAX_BAD_SHARE = 0.01


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict]
    null: bool = False  # the API answered `data: null`: nothing selected, or past the last page


@dataclass(frozen=True)
class BadCell:
    """A cell that is neither a value nor "-": stored as NULL, kept raw in the archive."""

    column: str
    field: str
    code: str
    raw: Any


@dataclass
class ParsedTable:
    rows: list[dict]
    bad_cells: list[BadCell]

    def bad_cells_by_column(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.bad_cells:
            counts[cell.column] = counts.get(cell.column, 0) + 1
        return counts


def decode_body(text: str) -> Any:
    """Body text -> JSON value. Empty, truncated or non-JSON bodies are retryable errors; an
    HTML page is not the API at all (a wrong URL, a portal, a proxy's login page)."""
    if not text or not text.strip():
        raise BadResponseError("empty body")
    if text.lstrip()[:1] == "<":
        snippet = " ".join(text.split())[:60]
        raise NotTheApiError(f"the response is an HTML page, not JSON: {snippet!r}")
    match = _JSONP.match(text)
    payload = match.group(1) if match else text
    try:
        # strict JSON, as the API sends it: bare NaN/Infinity are refused (a retryable bad body)
        return orjson.loads(payload)
    except ValueError as exc:  # orjson.JSONDecodeError is a json.JSONDecodeError
        snippet = text[:80].replace("\n", " ")
        raise BadResponseError(f"body is not JSON ({exc.msg} at {exc.pos}): {snippet!r}") from None


def parse_page(payload: Any, table: str) -> Page:
    """Validate the envelope `{"rc":0,"data":{"total":N,"diff":[...]}}` and return its rows.

    rc != 0 is the API failing softly: retryable. `data: null` with rc 0 is a `Page` with
    `null=True`: the caller knows whether nothing was a possible answer. A JSON value without
    the envelope is not this API (NotTheApiError); a missing key or a wrong type inside it means
    the API changed: SchemaDriftError, so nobody retries it forever.
    """
    if not isinstance(payload, dict) or not {"rc", "data"} & payload.keys():
        shape = (f"keys {sorted(payload)[:6]}" if isinstance(payload, dict)
                 else f"a JSON {type(payload).__name__}")
        raise NotTheApiError(f"the response is not the clist envelope {{rc, data}} ({shape})")
    rc = payload.get("rc", 0)
    if rc != 0:
        raise BadResponseError(f"rc={rc!r}")
    if "data" not in payload:
        raise SchemaDriftError(table, "data", f"envelope keys: {sorted(payload)}")
    data = payload["data"]
    if data is None:
        return Page(0, [], null=True)
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
    """A row's f124 (Unix seconds, or milliseconds) as an aware Asia/Shanghai datetime;
    "-"/missing -> None; anything else is a ValueParseError."""
    code = str(row.get(catalog.CODE_FIELD, "?"))
    field = catalog.UPDATED_AT_FIELD
    seconds = number(row.get(field), table, code, field)
    if seconds is None or seconds <= 0:  # epoch 0 is "never updated", not 1970
        return None
    if seconds >= _MILLISECONDS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(int(seconds), SHANGHAI)
    except (OverflowError, OSError, ValueError):  # a year past 9999: not a time at all
        raise ValueParseError(table, code, field, row.get(field)) from None


def updated_at_parser(table: str, naive: bool = False) -> Callable[[Mapping], datetime | None]:
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


def naive_shanghai(moment: datetime) -> datetime:
    """Aware -> naive wall-clock time in Asia/Shanghai (what the warehouse stores)."""
    if moment.tzinfo is None:
        return moment  # already wall-clock Shanghai by convention
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


_COLUMN_TYPES = {c.name: c.sql_type for c in catalog.COLUMNS}


def typed_rows(spec: catalog.TableSpec, snapshot: Snapshot) -> list[dict]:
    """`parse_table(...).rows`, for callers that do not report bad cells (samples, tests)."""
    return parse_table(spec, snapshot).rows


def parse_table(spec: catalog.TableSpec, snapshot: Snapshot) -> ParsedTable:
    """One dict per row with exactly COLUMN_NAMES keys, in rank order, plus the bad cells."""
    table = spec.name
    check_required(snapshot.rows, dict.fromkeys(spec.required_fields(), table))
    fields = spec.field_map()
    numeric = [(c, f) for c, f in fields.items() if _COLUMN_TYPES[c] == "float"]
    textual = [(c, f) for c, f in fields.items() if _COLUMN_TYPES[c] != "float"]
    fetched_at = naive_shanghai(snapshot.fetched_at)
    template = dict.fromkeys(catalog.COLUMN_NAMES)
    template.update(trade_date=snapshot.trade_date, fetched_at=fetched_at)
    naive_stamp_of = updated_at_parser(table, naive=True)
    isfinite = math.isfinite
    out, seen, bad = [], set(), []
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
            if type(value) is float and isfinite(value):
                row[column] = value
                continue
            try:
                row[column] = number(value, table, code, field)
            except ValueParseError:
                bad.append(BadCell(column, field, code, value))  # row[column] stays None
        for column, field in textual:
            row[column] = text(raw.get(field))
        try:
            row["updated_at"] = naive_stamp_of(raw)
        except ValueParseError:
            bad.append(BadCell("updated_at", catalog.UPDATED_AT_FIELD, code,
                               raw.get(catalog.UPDATED_AT_FIELD)))
        out.append(row)
    parsed = ParsedTable(rank(out), bad)
    _refuse_mostly_bad_columns(table, parsed)
    return parsed


def _refuse_mostly_bad_columns(table: str, parsed: ParsedTable) -> None:
    allowed = max(1, int(MAX_BAD_SHARE * len(parsed.rows)))
    for column, count in parsed.bad_cells_by_column().items():
        if count > allowed:
            cells = [c for c in parsed.bad_cells if c.column == column]
            raise UnparsableColumnError(table, column, cells[0].field, count, len(parsed.rows),
                                        [(c.code, c.raw) for c in cells[:3]])


def rank(rows: list[dict]) -> list[dict]:
    """rank 1 = largest main_net; NULL main_net last; ties by code. Sorts `rows` in place."""
    rows.sort(key=lambda r: (r["main_net"] is None, -(r["main_net"] or 0.0), r["code"]))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return rows
