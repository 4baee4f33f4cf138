"""A code location whose schedule runs by default (tests load it on purpose only: a running
schedule makes the schedules daemon required, which the doctor reports)."""

from __future__ import annotations

from queueing.definitions import (
    DefaultScheduleStatus,
    Definitions,
    SkipReason,
    job,
    op,
    schedule,
)


@op
def noop():
    return None


@job
def default_job():
    noop()


@schedule(
    cron_schedule="*/5 * * * *", job=default_job, default_status=DefaultScheduleStatus.RUNNING
)
def runs_by_default(context):
    return SkipReason("nothing to do at " + context.scheduled_execution_time.isoformat())


defs = Definitions(jobs=[default_job], schedules=[runs_by_default])
