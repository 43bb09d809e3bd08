"""Dagster wiring of the daily report (definitions.py merges it)."""
