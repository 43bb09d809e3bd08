"""findata: Eastmoney fund-flow data on Dagster. The code location is `findata_assets.definitions`."""
