"""Names that the Dagster wiring (defs/) gives runs and that code below it (housekeeping) reads:
plain strings, so both import them downward."""

POLICY_TAG = "findata/policy"  # the refresh policy (lane) of a run: full, incremental, quick
POLICY_NAMES = ("full", "incremental", "quick")  # defs/refresh/policies.py defines each
INTRADAY_JOB_NAME = "intraday_job"  # defs/intraday/definitions.py
ANALYSIS_JOB_NAME = "analysis_report_job"  # defs/report/definitions.py; the sensors and the CLI launch it
