"""Dagster wiring of the daily analysis (definitions.py merges it)."""
