"""Dagster wiring of the stores: the warehouse and object store resources."""
