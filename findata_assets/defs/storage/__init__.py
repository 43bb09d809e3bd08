"""Dagster wiring of the stores: resources, IO managers (definitions.py merges them)."""
