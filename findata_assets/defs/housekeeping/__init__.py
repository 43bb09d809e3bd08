"""Housekeeping: the retention job and its schedule."""
