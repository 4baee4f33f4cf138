"""A code location for tests: jobs whose timing the tests control through op config."""

from __future__ import annotations

import os
import time

from queueing.definitions import (
    DailyPartitionsDefinition,
    Definitions,
    StaticPartitionsDefinition,
    job,
    op,
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


defs = Definitions(jobs=[pooled_pair, sleepy, crashes, daily_sleepy, odd_partitions_fail])
