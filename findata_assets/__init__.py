"""findata: Eastmoney fund-flow data on Dagster.

The code location is `findata_assets.definitions` (`defs`); `-m findata_assets` works too
(`dagster job execute -m findata_assets -j stock_flow_job`): Dagster finds the loader below and
builds the definitions only when it calls it, so importing a submodule (the fake API, the CLI's
status command) does not build them.
"""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from findata_assets.definitions import defs as location

    return location
