"""The code location assembled from the areas' definitions (see defs/__init__.py)."""

from __future__ import annotations

import functools
from typing import Iterable, Mapping, Optional

import dagster as dg

from findata_assets import settings as findata_settings
from findata_assets.defs import run_logging, trading_days
from findata_assets.defs.analysis import definitions as analysis
from findata_assets.defs.eastmoney import definitions as eastmoney
from findata_assets.defs.history import definitions as history
from findata_assets.defs.housekeeping import definitions as housekeeping
from findata_assets.defs.intraday import definitions as intraday
from findata_assets.defs.refresh import definitions as refresh
from findata_assets.defs.report import definitions as report
from findata_assets.defs.report.definitions import ANALYSIS_JOB_NAME
from findata_assets.defs.storage import definitions as storage
from findata_assets.settings import FindataSettings


def build_definitions(environ: Optional[Mapping[str, str]] = None) -> dg.Definitions:
    """The whole code location from `environ` (default: the process environment); a bad
    setting raises SettingsError naming its variable, at load time."""
    return _assemble(findata_settings.load(environ))


def _assemble(settings: FindataSettings) -> dg.Definitions:
    areas = [eastmoney.definitions(settings), *_stores_and_analysis(settings)]
    job_names = {job.name for part in areas for job in (part.jobs or [])}
    return refresh.with_freshness(_merge(*areas, refresh.definitions(settings, job_names)))


def _merge(*parts: dg.Definitions) -> dg.Definitions:
    # A process per step costs 1-2 s here; the steps are I/O-bound and parallel inside.
    return dg.Definitions.merge(*parts, dg.Definitions(executor=dg.in_process_executor,
                                                       loggers=run_logging.LOGGERS))


def location() -> dg.Definitions:
    """The code location for the current environment, built once per distinct configuration
    (the CLI's `--offline` changes the API URL before its first call)."""
    return _cached(findata_settings.load())


def location_covering(defs: dg.Definitions, days: Iterable[str]) -> dg.Definitions:
    """`defs`, or the location built again when one of `days` is not one of its trading-day
    partitions: those start at the first day collected, read when `defs` was built, and a
    cycle since may have stored an earlier first day."""
    partitions = defs.resolve_job_def(ANALYSIS_JOB_NAME).partitions_def
    if set(days) <= set(partitions.get_partition_keys()):
        return defs
    _cached.cache_clear()
    return location()


@functools.lru_cache(maxsize=4)
def _cached(settings: FindataSettings) -> dg.Definitions:
    return _assemble(settings)


def build_analysis_definitions(environ: Optional[Mapping[str, str]] = None) -> dg.Definitions:
    """The analysis and report alone, over the same stores (the report samples run this)."""
    return _merge(*_stores_and_analysis(findata_settings.load(environ)))


def _stores_and_analysis(settings: FindataSettings) -> list[dg.Definitions]:
    # one read: the analysis, report and intraday share these days; the history reaches back
    days, history_days = trading_days.for_settings(settings)
    return [storage.definitions(settings), analysis.definitions(settings, days),
            report.definitions(settings, days), intraday.definitions(settings, days),
            history.definitions(settings, history_days), housekeeping.definitions(settings)]
