"""The command line (`python -m findata_assets.run`): main.py dispatches; the policy runner and
its runs (execution, progress, control, lanes, runs), the operator commands (operations), the
Dagster instance (instance) and the analysis run and report sample."""
