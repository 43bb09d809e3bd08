"""A deterministic synthetic market for the fake Eastmoney API.

Sizes, code prefixes, market ids (m) and board types (t) follow the real exchanges; names and
numbers are synthetic. Values live in numpy arrays so a 16x universe is still served in
milliseconds. Every order class is drawn as a share of one turnover figure per security, so the
real API's identities hold: main = super-large + large (exactly, a definition), the four classes
sum to about zero (a small residual, as in a recorded real row),
shares = net / turnover in percent (so within [-100, 100]).

Values are computed on demand for just the indices asked for (a page, or an `fs` selection to
sort). Random draws happen once per trade date over the whole universe and everything after that
is elementwise (+, *, round), so a row's value is the same whichever subset it was computed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from findata_assets.eastmoney import catalog
from findata_assets.trading_calendar import TZ_FIXED

SHANGHAI = TZ_FIXED
# (m, t, code prefixes, count at scale 1): the boards of the two exchanges, sized after the facts
# file's latest figures: 全部股票 5,290 with B shares, 沪市A股 2,385 (main 1,795 + STAR 590),
# 深市A股 2,795 (ChiNext 1,400), B shares 110.
STOCK_BOARDS = (
    (1, 2, ("600", "601", "603", "605"), 1795),   # SH main
    (1, 23, ("688", "689"), 590),                 # STAR
    (1, 3, ("900",), 50),                         # SH B
    (0, 6, ("000", "001", "003"), 400),           # SZ main
    (0, 13, ("002",), 995),                       # 002xxx: the old SME board (see BOARD_LAYOUTS)
    (0, 80, ("300", "301"), 1400),                # ChiNext
    (0, 7, ("200",), 60),                         # SZ B
)
SME_BOARD = 13
# Where the 002xxx stocks are listed. "current": under t:6 since the 2021 merger, t:13 selects
# nothing (what public clients of the real API see); "legacy": under t:13 alone; "overlap": under
# both t:6 and t:13, so the two terms list the same codes.
BOARD_LAYOUTS = ("current", "legacy", "overlap")
SECTOR_BOARDS = ((2, 86), (3, 480), (1, 31))  # (t, count): industry, concept, region
INACTIVE_SHARE = 0.03  # suspended stocks / boards too new for multi-day figures
BOARD_TURNOVER = 40.0  # a board trades like many stocks together
_SYLLABLES = "华中国新科电能源信达海天金通安宏盛光明东方兴业智联泰和康瑞祥恒远成"
# Board names look like Eastmoney's (电子元件, 通信设备, 浙江板块): a stem and an ordinary ending.
_BOARD_ENDINGS = {
    2: ("元件", "设备", "材料", "制造", "服务", "化工", "电力", "软件", "医药", "传媒", "汽车",
        "银行", "证券", "物流", "零售", "食品", "建材", "开发", "通信", "机械"),
    3: ("概念", "芯片", "智能", "数据", "能源", "科技", "电池", "网络", "经济", "医疗", "储能",
        "汽车", "金融", "平台", "机器人", "材料"),
    1: ("板块",),
}
_REGIONS = ("北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 "
            "湖北 湖南 广东 广西 海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆").split()
# The order classes of a real row net out to about zero, not exactly (-29 M yuan on 2.9 B of
# super-large orders in the facts file's sample row): a residual of this share of turnover.
RESIDUAL_SHARE = 0.002
PERIOD_DAYS = {"1d": 1, "3d": 3, "5d": 5, "10d": 10}
_FLOW_ROLES = ("main_net", "main_pct", "super_large_net", "super_large_pct", "large_net",
               "large_pct", "medium_net", "medium_pct", "small_net", "small_pct")

# Numeric value fields: field code -> (period, role); f2 (price) belongs to no period.
VALUE_FIELDS: dict[str, tuple[str | None, str]] = {"f2": (None, "price")}
for _key, _p in catalog.PERIODS.items():
    VALUE_FIELDS[_p.columns["change_pct"]] = (_key, "change_pct")
    VALUE_FIELDS.update({_p.columns[r]: (_key, r) for r in _FLOW_ROLES})
# Top inflow stock of a board: name field -> (code field, market field). 3d and 5d share
# f257/f258 on the real API; the market field (f206, f259, f262) comes right after the code.
TOP_GROUPS: dict[str, tuple[str, str]] = {}
for _p in catalog.PERIODS.values():
    _code = _p.columns["top_stock_code"]
    TOP_GROUPS[_p.columns["top_stock_name"]] = (_code, f"f{int(_code[1:]) + 1}")
TOP_FIELDS: dict[str, tuple[str, int]] = {  # field -> (its group's name field, 0 name/1 code/2 m)
    f: (name, role) for name, group in TOP_GROUPS.items() for role, f in enumerate((name, *group))}
# A new board has no multi-day history: its 3d/5d/10d values and top stocks are "-".
_MULTI_DAY_TOPS = {p.columns["top_stock_name"] for k, p in catalog.PERIODS.items() if k != "1d"}


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass
class Securities:
    codes: np.ndarray  # str
    names: np.ndarray  # str
    m: np.ndarray
    t: np.ndarray
    t2: np.ndarray  # a second board a security is listed under (-1: none), see BOARD_LAYOUTS
    is_board: np.ndarray
    inactive: np.ndarray  # a suspended stock (all values "-") or a new board (multi-day "-")


def _codes(rng: np.random.Generator, prefixes: tuple[str, ...], n: int) -> list[str]:
    per_prefix = -(-n // len(prefixes))
    # Real codes have three digits after the prefix; a universe larger than life needs more.
    digits = 3 if per_prefix <= 1000 else len(str(per_prefix * 2))
    return [f"{p}{k:0{digits}d}" for p in prefixes
            for k in np.sort(rng.choice(10 ** digits, size=per_prefix, replace=False))][:n]


def _unique_names(rng: np.random.Generator, n: int, stems: int, endings: tuple[str, ...]
                  ) -> list[str]:
    """n distinct names: `stems` syllables and one of `endings`, drawn without replacement."""
    syll = len(_SYLLABLES)
    space = syll ** stems * len(endings)
    picks = rng.choice(space, size=min(n, space), replace=False)
    names = []
    for k in picks.tolist():
        k, ending = divmod(k, len(endings))
        stem = ""
        for _ in range(stems):
            k, i = divmod(k, syll)
            stem += _SYLLABLES[i]
        names.append(stem + endings[ending])
    return names


def _board_names(rng: np.random.Generator, t: int, n: int) -> list[str]:
    if t == 1:  # regions: the provinces first, as on the site
        regions = [f"{r}板块" for r in _REGIONS[:n]]
        extra = [x for x in _unique_names(rng, n, 2, _BOARD_ENDINGS[1]) if x not in regions]
        return (regions + extra)[:n]
    return _unique_names(rng, n, 2, _BOARD_ENDINGS[t])


def build_securities(seed: int, scale: float, layout: str = "current") -> Securities:
    if layout not in BOARD_LAYOUTS:
        raise ValueError(f"unknown board layout {layout!r}; expected one of {BOARD_LAYOUTS}")
    rng = np.random.default_rng(_seed("universe", seed))
    codes, ms, ts, t2s, names, firsts = [], [], [], [], [], []
    for m, t, prefixes, count in STOCK_BOARDS:
        made = _codes(rng, prefixes, max(1, round(count * scale)))
        firsts.append(len(codes))
        codes += made
        ms += [m] * len(made)
        if t == SME_BOARD and layout != "legacy":
            ts += [6] * len(made)
            t2s += [SME_BOARD if layout == "overlap" else -1] * len(made)
        else:
            ts += [t] * len(made)
            t2s += [-1] * len(made)
    names += _unique_names(rng, len(codes), 4, ("",))  # stock names: four syllables, distinct
    board_no = 400
    for t, count in SECTOR_BOARDS:
        n = max(1, round(count * scale))
        firsts.append(len(codes))
        codes += [f"BK{board_no + i:04d}" for i in range(n)]
        names += _board_names(rng, t, n)
        board_no += n
        ms += [90] * n
        ts += [t] * n
        t2s += [-1] * n
    ms_arr = np.array(ms)
    is_board = ms_arr == 90
    inactive = rng.random(len(codes)) < INACTIVE_SHARE
    ends = firsts[1:] + [len(codes)]
    for first, end in zip(firsts, ends):
        inactive[first] = False  # a trading stock on every board: its f124 is today
        if ms_arr[first] == 90 and end - first >= 3:
            inactive[end - 1] = True  # and a new board of each type, even at small scales
    return Securities(np.array(codes), np.array(names), ms_arr, np.array(ts), np.array(t2s),
                      is_board, inactive)


def _rank(values: np.ndarray) -> np.ndarray:
    """Position of each value in string order: sorting by a rank sorts by the string."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


