"""The daily Markdown report, without Dagster: charts (charts.py, fonts.py) and Markdown
(markdown.py, text.py). Its Dagster asset: findata_assets/defs/report."""
