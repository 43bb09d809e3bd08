"""Where a day's report lives in the object store (shared by the report asset and the reader):

    reports/<trade_date>/report.md, report.html, charts/<name>.png
"""

from __future__ import annotations

import datetime as dt

REPORT_PREFIX = "reports"
REPORT_NAME = "report.md"
PAGE_NAME = "report.html"
CHART_DIR = "charts"


def report_prefix(trade_date: dt.date) -> str:
    return f"{REPORT_PREFIX}/{trade_date.isoformat()}/"


def report_key(trade_date: dt.date) -> str:
    return report_prefix(trade_date) + REPORT_NAME
