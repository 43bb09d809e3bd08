"""Dagster wiring of the Eastmoney fund flows (definitions.py merges them)."""
