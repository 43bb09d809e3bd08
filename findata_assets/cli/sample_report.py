"""Render a SAMPLE report from the bundled fake Eastmoney data (synthetic, not market data).

    python -m findata_assets.cli.sample_report [--home DIR] [--trade-date YYYY-MM-DD] [--scale X]
                                           [--lang zh|en] [--use-configured-stores]

Stores one trading day of the fake API's 41 tables into a warehouse, then runs
analysis_report_job for that day and prints where the report is. By default everything goes to a
separate embedded home (--home, default ./.findata/sample: SQLite + local folder) so synthetic
rows never land in a real database; --use-configured-stores writes where FINDATA_DATABASE_URL /
FINDATA_S3_* point instead. The narrative uses FINDATA_LLM_BASE_URL / DEEPSEEK_API_KEY when set
(e.g. the test suite's fake: `python -m findata_assets_tests.fake_openai`), else it is skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Mapping, Optional

import dagster as dg

from findata_assets import environment
from findata_assets.eastmoney import catalog

_STORE_VARS = ("FINDATA_DATABASE_URL", "FINDATA_S3_ENDPOINT", "FINDATA_S3_BUCKET")


def fake_day_rows(trade_date: dt.date, scale: float = 1.0, seed: int = 0) -> dict[str, list[dict]]:
    """Typed rows of all 41 tables for `trade_date`, served by the fake API and parsed by the
    real client, exactly as the crawl would store them."""
    from findata_assets.eastmoney.client import EastmoneyClient
    from findata_assets.eastmoney.parsing import typed_rows
    from findata_assets.fake_eastmoney import FakeEastmoneyServer

    with FakeEastmoneyServer(scale=scale, seed=seed, frozen=True, trade_date=trade_date) as srv:
        client = EastmoneyClient(base_url=srv.url)
        try:
            snapshots = client.fetch_tables(list(catalog.ALL_TABLES))
        finally:
            client.close()
    return {spec.name: typed_rows(spec, snapshots[spec.name]) for spec in catalog.ALL_TABLES}


def store_fake_day(warehouse, trade_date: dt.date, scale: float = 1.0, seed: int = 0) -> int:
    rows = fake_day_rows(trade_date, scale, seed)
    for spec in catalog.ALL_TABLES:
        warehouse.store(spec, rows[spec.name])
    return sum(map(len, rows.values()))


def sample_environ(home: Path, lang: str, use_configured: bool,
                   environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    env = environment.snapshot() if environ is None else dict(environ)
    if not use_configured:
        for name in _STORE_VARS:
            env.pop(name, None)
        env["FINDATA_HOME"] = str(home)
    env["FINDATA_REPORT_LANG"] = lang
    return env


def render_sample(trade_date: dt.date, environ: Mapping[str, str], scale: float = 1.0,
                  instance: Optional[dg.DagsterInstance] = None):
    """Store the fake day, run the job; returns AnalysisReportOutcome."""
    from findata_assets.cli.analysis_run import run_analysis_report
    from findata_assets.defs.location import build_analysis_definitions
    from findata_assets.defs.analysis.assets import SAMPLE_TAG

    # the sample's day is a partition, however far back (the partitions start at the first day
    # collected otherwise)
    defs = build_analysis_definitions({**environ,
                                       "FINDATA_PARTITIONS_START": trade_date.isoformat()})
    warehouse = defs.resources["warehouse"]
    # the URL may be an EnvVar (a real database): resolve through the resource, as a run would
    with dg.build_resources({"warehouse": warehouse}) as built:
        store_fake_day(built.warehouse.get_warehouse(), trade_date, scale)
    with (dg.DagsterInstance.ephemeral() if instance is None else _borrowed(instance)) as inst:
        return run_analysis_report(defs, trade_date, inst, tags={SAMPLE_TAG: "true"})


class _borrowed:  # a caller's instance: use it, do not dispose it
    def __init__(self, instance):
        self.instance = instance

    def __enter__(self):
        return self.instance

    def __exit__(self, *exc):
        return False


def main(argv: Optional[list[str]] = None) -> int:
    from findata_assets import trading_calendar as tc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=".findata/sample", type=Path)
    parser.add_argument("--trade-date", type=dt.date.fromisoformat)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--use-configured-stores", action="store_true")
    args = parser.parse_args(argv)
    day = args.trade_date or tc.latest_trading_day(dt.datetime.now(tc.TZ))
    if not tc.is_trading_day(day):
        parser.error(f"{day} is not a trading day")
    print(f"SAMPLE REPORT from SYNTHETIC fake Eastmoney data for {day}", file=sys.stderr)
    env = sample_environ(args.home.resolve(), args.lang, args.use_configured_stores)
    outcome = render_sample(day, env, args.scale)
    print(f"status: {outcome.status}; narrative: {outcome.narrative_status}")
    print(f"report: {outcome.report_location}")
    if outcome.report_url:
        print(f"url:    {outcome.report_url}")
    return 0 if outcome.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
