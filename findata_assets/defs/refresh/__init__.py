"""Dagster wiring of the refresh automation: policies (data), planning, schedules, sensors and
alerts (definitions.py merges them)."""
