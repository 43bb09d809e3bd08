"""The daily fund-flow analysis, without Dagster: the numeric digest (digest.py), the LLM
narrative (narrative.py) and the `fund_flow_analysis` SQL history (history.py). Its Dagster
asset and resources: findata_assets/defs/analysis."""
