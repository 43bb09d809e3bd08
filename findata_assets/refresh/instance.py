"""Kept for a dagster.yaml written before the CLI moved to findata_assets/cli: its `storage:
custom: module: findata_assets.refresh.instance` still loads. New configs name
findata_assets.cli.instance."""

from findata_assets.cli.instance import EnvSelectedStorage  # noqa: F401
