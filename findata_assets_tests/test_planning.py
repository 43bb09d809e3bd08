"""Policies become ranged runs: one stock run and one sector run, never a run per partition."""

import pytest

from findata_assets.defs.eastmoney import partitions
from findata_assets.defs.refresh.planning import plan_runs
from findata_assets.defs.refresh.policies import POLICIES, get_policy

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _range_keys(run):
    pdef = partitions.PARTITIONS[run.kind]
    import dagster as dg

    return set(pdef.get_partition_keys_in_range(
        dg.PartitionKeyRange(run.tags[RANGE_START], run.tags[RANGE_END])))


@pytest.mark.parametrize("name,stock,sector", [("full", 32, 9), ("incremental", 8, 3), ("quick", 1, 0)])
def test_policy_plans_one_ranged_run_per_family(name, stock, sector):
    runs = plan_runs(get_policy(name), cycle_id="c1", split="family")
    by_kind = {r.kind: r for r in runs}
    assert len(runs) == (1 if sector == 0 else 2)
    assert len(by_kind["stock"].partition_keys) == stock
    for run in runs:
        # the range tags select exactly the policy's partitions, nothing more
        assert _range_keys(run) == set(run.partition_keys)
        assert run.tags["findata/policy"] == name and run.tags["findata/cycle"] == "c1"
        assert run.tags["findata/lane"] == f"{name}:{run.kind}"
    if sector:
        assert len(by_kind["sector"].partition_keys) == sector


def test_incremental_is_the_eleven_today_tables():
    policy = POLICIES["incremental"]
    assert all(k.endswith("|1d") for k in policy.stock_partitions + policy.sector_partitions)
    assert policy.table_count == 11


def test_non_rectangular_selection_is_refused():
    with pytest.raises(ValueError, match="rectangle"):
        partitions.range_tags("stock", ["all|1d", "sh_a|3d"])


def test_unknown_policy_names_the_choices():
    with pytest.raises(KeyError, match="full"):
        get_policy("hourly")
