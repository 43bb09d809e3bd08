"""The intraday area: minute-by-minute flow history from the archived 1d snapshots."""
