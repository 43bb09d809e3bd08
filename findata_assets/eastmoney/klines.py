"""Source facts of the per-security daily fund-flow history, and its parsing. No I/O here.

One request per security: `GET .../api/qt/stock/fflow/daykline/get?lmt=0&klt=101&secid=...`
answers `{"rc":0, "data": {"code", "market", "name", "klines": ["2023-12-18,-58234405.0,...",
...]}}`, oldest line first, about 120 trading days back. `secid` is `<market>.<code>`
(`secid_for`); the whole market is the pair Shanghai Composite + Shenzhen Component
(`MARKET_SECID`). A line has 15 comma-separated fields (`DAILY_FIELDS`); "-" or an empty field
is unknown: None, never 0. `data: null` (or rc != 0) is the source saying it has no such
security (`NoSuchSecurityError`, about that security only).

The order classes obey identities (main = large + super-large; main + small + medium = 0 up to
the source's own imprecision); `check_identities` counts the lines that break them, so a changed
field order shows at once. It never "fixes" a value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from findata_assets.eastmoney import parsing
from findata_assets.eastmoney.catalog import Column
from findata_assets.eastmoney.errors import (
    EastmoneyError, HistorySchemaError, KlineLineError, NoSuchSecurityError)
from findata_assets.eastmoney.paging_plan import STATIC_PARAMS

MARKET_SECID = "1.000001+0.399001"  # our one key for the market: Shanghai + Shenzhen indices
UT = STATIC_PARAMS["ut"]  # the static token public clients send; the API does not need it


@dataclass(frozen=True)
class LineField:
    """One field of a daily line: its code in `fields2`, our column, and what it means."""

    code: str  # f51..f65
    name: str  # our column name
    label_zh: str
    description: str
    unit: str  # "" (the date), "yuan", "percent", "index points"
    market_label_zh: str | None = None  # what it means in the market pair's line, if other
    market_unit: str | None = None

    def column(self) -> Column:
        return Column(self.name, "date" if self.name == "trade_date" else "float", self.label_zh,
                      self.description, self.name != "trade_date", self.unit)


_ORDERS = (("main", "主力", "main (super-large + large)"), ("small", "小单", "small orders"),
           ("medium", "中单", "medium orders"), ("large", "大单", "large orders"),
           ("super_large", "超大单", "super-large orders"))
DAILY_FIELDS: tuple[LineField, ...] = (
    LineField("f51", "trade_date", "日期", "trading day of the line (Asia/Shanghai)", ""),
    *(LineField(f"f{52 + i}", f"{key}_net", f"{zh}净流入-净额", f"{en} net inflow", "yuan")
      for i, (key, zh, en) in enumerate(_ORDERS)),
    *(LineField(f"f{57 + i}", f"{key}_pct", f"{zh}净流入-净占比",
                f"{en} net inflow share of turnover", "percent")
      for i, (key, zh, en) in enumerate(_ORDERS)),
    LineField("f62", "close", "收盘价", "close (for the market: the Shanghai Composite)", "yuan",
              "上证指数收盘", "index points"),
    LineField("f63", "change_pct", "涨跌幅", "change of the close (for the market: Shanghai)",
              "percent", "上证指数涨跌幅", "percent"),
    LineField("f64", "close_2", "深证成指收盘",
              "the Shenzhen Component's close in the market's line; 0.00 for stocks",
              "index points",
              "深证成指收盘", "index points"),
    LineField("f65", "change_pct_2", "深证成指涨跌幅",
              "the Shenzhen Component's change in the market's line; 0.00 for stocks", "percent",
              "深证成指涨跌幅", "percent"),
)
FIELDS2 = ",".join(f.code for f in DAILY_FIELDS)
VALUE_NAMES: tuple[str, ...] = tuple(f.name for f in DAILY_FIELDS[1:])


@dataclass(frozen=True)
class DailyLine:
    trade_date: date
    main_net: float | None
    small_net: float | None
    medium_net: float | None
    large_net: float | None
    super_large_net: float | None
    main_pct: float | None
    small_pct: float | None
    medium_pct: float | None
    large_pct: float | None
    super_large_pct: float | None
    close: float | None
    change_pct: float | None
    close_2: float | None
    change_pct_2: float | None


@dataclass
class DailySeries:
    secid: str
    code: str
    name: str | None
    lines: list[DailyLine]


# -- secids ------------------------------------------------------------------------------------

_SECID_RULE = ("6xxxxx and 900xxx are Shanghai (1.), 0xxxxx, 3xxxxx, 200xxx and 920xxx are "
               "Shenzhen or Beijing (0.), BKxxxx boards are 90.")
_SECID = re.compile(r"^(0|1)\.\d{6}$|^90\.BK\d{4}$")


def secid_for(code: str) -> str:
    """The API's `<market>.<code>` of a stock or board code; ValueError for anything else."""
    code = code.strip()
    if re.fullmatch(r"(?i)BK\d{4}", code):
        return f"90.{code.upper()}"
    if re.fullmatch(r"\d{6}", code):
        if code[0] == "6" or code.startswith("900"):
            return f"1.{code}"
        if code[0] in "03" or code.startswith(("200", "920")):
            return f"0.{code}"
        if code.startswith(("43", "83", "87")):
            raise ValueError(f"code {code!r} is an old Beijing code (43/83/87xxxx): the source "
                             "answers data: null for it; Beijing codes are 920xxx since 2025-10")
    raise ValueError(f"code {code!r} has no daily fund-flow history: {_SECID_RULE}")


