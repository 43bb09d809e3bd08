"""The code location, assembled from one folder per area:

    eastmoney/  the fund-flow families, assets, checks, partitions, jobs, IO managers, client
    storage/    the warehouse and object store resources
    intraday/   the intraday tables, their Parquet days, coverage, the stall alert
    history/    the daily history (daily_*_flow, one run per range), its lane's resource
    analysis/   the daily digest + narrative asset, the LLM resource
    report/     the Markdown report asset, analysis_report_job
    refresh/    schedules, sensors, alerts, policies, planning, freshness
    housekeeping/  retention's job and schedule

Each area's `definitions(settings)` returns its part; location.py merges them. Every entry point
(`-m findata_assets`, `-m findata_assets.definitions`, the CLI) calls `location.location()`,
which builds them once per process and configuration. This file imports nothing, so reading a
constant (metadata_keys) does not load the whole wiring.
"""