class Universe:
    """Every security of the fake market; `view(day, step, ...)` gives its values at a moment."""

    def __init__(self, seed: int = 0, scale: float = 1.0, layout: str = "current") -> None:
        self.seed, self.scale, self.layout = seed, scale, layout
        self.securities = sec = build_securities(seed, scale, layout)
        self.code_rank, self.name_rank = _rank(sec.codes), _rank(sec.names)
        self.stocks = np.flatnonzero(~sec.is_board)
        self._trading = np.flatnonzero(~sec.is_board & ~sec.inactive)
        self._days: OrderedDict[dt.date, dict[str, np.ndarray]] = OrderedDict()
        self._selections: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.securities.codes)

    # -- selection -------------------------------------------------------------------------
    def select(self, fs: str) -> np.ndarray:
        """Indices an `fs` filter selects: terms joined by ',', parts by '+' or ' '."""
        if fs not in self._selections:
            self._selections[fs] = self._select(fs)
        return self._selections[fs]

    def _select(self, fs: str) -> np.ndarray:
        sec = self.securities
        mask = np.zeros(len(self), dtype=bool)
        for term in filter(None, fs.split(",")):
            term_mask = np.ones(len(self), dtype=bool)
            for part in filter(None, term.replace(" ", "+").split("+")):
                key, _, value = part.partition(":")
                if key == "f":
                    continue  # exclusion flags such as f:!2 (undocumented): accepted, not modelled
                if key == "m" and value.isdigit():
                    term_mask &= sec.m == int(value)
                elif key == "t" and value.isdigit():
                    term_mask &= (sec.t == int(value)) | (sec.t2 == int(value))
                else:  # a filter the fake does not know (b:BK0477 members, ...) selects nothing
                    term_mask[:] = False
            mask |= term_mask
        return np.flatnonzero(mask)

    # -- per-day draws ---------------------------------------------------------------------
    def day(self, day: dt.date) -> dict[str, np.ndarray]:
        """Random draws of a trade date over the whole universe: seeded by the date."""
        with self._lock:  # request threads share the cache
            if day not in self._days:
                self._days[day] = self._draw_day(day)
                while len(self._days) > 2:  # a server needs one day, a day switch two
                    self._days.popitem(last=False)
            return self._days[day]

    def _draw_day(self, day: dt.date, only_1d: bool = False) -> dict[str, np.ndarray]:
        """only_1d: stop after the 1d draws (the klines' past days): the same values, 4x faster."""
        n, board = len(self), self.securities.is_board
        rng = np.random.default_rng(_seed("day", self.seed, day.isoformat()))
        stock_price = rng.lognormal(2.6, 0.8, n) + 1.0
        board_level = rng.uniform(800, 40000, n)
        base = {"prev_close": np.round(np.where(board, board_level, stock_price), 2),
                "phase": rng.uniform(0, 1, n)}
        for period, days in PERIOD_DAYS.items():
            base[f"{period}:turnover"] = (rng.lognormal(19.5, 1.2, n) * days
                                          * np.where(board, BOARD_TURNOVER, 1.0))
            base[f"{period}:change"] = np.clip(rng.normal(0, 2.2 * np.sqrt(days), n), -60, 60)
            base[f"{period}:super"] = rng.normal(0, 0.06, n)
            base[f"{period}:large"] = rng.normal(0, 0.05, n)
            base[f"{period}:medium"] = rng.normal(0, 0.04, n)
            base[f"{period}:residual"] = rng.normal(0, RESIDUAL_SHARE, n)
            if only_1d:  # 1d comes first: the stream so far is the full draw's
                return base
        pool = self._trading if len(self._trading) else self.stocks
        for name in TOP_GROUPS:  # a board's top inflow stock: a trading stock
            base[f"top:{name}"] = pool[rng.integers(0, len(pool), n)]
        return base

    def wobble(self, day: dt.date, step: int, idx: np.ndarray) -> np.ndarray:
        """Drift factor of the super-large and large orders at a step: 1 at step 0, then a
        triangle wave in [0.75, 1.25] with a phase per security. Only exactly rounded ops (no
        sin), so a value does not depend on which subset (page, selection) it is computed in."""
        if not step:
            return np.ones(len(idx))
        wave = (self.day(day)["phase"][idx] + 0.11 * step) % 1.0
        return 1.0 + 0.25 * (4.0 * np.abs(wave - 0.5) - 1.0)

    def view(self, day: dt.date, step: int, updated: int, earlier: int) -> "View":
        return View(self, day, step, updated, earlier)


