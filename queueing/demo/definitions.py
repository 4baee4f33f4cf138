"""The demo code location (`CODE_LOCATIONS=queueing.demo.definitions`, the default).

Jobs are fast but take long enough to watch in the dashboard: each step sleeps
0.5-3 s times env DEMO_SLEEP_SCALE (default 1.0; tests use a small value), logs a line
and returns a small JSON-safe value.

What each job is for:
- `redshift_etl`, `snowflake_sync`: run tags `database: redshift|snowflake` (for run-level
  tag limits) and steps on the `redshift` / `snowflake` pools.
- `api_ingest`: three root steps on the `api` pool, one with op priority 5.
- `parallel_fanout`: one step fans out to 4 branches then fans in (for max_concurrent).
- `always_fails`: its step raises ValueError.
- `orders_pipeline`, `orders_reporting`: asset jobs over the orders asset graph.
- `quick`: one 0.2 s step, for load tests.
- `daily_sales` (asset, daily partitions from 2024-01-01) and its job `daily_sales_job`,
  `regional_export` (a job over static partitions): for backfills (`dagster/backfill`).
- `nightly_sales` (a schedule: yesterday's `daily_sales` partition at 02:00 UTC) and
  `new_orders_sensor` (a sensor: one `quick` run per new minute, run key = the minute,
  cursor = the last minute seen). Both start stopped: start them on the Automation page.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from queueing.definitions import (
    DailyPartitionsDefinition,
    Definitions,
    RunRequest,
    SkipReason,
    StaticPartitionsDefinition,
    StepContext,
    asset,
    define_asset_job,
    job,
    op,
    schedule,
    sensor,
)

SLEEP_SCALE_ENV = "DEMO_SLEEP_SCALE"


def _nap(seconds: float) -> None:
    # Read at call time so a test can change the scale after import.
    raw = os.environ.get(SLEEP_SCALE_ENV, "1.0")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"{SLEEP_SCALE_ENV}={raw!r} is not a number") from None
    if scale < 0:
        raise ValueError(f"{SLEEP_SCALE_ENV}={raw!r} must not be negative")
    time.sleep(seconds * scale)


# --- Redshift ETL ------------------------------------------------------------------------


@op(pool="redshift")
def extract_orders(context: StepContext) -> list[int]:
    """Unload yesterday's orders from Redshift."""
    _nap(2.0)
    context.log.info("extracted 3 order batches from redshift")
    return [120, 340, 95]


@op
def transform_orders(context: StepContext, batches: list[int]) -> dict[str, int]:
    _nap(1.0)
    summary = {"batches": len(batches), "rows": sum(batches)}
    context.log.info(f"transformed {summary['rows']} rows")
    return summary


@op(tags={"dagster/concurrency_key": "redshift"})
def load_orders(context: StepContext, summary: dict[str, int]) -> str:
    """Write back to Redshift; uses the legacy concurrency-key tag instead of `pool=`."""
    table = (context.op_config or {}).get("table", "analytics.orders")
    _nap(1.5)
    context.log.info(f"loaded {summary['rows']} rows into {table}")
    return table


@job(
    tags={"database": "redshift"},
    config={"ops": {"load_orders": {"config": {"table": "analytics.orders"}}}},
)
def redshift_etl() -> None:
    """Extract, transform and load orders on Redshift."""
    load_orders(transform_orders(extract_orders()))


# --- Snowflake sync ----------------------------------------------------------------------


@op(pool="snowflake")
def snapshot_customers(context: StepContext) -> int:
    _nap(1.5)
    context.log.info("snapshotted 1,204 customers")
    return 1204


@op(pool="snowflake")
def merge_customers(context: StepContext, count: int) -> int:
    _nap(2.0)
    context.log.info(f"merged {count} customers into dim_customers")
    return count


@job(tags={"database": "snowflake"})
def snowflake_sync() -> None:
    """Snapshot and merge customers in Snowflake (both steps on the snowflake pool)."""
    merge_customers(snapshot_customers())


