"""The paging plan: which `fs` passes serve which tables, and when a table is complete.

All periods of one market share the same securities, so one pass with the union of the periods'
fields serves them all (fields never collide across periods) and each table is split out later.
The 8 stock markets also overlap: each market's `fs` is a list of board terms (`m:1+t:2`, ...),
and 全部股票 is all of them. When two requested markets share a term, the passes are per term
instead (7 terms, ~56 pages, instead of 8 markets, ~182 pages) and each market is assembled as
the union of its terms; one pz=1 request per such market (a probe) reads the API's own `total`
for the market's whole `fs`, so the assembled table is still checked against what the API counts.

On the real API a term may select nothing (t:13, the old SME board, merged into t:6 in 2021:
`data: null`), or list codes another term lists too. Both are fine for an assembled market: a
code counts once, and an empty term is believed only when the probe's total agrees with the union
of the other terms (`Pass.may_be_empty`); a lone market's empty answer has no such witness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from findata_assets.eastmoney import catalog
from findata_assets.eastmoney.catalog import TableSpec

REQUEST_PAGE_SIZE = 100  # the server caps pages at 100 rows (since 2025-03) whatever we ask
STATIC_PARAMS = {
    "fid": catalog.STABLE_SORT_FIELD,  # sort by code: a stable order while values move
    "po": "0",
    "pz": str(REQUEST_PAGE_SIZE),
    "np": "1",
    "fltt": "2",  # real decimals instead of integers scaled by 10^f1
    "invt": "2",
    "ut": "b2884a393a59ad64002292a3e90d46a5",
}


@dataclass
class Pass:
    """Paging state of one pass over one `fs` filter, serving one or more tables."""

    label: str
    params: dict
    required: dict[str, str]  # field -> a table that needs it
    probe: bool = False  # only page 1 (pz=1): reads the API's `total` for a market
    may_be_empty: bool = False  # a term of an assembled market: `data: null` means "none"
    requests: int = 0  # attempts and hedges, over every round
    hedges: int = 0  # duplicates sent for late pages
    expired: int = 0  # requests cut off by the page deadline
    total: int = 0
    page_size: int = 0
    pages: int = 0
    null: bool = False  # the first page answered `data: null`
    rows: dict[str, dict] = field(default_factory=dict)  # code -> raw row, in code order
    done_at: datetime | None = None

    @property
    def fs(self) -> str:
        return self.params["fs"]

    @property
    def complete(self) -> bool:
        return self.probe or len(self.rows) == self.total

    def reset(self) -> None:
        self.rows, self.done_at, self.null = {}, None, False

    def add(self, rows: list[dict], requests: int, done_at: datetime, hedges: int = 0,
            expired: int = 0) -> None:
        self.requests += requests
        self.hedges += hedges
        self.expired += expired
        self.done_at = max(self.done_at or done_at, done_at)
        if self.probe:
            return
        for row in rows:
            self.rows.setdefault(str(row[catalog.CODE_FIELD]), row)  # a repeat keeps the first


@dataclass
class TablePlan:
    """How one requested table is assembled: the passes behind it, and its market's total."""

    spec: TableSpec
    sources: list[Pass]
    probe: Pass | None = None  # set when the table is a union of several term passes

    @property
    def passes(self) -> list[Pass]:
        return self.sources + ([self.probe] if self.probe else [])

    def rows(self) -> list[dict]:
        if len(self.sources) == 1:
            return list(self.sources[0].rows.values())
        merged: dict[str, dict] = {}
        for g in self.sources:
            for code, row in g.rows.items():
                merged.setdefault(code, row)  # a code under two terms counts once
        return [merged[code] for code in sorted(merged)]  # code order, as a single pass gives

    @property
    def total(self) -> int:
        return self.probe.total if self.probe else self.sources[0].total

    def distinct(self) -> int:
        if len(self.sources) == 1:
            return len(self.sources[0].rows)
        return len(set().union(*(g.rows for g in self.sources)))

    def complete(self) -> bool:
        return all(g.complete for g in self.sources) and self.distinct() == self.total

    def empty_terms(self) -> list[str]:
        return [g.fs for g in self.sources if g.null]

    def suspects(self) -> list[Pass]:
        """The passes to fetch again when incomplete: a pass short of its own total or one that
        selected nothing (with the probe), else all of them (the probe and the terms disagree)."""
        bad = [g for g in self.sources if not g.complete or g.null]
        return bad + ([self.probe] if self.probe else []) if bad else self.passes


def plan(specs: Iterable[TableSpec]) -> list[TablePlan]:
    """The paging passes behind each table (see the module docstring)."""
    specs = list({s.name: s for s in specs}.values())
    by_group: dict[tuple[str, str], list[TableSpec]] = {}
    for spec in specs:
        by_group.setdefault((spec.kind, spec.group.key), []).append(spec)
    # A term of a group's fs shared with another requested group: page the terms, not the groups.
    term_users: dict[tuple[str, str], int] = {}
    for kind, key in by_group:
        for term in catalog.groups(kind)[key].terms:
            term_users[kind, term] = term_users.get((kind, term), 0) + 1
    by_terms = {gk for gk in by_group
                if any(term_users[gk[0], t] > 1 for t in catalog.groups(gk[0])[gk[1]].terms)}

    wanted: dict[tuple[str, str], list[TableSpec]] = {}  # (kind, fs) -> tables it serves
    for (kind, key), members in by_group.items():
        group = catalog.groups(kind)[key]
        for fs in (group.terms if (kind, key) in by_terms else (group.fs,)):
            wanted.setdefault((kind, fs), []).extend(members)
    passes = {}
    for (kind, fs), members in wanted.items():
        fields = list(dict.fromkeys(f for s in members for f in s.period.fields))
        required = {}
        for s in members:
            for f in s.required_fields():
                required.setdefault(f, s.name)
        params = {**STATIC_PARAMS, "fs": fs, "fields": ",".join(fields)}
        passes[kind, fs] = Pass(_label(members, fs), params, required)

    tables, probes = [], {}
    for (kind, key), members in by_group.items():
        group = catalog.groups(kind)[key]
        probe = None
        if (kind, key) not in by_terms:
            sources = [passes[kind, group.fs]]
        else:
            sources = [passes[kind, t] for t in group.terms]
            if len(sources) > 1:
                probe = probes.get((kind, key)) or _probe(kind, key, group.fs)
                probes[kind, key] = probe
                for source in sources:  # the probe's total witnesses an empty term
                    source.may_be_empty = True
        tables += [TablePlan(spec, sources, probe) for spec in members]
    return tables


def _probe(kind: str, key: str, fs: str) -> Pass:
    params = {**STATIC_PARAMS, "fs": fs, "pz": "1", "fields": catalog.CODE_FIELD}
    return Pass(f"{kind} total of {key}", params, {catalog.CODE_FIELD: key}, probe=True)


def _label(members: list[TableSpec], fs: str) -> str:
    """Names the tables a pass serves, for logs and errors: `stock_flow_all_1d` or
    `stock_flow_{all,sh_a}_{1d,5d} (fs=m:1+t:2+f:!2)`."""
    names = sorted({s.name for s in members})
    if len(names) == 1:
        return names[0]
    groups = ",".join(dict.fromkeys(s.group.key for s in members))
    periods = ",".join(dict.fromkeys(s.period.key for s in members))
    return f"{members[0].kind}_flow_{{{groups}}}_{{{periods}}} (fs={fs})"