class View:
    """The universe at one moment: (trade date, drift step, update stamps)."""

    def __init__(self, universe: Universe, day: dt.date, step: int, updated: int,
                 earlier: int, base: dict[str, np.ndarray] | None = None) -> None:
        self.u, self.day, self.step = universe, day, step
        self.updated, self.earlier = updated, earlier
        # base: that day's draws made elsewhere (the klines' past days, at step 0), so the
        # universe's two-day cache, which the ranking uses, is not evicted
        self.base = universe.day(day) if base is None else base
        self._wobble: tuple[np.ndarray, np.ndarray] | None = None

    def wobble(self, idx: np.ndarray) -> np.ndarray:
        """The universe's drift factor at this step, reused for the same index array."""
        if self._wobble is None or self._wobble[0] is not idx:
            self._wobble = (idx, self.u.wobble(self.day, self.step, idx))
        return self._wobble[1]

    def version(self, field: str) -> tuple:
        """What a field's values depend on (a sort-cache key)."""
        if field in ("f12", "f13", "f14", "f1"):
            return ()
        if field in TOP_FIELDS:
            return (self.day,)
        if field == "f124":
            return (self.updated, self.earlier)
        return (self.day, self.step)

    # -- numbers ---------------------------------------------------------------------------
    def numbers(self, fields: list[str], idx: np.ndarray) -> dict[str, np.ndarray]:
        """Value fields over `idx` as float arrays, NaN where the API says "-"."""
        sec, out, periods = self.u.securities, {}, {}
        for f in fields:
            period, role = VALUE_FIELDS[f]
            if role == "price":
                out[f] = self._price(idx)
                continue
            flows = periods.setdefault(period, _Flows(self, period, idx))
            out[f] = flows.get(role)
        suspended = sec.inactive[idx] & ~sec.is_board[idx]  # a suspended stock: all "-"
        no_history = sec.inactive[idx]  # ... and a new board has no multi-day figures
        for f, values in out.items():
            multi_day = VALUE_FIELDS[f][0] not in (None, "1d")
            out[f] = np.where(no_history if multi_day else suspended, np.nan, values)
        return out

    def change_1d(self, idx: np.ndarray) -> np.ndarray:
        wobble = self.wobble(idx)
        return np.round(np.clip(self.base["1d:change"][idx] * wobble, -20, 20), 2)

    def _price(self, idx: np.ndarray) -> np.ndarray:
        # The latest price follows today's change, so the two stay consistent under drift.
        return np.round(self.base["prev_close"][idx] * (1 + self.change_1d(idx) / 100), 2)

    # -- everything else -------------------------------------------------------------------
    def stamps(self, idx: np.ndarray) -> np.ndarray:
        """f124: the update time; a suspended stock's last update is an earlier day."""
        sec = self.u.securities
        stale = sec.inactive[idx] & ~sec.is_board[idx]
        return np.where(stale, self.earlier, self.updated).astype(np.int64)

    def top(self, field: str, idx: np.ndarray) -> list:
        """A board's top inflow stock (name, code or market); "-" for stocks and new boards."""
        name_field, role = TOP_FIELDS[field]
        sec = self.u.securities
        picks = self.base[f"top:{name_field}"][idx]
        values = (sec.names, sec.codes, sec.m)[role][picks].tolist()
        none = ~sec.is_board[idx]
        if name_field in _MULTI_DAY_TOPS:
            none |= sec.inactive[idx]
        return ["-" if n else v for n, v in zip(none.tolist(), values)]

    def sort_key(self, field: str, idx: np.ndarray) -> np.ndarray:
        """A float per index that orders like the field (strings by rank); NaN = "-" / unknown."""
        sec = self.u.securities
        if field == "f12":
            return self.u.code_rank[idx]
        if field == "f14":
            return self.u.name_rank[idx]
        if field == "f13":
            return sec.m[idx].astype(np.float64)
        if field == "f124":
            return self.stamps(idx).astype(np.float64)
        if field in VALUE_FIELDS:
            return self.numbers([field], idx)[field]
        if field in TOP_FIELDS:
            name_field, role = TOP_FIELDS[field]
            picks = self.base[f"top:{name_field}"][idx]
            keys = (self.u.name_rank, self.u.code_rank, sec.m.astype(np.float64))[role][picks]
            dash = np.array([v == "-" for v in self.top(field, idx)], dtype=bool)
            return np.where(dash, np.nan, keys)
        return np.full(len(idx), np.nan)  # f1 or an unknown field: the natural order


