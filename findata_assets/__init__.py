"""findata: Eastmoney fund-flow data on Dagster.

The code location is `findata_assets.definitions` (`defs`); `-m findata_assets` works too
(`dagster job execute -m findata_assets -j stock_flow_job`): Dagster lists this package's members,
finds `findata` (the lazy loader of findata_assets.definitions) and builds the definitions only
when it calls it. The attribute is resolved on demand, so importing a submodule (the client, the
warehouse, the fake API) loads neither the definitions nor Dagster.
"""


def __getattr__(name: str):
    # not named `defs`: the subpackage findata_assets.defs takes that attribute once imported
    if name == "findata":
        from findata_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'findata_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "findata"])
