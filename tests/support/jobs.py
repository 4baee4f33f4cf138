"""A code location for tests: jobs whose timing the tests control through op config."""

from __future__ import annotations

import os
import time

from queueing.definitions import Definitions, job, op


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


defs = Definitions(jobs=[pooled_pair, sleepy, crashes])