class _Flows:
    """One period's change and order-class flows over some indices, computed as asked (a sort
    needs one field of 85k securities, not all eleven)."""

    def __init__(self, view: View, period: str, idx: np.ndarray) -> None:
        self.view, self.period, self.idx = view, period, idx
        self.cache: dict[str, np.ndarray] = {}

    def _base(self, name: str) -> np.ndarray:
        return self.view.base[f"{self.period}:{name}"][self.idx]

    def get(self, role: str) -> np.ndarray:
        if role not in self.cache:
            self.cache[role] = self._compute(role)
        return self.cache[role]

    def _compute(self, role: str) -> np.ndarray:
        if role.endswith("_pct") and role != "change_pct":  # share of turnover, in percent
            return np.round(self.get(role[:-4] + "_net") / self.get("turnover") * 100, 2)
        if role == "turnover":
            return self._base("turnover")
        if role == "change_pct":
            if self.period == "1d":
                return self.view.change_1d(self.idx)
            return np.round(self._base("change"), 2)
        if role in ("super_large_net", "large_net"):  # main-force orders drift during the day
            wobble = self.view.wobble(self.idx)
            draw = self._base("super" if role == "super_large_net" else "large")
            return np.round(draw * wobble * self.get("turnover"), 2)
        if role == "medium_net":
            return np.round(self._base("medium") * self.get("turnover"), 2)
        if role == "main_net":  # 主力 = super-large + large, by definition
            return np.round(self.get("super_large_net") + self.get("large_net"), 2)
        if role == "small_net":  # the order classes net out to about zero
            rest = self.get("main_net") + self.get("medium_net")
            return np.round(self._base("residual") * self.get("turnover") - rest, 2)
        raise KeyError(role)
