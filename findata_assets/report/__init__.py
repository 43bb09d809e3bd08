"""The daily Markdown report: charts (charts.py, fonts.py), Markdown (markdown.py, text.py) and
the `fund_flow_report` asset (assets.py)."""
