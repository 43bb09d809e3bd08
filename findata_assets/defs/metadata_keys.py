"""Metadata keys and run tags that more than one module reads: the assets and IO managers
write them, the CLI's summary and progress lines, the sensors and the UI read them."""

from findata_assets.run_names import POLICY_TAG  # noqa: F401  (the refresh policy of a run)

# a table partition's materialization
TABLE = "table"
ROW_COUNT = "dagster/row_count"  # Dagster shows it as the partition's row count
TRADE_DATE = "trade_date"
ARCHIVE_KEY = "archive_key"  # where the raw snapshot of a raw-asset partition is archived
ARCHIVE = "archive"  # the object store configured (s3://bucket at endpoint, or a folder)
WAREHOUSE = "warehouse"  # the database configured, password masked
SYNTHETIC = "synthetic_data"  # True: the bundled fake API served it, not market data
# a table step's output
STORE_SECONDS = "store_seconds"
STORED_BEFORE_FAILURE = "stored_before_the_step_failed"
# the analysis and report assets
STATUS = "status"  # an observation's "skipped: why"
NARRATIVE_STATUS = "narrative_status"
REPORT_KEY = "report_key"
REPORT_LOCATION = "report_location"
REPORT_URL = "report_url"

# run tags Dagster reads for a partition range, and the single-partition tag
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
# a scheduled run's step retries start before this instant (ISO): the lane's next tick, less the
# time a retry needs; a later retry would only hold the lane while the next tick fetches afresh
RETRY_BEFORE_TAG = "findata/retry_before"
# "<pid>@<host>" of the CLI process that executes a run in-process (cli/runs.py sets it)
CLI_TAG = "findata/cli"
