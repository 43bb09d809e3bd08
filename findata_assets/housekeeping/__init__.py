"""Retention: what the platform deletes, accounted for first."""