def query_params(secid: str, ut: bool = True) -> dict[str, str]:
    """The request's parameters, but the `_` cache-buster (the fetcher adds it per request)."""
    first, _, second = secid.partition("+")
    if not _SECID.match(first) or (second and not _SECID.match(second)):
        raise ValueError(f"secid {secid!r} is not <market>.<code> ({_SECID_RULE}) nor the "
                         f"market pair {MARKET_SECID!r}")
    params = {"lmt": "0", "klt": "101", "secid": first}
    if second:
        params["secid2"] = second
    params |= {"fields1": "f1,f2,f3,f7", "fields2": FIELDS2}
    if ut:
        params["ut"] = UT
    return params


# -- parsing -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_daily(body: bytes | str, secid: str) -> DailySeries:
    """One answer of the daily endpoint (JSON or JSONP) -> its series, lines in date order.

    NoSuchSecurityError for `rc != 0` or `data: null`; HistorySchemaError for an envelope
    without `data` (seen once, March 2025) or a body that is not the envelope; KlineLineError
    for a line we cannot read or one out of date order."""
    payload = _payload(body, secid)
    if not isinstance(payload, dict) or "rc" not in payload:
        shape = (f"keys {sorted(payload)[:6]}" if isinstance(payload, dict)
                 else f"a JSON {type(payload).__name__}")
        raise HistorySchemaError(secid, "rc", f"not the kline envelope {{rc, data}}: {shape}")
    rc = payload["rc"]
    if rc != 0:
        raise NoSuchSecurityError(secid, rc)
    if "data" not in payload:
        raise HistorySchemaError(secid, "data", f"envelope keys: {sorted(payload)}")
    data = payload["data"]
    if data is None:
        raise NoSuchSecurityError(secid, rc)
    if not isinstance(data, dict):
        raise HistorySchemaError(secid, "data", f"expected an object, got {type(data).__name__}")
    raw = data.get("klines")
    if not isinstance(raw, list):
        raise HistorySchemaError(secid, "data.klines",
                                 f"expected a list, got {type(raw).__name__}")
    lines: list[DailyLine] = []
    for index, line in enumerate(raw):
        parsed = _line(line, secid, index)
        if lines and parsed.trade_date <= lines[-1].trade_date:
            problem = ("repeats the date before it" if parsed.trade_date == lines[-1].trade_date
                       else f"is out of date order (after {lines[-1].trade_date})")
            raise KlineLineError(secid, index, line, problem)
        lines.append(parsed)
    code = data.get("code")
    name = data.get("name")
    return DailySeries(secid, str(code) if code else secid.partition("+")[0].partition(".")[2],
                       str(name) if name else None, lines)


def _payload(body: bytes | str, secid: str) -> Any:
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        return parsing.decode_body(text)
    except UnicodeDecodeError as exc:
        raise HistorySchemaError(secid, "body", f"not UTF-8 ({exc.reason})") from None
    except EastmoneyError as exc:  # empty, not JSON, an HTML page
        raise HistorySchemaError(secid, "body", str(exc)) from None


def _line(line: object, secid: str, index: int) -> DailyLine:
    if not isinstance(line, str):
        raise KlineLineError(secid, index, line, f"is a JSON {type(line).__name__}, not text")
    fields = line.split(",")
    if len(fields) != len(DAILY_FIELDS):
        raise KlineLineError(secid, index, line, f"has {len(fields)} fields, expected "
                                                 f"{len(DAILY_FIELDS)}")
    try:
        if not _DATE.match(fields[0]):
            raise ValueError
        day = date.fromisoformat(fields[0])
    except ValueError:
        raise KlineLineError(secid, index, line, f"has a bad date {fields[0]!r}") from None
    if "_" not in line and "-," not in line and not line.endswith("-"):
        try:  # the common line, every field a number: one pass (a backfill reads ~700k lines)
            values = [float(raw) for raw in fields[1:]]
        except ValueError:
            pass
        else:
            if all(map(math.isfinite, values)):
                return DailyLine(day, *values)
    values = []
    for spec, raw in zip(DAILY_FIELDS[1:], fields[1:]):
        raw = raw.strip()
        if raw in ("", parsing.MISSING):
            values.append(None)  # unknown: NULL, never 0
        elif _NUMBER.match(raw) and math.isfinite(float(raw)):
            values.append(float(raw))
        else:
            raise KlineLineError(secid, index, line, f"has {spec.name} ({spec.code}) = {raw!r}, "
                                                     "not a number or '-'")
    return DailyLine(day, *values)


