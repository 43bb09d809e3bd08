"""The Dagster resources of the two stores (the archive and the warehouse). Below `defs/`: the
code location wires them, and the commands outside it (the reader, the CLI, the deploy hook)
build the same resources from the settings without importing the Dagster wiring."""
