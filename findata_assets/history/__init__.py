"""The daily history lane (no Dagster here): every stock's, board's and the market's daily fund
flows for the days the source still keeps (~120 sessions), fetched one security at a time at a
pace the source tolerates, archived raw before parsing so a stopped backfill resumes where it
stopped, and stored once per security and day (storage/daily_flow.py).

    securities.py   who to fetch, in which order (market, boards, stocks by turnover)
    raw_archive.py  each security's answer, zstd, keyed by the session it ends at
    rows.py         a kline line or a watched close snapshot as a daily row; their agreement
    progress.py     done / total, rows, rate, time left
    backfill.py     one run over a range of days: fetch, archive, parse, store, account
"""