# --- Warehouse: weighted slots and a step on two pools ------------------------------------


@op(pool="warehouse", pool_slots=3)
def rebuild_marts(context: StepContext) -> int:
    """A heavy query worth three small ones: claims 3 slots of the warehouse pool at once."""
    _nap(2.5)
    context.log.info("rebuilt 12 marts in the warehouse")
    return 12


@op(pool="warehouse")
def refresh_dashboards(context: StepContext, marts: int) -> int:
    _nap(1.0)
    context.log.info(f"refreshed the dashboards of {marts} marts")
    return marts


@job(tags={"database": "warehouse"})
def warehouse_rebuild() -> None:
    """A weighted step (3 warehouse slots), then a light one (1 slot)."""
    refresh_dashboards(rebuild_marts())


@op(pools={"warehouse": 2, "partner_api": 1})
def sync_partner(context: StepContext) -> int:
    """Reads the warehouse and calls a rate-limited partner API: claims 2 warehouse slots
    and 1 partner_api slot together, or neither."""
    _nap(2.0)
    context.log.info("pushed 310 rows to the partner API")
    return 310


@job
def partner_sync() -> None:
    """One step on two pools at once (warehouse 2 slots, partner_api 1)."""
    sync_partner()


# --- API ingest --------------------------------------------------------------------------


@op(pool="api")
def fetch_customers(context: StepContext) -> int:
    _nap(1.0)
    context.log.info("fetched 50 customers from the CRM API")
    return 50


@op(pool="api")
def fetch_invoices(context: StepContext) -> int:
    _nap(1.5)
    context.log.info("fetched 80 invoices from the billing API")
    return 80


@op(pool="api", tags={"dagster/priority": "5"})
def fetch_payments(context: StepContext) -> int:
    """Runs first among ready steps: payments feed the fraud checks."""
    _nap(0.5)
    context.log.info("fetched 30 payments from the payments API")
    return 30


@op
def combine_api_data(context: StepContext, customers: int, invoices: int, payments: int) -> int:
    _nap(0.5)
    total = customers + invoices + payments
    context.log.info(f"combined {total} API records")
    return total


@job
def api_ingest() -> None:
    """Three API calls on the `api` pool, then one combine step."""
    combine_api_data(fetch_customers(), fetch_invoices(), fetch_payments())


# --- Fan out, fan in ---------------------------------------------------------------------


@op
def plan_shards(context: StepContext) -> int:
    _nap(0.5)
    context.log.info("planned 4 shards")
    return 4


@op
def process_shard(context: StepContext, shards: int) -> int:
    """Called four times in `parallel_fanout`: steps process_shard, process_shard_2, …"""
    _nap(3.0)
    context.log.info(f"processed shard {context.step_key} of {shards}")
    return 250


@op
def merge_shards(context: StepContext, a: int, b: int, c: int, d: int) -> int:
    _nap(0.5)
    context.log.info(f"merged {a + b + c + d} rows from 4 shards")
    return a + b + c + d


@job
def parallel_fanout() -> None:
    """Four parallel branches between a fan-out and a fan-in: watch max_concurrent."""
    shards = plan_shards()
    merge_shards(
        process_shard(shards), process_shard(shards), process_shard(shards), process_shard(shards)
    )


# --- Failure -----------------------------------------------------------------------------


@op
def explode(context: StepContext) -> None:
    _nap(0.5)
    context.log.error("about to fail on purpose")
    raise ValueError("always_fails failed on purpose")


@job(tags={"team": "demo"})
def always_fails() -> None:
    """A job whose only step raises ValueError."""
    explode()


# --- Quick -------------------------------------------------------------------------------


@op
def ping(context: StepContext) -> str:
    _nap(0.2)
    context.log.info("pong")
    return "pong"


@job
def quick() -> None:
    """One 0.2 s step, for load tests."""
    ping()


# --- Orders assets -----------------------------------------------------------------------


