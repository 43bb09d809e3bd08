"""The daily fund-flow analysis: numeric digest (digest.py), LLM narrative (narrative.py), the
`fund_flow_analysis` SQL history (history.py), resources and the Dagster asset. Definitions for
the code location: findata_assets/analysis/definitions.py."""