# -- identities --------------------------------------------------------------------------------

MAIN_SPLIT = "main_net = large_net + super_large_net"
NET_ZERO = "main_net + small_net + medium_net = 0"
PCT_SPLIT = "main_pct = large_pct + super_large_pct"
PCT_ZERO = "main_pct + small_pct + medium_pct = 0"
IDENTITIES = (MAIN_SPLIT, NET_ZERO, PCT_SPLIT, PCT_ZERO)
ROUNDING_YUAN = 0.015  # three values, each rounded to 0.01


@dataclass(frozen=True)
class Tolerances:
    """How far a line may miss an identity before it is counted.

    main = large + super-large holds by definition: only rounding, `yuan` or `relative` of
    |main|, whichever is larger (`pp` for the percents: three values rounded to 0.01 pp).
    The order classes summing to zero is looser: the published daily lines do to rounding, but a
    recorded ranking row misses by 0.02% of its turnover, and the bundled fake draws a residual
    of 0.2% of turnover (one sigma). So that one may miss by `share` of the day's turnover (the
    least the line allows: net / percent, the percent rounded up), in percent `100 * share` pp.
    1% is five of the fake's sigmas; a changed field order breaks the first identity by far
    more."""

    yuan: float = 1.0
    relative: float = 1e-6
    pp: float = 0.02
    share: float = 0.01


@dataclass(frozen=True)
class IdentityViolation:
    trade_date: date
    identity: str  # one of IDENTITIES
    gap: float  # left side minus right side
    tolerance: float


@dataclass
class IdentityReport:
    secid: str
    lines: int
    checked: dict[str, int]  # identity -> lines with every value known (the others are skipped)
    violations: list[IdentityViolation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        """identity -> lines that break it."""
        out = dict.fromkeys(IDENTITIES, 0)
        for v in self.violations:
            out[v.identity] += 1
        return out


def check_identities(series: DailySeries, tolerances: Tolerances = Tolerances()) -> IdentityReport:
    """Counts the lines that break each identity; values stay as the source sent them."""
    t = tolerances
    report = IdentityReport(series.secid, len(series.lines), dict.fromkeys(IDENTITIES, 0))
    checked, out = report.checked, report.violations
    for line in series.lines:  # plain attributes, no helper per value: ~700k lines a backfill
        day = line.trade_date
        main, small, medium = line.main_net, line.small_net, line.medium_net
        large, huge = line.large_net, line.super_large_net
        if main is not None and large is not None and huge is not None:
            checked[MAIN_SPLIT] += 1
            gap, tol = main - (large + huge), max(t.yuan, t.relative * abs(main)) + ROUNDING_YUAN
            if abs(gap) > tol:
                out.append(IdentityViolation(day, MAIN_SPLIT, gap, tol))
        nets = (main, small, medium, large, huge)
        pcts = (line.main_pct, line.small_pct, line.medium_pct, line.large_pct,
                line.super_large_pct)
        if None not in nets:
            checked[NET_ZERO] += 1
            gap = main + small + medium
            if abs(gap) > t.yuan + ROUNDING_YUAN:  # the turnover only when it could matter
                tol = max(t.yuan, t.share * _turnover(nets, pcts)) + ROUNDING_YUAN
                if abs(gap) > tol:
                    out.append(IdentityViolation(day, NET_ZERO, gap, tol))
        pmain, psmall, pmedium, plarge, phuge = pcts
        if pmain is not None and plarge is not None and phuge is not None:
            checked[PCT_SPLIT] += 1
            gap = pmain - (plarge + phuge)
            if abs(gap) > t.pp:
                out.append(IdentityViolation(day, PCT_SPLIT, gap, t.pp))
        if None not in pcts:
            checked[PCT_ZERO] += 1
            gap = pmain + psmall + pmedium
            if abs(gap) > 100 * t.share + t.pp:
                out.append(IdentityViolation(day, PCT_ZERO, gap, 100 * t.share + t.pp))
    return report


def _turnover(nets: list, pcts: list) -> float:
    """The least turnover in yuan the line allows: net = pct% of turnover, and a percent shown
    with two decimals is at most 0.005 more (the whole market's shares round to 0.0x)."""
    return max((abs(n) * 100 / (abs(p) + 0.005) for n, p in zip(nets, pcts)), default=0.0)