@asset(pool="redshift", tags={"domain": "sales"})
def raw_orders(context: StepContext) -> list[dict[str, Any]]:
    """Orders as landed from the shop database."""
    _nap(1.5)
    context.log.info("loaded 3 raw orders")
    return [
        {"id": 1, "amount": 30, "status": "paid"},
        {"id": 2, "amount": 45, "status": "refunded"},
        {"id": 3, "amount": 25, "status": "paid"},
    ]


@asset(op_tags={"database": "redshift"}, tags={"domain": "sales"})
def cleaned_orders(raw_orders: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Paid orders only. Runs without a context, like a plain function."""
    _nap(1.0)
    return [order for order in raw_orders or [] if order["status"] == "paid"]


@asset(pool="snowflake", op_tags={"database": "snowflake"})
def order_summary(context: StepContext, cleaned_orders: list[dict[str, Any]] | None) -> dict:
    _nap(2.0)
    orders = cleaned_orders or []
    summary = {"orders": len(orders), "revenue": sum(o["amount"] for o in orders)}
    context.log.info(f"order summary: {summary}")
    return summary


@asset
def customer_segments() -> list[str]:
    """No inputs, no context."""
    _nap(0.5)
    return ["new", "returning", "vip"]


@asset(deps=[order_summary, customer_segments], op_tags={"dagster/priority": "5"})
def orders_report(context: StepContext) -> str:
    """Waits for the summary and segments without reading them (`deps=`)."""
    _nap(0.5)
    context.log.info("published the orders report")
    return "report.html"


# --- Partitions -----------------------------------------------------------------------

daily = DailyPartitionsDefinition(start_date="2024-01-01")


@asset(partitions_def=daily, pool="snowflake")
def daily_sales(context: StepContext) -> dict[str, Any]:
    """One day of sales; backfill it over a range of days."""
    _nap(1.0)
    context.log.info("loading sales of %s", context.partition_key)
    return {"day": context.partition_key, "orders": 42}


daily_sales_job = define_asset_job("daily_sales_job", selection=[daily_sales])

regions = StaticPartitionsDefinition(["emea", "amer", "apac"])


@op
def export_region(context: StepContext) -> str:
    _nap(1.0)
    context.log.info("exporting %s", context.partition_key)
    return context.partition_key


@job(partitions_def=regions, tags={"database": "redshift"})
def regional_export():
    """One run per region."""
    export_region()


# --- Schedules and sensors ------------------------------------------------------------


@schedule(cron_schedule="0 2 * * *", job=daily_sales_job, execution_timezone="UTC")
def nightly_sales(context):
    """Yesterday's sales partition, every night at 02:00."""
    yesterday = context.scheduled_execution_time.date() - timedelta(days=1)
    return RunRequest(partition_key=yesterday.isoformat())


@sensor(job=quick, minimum_interval_seconds=30)
def new_orders_sensor(context):
    """A run per new minute of orders: the minute is the run key, the cursor the last one."""
    minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
    if context.cursor == minute:
        return SkipReason(f"no new orders since {minute}")
    context.update_cursor(minute)
    return RunRequest(run_key=f"orders-{minute}", tags={"source": "orders"})


ORDER_ASSETS = [raw_orders, cleaned_orders, order_summary, customer_segments, orders_report]

orders_pipeline = define_asset_job(
    "orders_pipeline",
    selection=ORDER_ASSETS,
    tags={"database": "redshift"},
    description="Materialize every orders asset.",
)

# Its dependencies outside the selection are ignored: it only republishes the report.
orders_reporting = define_asset_job(
    "orders_reporting",
    selection=[orders_report],
    description="Republish the orders report.",
)


defs = Definitions(
    assets=[*ORDER_ASSETS, daily_sales],
    jobs=[
        redshift_etl,
        snowflake_sync,
        api_ingest,
        parallel_fanout,
        always_fails,
        quick,
        warehouse_rebuild,
        partner_sync,
        orders_pipeline,
        orders_reporting,
        daily_sales_job,
        regional_export,
    ],
    schedules=[nightly_sales],
    sensors=[new_orders_sensor],
)
