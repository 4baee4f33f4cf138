"""A code location for tests: jobs whose timing the tests control through op config."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from queueing.definitions import (
    DailyPartitionsDefinition,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    SkipReason,
    StaticPartitionsDefinition,
    job,
    op,
    schedule,
    sensor,
)


def _seconds(context, default: float) -> float:
    config = context.op_config or {}
    return float(config.get("seconds", default))


@op(pool="shared")
def pooled_sleep(context):
    time.sleep(_seconds(context, 0.5))
    return os.getpid()


@op(pool="shared")
def pooled_sleep_b(context):
    time.sleep(_seconds(context, 0.5))
    return os.getpid()


@op
def plain_sleep(context):
    time.sleep(_seconds(context, 0.5))
    return "done"


@op
def crash_hard():
    os._exit(7)


@op
def downstream(value):
    return value


@job
def pooled_pair():
    """Two parallel steps on pool `shared`."""
    pooled_sleep()
    pooled_sleep_b()


@job
def sleepy():
    plain_sleep()


@job
def crashes():
    downstream(crash_hard())


def _where(context):
    """Where the step ran: its process, its parent, and (PostgreSQL) its database session."""
    from django.db import connection

    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    time.sleep(_seconds(context, 0))
    return {"pid": os.getpid(), "ppid": os.getppid(), "backend": backend}


@op
def where_a(context):
    return _where(context)


@op
def where_b(context):
    return _where(context)


@job
def whoami():
    """Two parallel steps that say which process and database session ran them."""
    where_a()
    where_b()


@op
def partition_sleep(context):
    time.sleep(_seconds(context, 0.5))
    return context.partition_key


@op
def partition_fails_on_odd(context):
    if int(context.partition_key[-1]) % 2:
        raise ValueError(f"partition {context.partition_key} fails on purpose")
    return context.partition_key


# 2,000+ daily keys (2020-01-01 to now): the backfill benchmark takes 1,000 of them.
@job(partitions_def=DailyPartitionsDefinition(start_date="2020-01-01"))
def daily_sleepy():
    partition_sleep()


@job(partitions_def=StaticPartitionsDefinition([f"p{i}" for i in range(10)]))
def odd_partitions_fail():
    partition_fails_on_odd()


# --- schedules and sensors (issue 16) ----------------------------------------------------

every_minute = ScheduleDefinition(
    name="every_minute", job=sleepy, cron_schedule="* * * * *", tags={"source": "cron"}
)


@schedule(cron_schedule="0 0 * * *", job=daily_sleepy, execution_timezone="UTC")
def nightly_partition(context):
    """Yesterday's partition, every night."""
    yesterday = context.scheduled_execution_time.date() - timedelta(days=1)
    return RunRequest(partition_key=yesterday.isoformat())


@schedule(cron_schedule="*/5 * * * *", job=sleepy)
def always_skips(context):
    return SkipReason("nothing to do at " + context.scheduled_execution_time.isoformat())


BURST = 12


@sensor(job=sleepy, minimum_interval_seconds=1)
def my_cool_sensor(context):
    """One burst of BURST runs (run keys burst-0..), then nothing: the cursor remembers."""
    if context.cursor == "fired":
        return SkipReason("the burst was already requested")
    context.update_cursor("fired")
    seconds = float(os.environ.get("BURST_RUN_SECONDS", "0.5"))
    return [
        RunRequest(
            run_key=f"burst-{i}",
            run_config={"ops": {"plain_sleep": {"config": {"seconds": seconds}}}},
        )
        for i in range(BURST)
    ]


@sensor(job=sleepy, minimum_interval_seconds=1)
def same_key_sensor(context):
    yield RunRequest(run_key="always-the-same")


@sensor(job=sleepy, minimum_interval_seconds=1)
def slow_sensor(context):
    time.sleep(30)
    return RunRequest(run_key="never")


@sensor(job=sleepy, minimum_interval_seconds=1)
def broken_sensor(context):
    raise RuntimeError("the sensor's source is down")


defs = Definitions(
    jobs=[pooled_pair, sleepy, crashes, whoami, daily_sleepy, odd_partitions_fail],
    schedules=[every_minute, nightly_partition, always_skips],
    sensors=[my_cool_sensor, same_key_sensor, slow_sensor, broken_sensor],
)
