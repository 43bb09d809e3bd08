"""findata: Eastmoney fund-flow data on Dagster.

The code location is `findata_assets.definitions` (`defs`); `-m findata_assets` works too
(`dagster job execute -m findata_assets -j stock_flow_job`): Dagster finds the loader below and
builds the definitions only when it calls it, so importing a submodule (the fake API, the CLI's
status command) does not build them.
"""

import dagster as dg


@dg.definitions  # not named `defs`: the subpackage findata_assets.defs takes that attribute
def findata() -> dg.Definitions:
    from findata_assets.defs import location

    return location()
