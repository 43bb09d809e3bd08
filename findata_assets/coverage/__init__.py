"""Coverage of the intraday history: which minutes of a session a day holds, and why the others
are missing (no tick, lane busy, run failed, API unavailable). Free of Dagster: the attempts come
from the caller (defs/intraday/attempts.py reads them from the Dagster instance)."""
