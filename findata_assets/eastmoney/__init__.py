"""The Eastmoney fund-flow API, without Dagster: the catalog of 41 tables, the HTTP client and
its paging plan, parsing, the snapshot model, trade dates and errors. Its Dagster wiring:
findata_assets/defs/eastmoney."""
