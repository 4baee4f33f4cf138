"""Queues that cannot grow stale: run monitoring cancels runs queued longer than their bound
(`concurrency_ui.max_queued_seconds` and `max_queued_seconds_by_tag`, engine/staleness.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from ..engine import staleness as engine
from ..engine.config.model import InstanceConfig
from ..engine.types import RunStatus
from ..models import Run, RunEvent, RunWait
from . import runs
from .audit import record

ACTOR = "run_monitoring"
AUDIT_ACTION = "run.queue_timeout"


def cancel_overdue(config: InstanceConfig, now: datetime) -> tuple[engine.QueueTimeout, ...]:
    """Cancel every queued run waiting longer than its bound; return those canceled.

    Reads only runs queued at least the shortest bound (nothing younger can be overdue).
    Each cancel is its own transaction: the conditional QUEUED -> CANCELED update of
    `runs.transition` (no lock held across runs), so a run a tick launched meanwhile is
    left alone, and two monitoring ticks never cancel one run twice; the audit entry and
    the `queue_timeout` event are written only by the one that moved it.
    """
    rules = config.extra.stale_rules
    candidates = queued_ages(rules.shortest(), now)
    canceled = []
    for timeout in engine.overdue(rules, candidates, now.timestamp()):
        if _cancel(timeout):
            canceled.append(timeout)
    return tuple(canceled)


def queued_ages(older_than: float | None, now: datetime) -> list[engine.QueuedAge]:
    """The queued runs queued at least `older_than` seconds (a rule's `shortest()` bound:
    nothing younger can be overdue), in queue order; none when it is None (no bound)."""
    if older_than is None:
        return []
    rows = (
        Run.objects.queued()
        .filter(enqueued_at__lt=now - timedelta(seconds=older_than))
        .in_queue_order()
        .values_list("run_id", "enqueued_at", "tags")
        .iterator(2000)
    )
    return [
        engine.QueuedAge(run_id, enqueued_at.timestamp(), tags or {})
        for run_id, enqueued_at, tags in rows
    ]


def _cancel(timeout: engine.QueueTimeout) -> bool:
    with transaction.atomic():
        moved = runs.transition(
            [timeout.run_id],
            RunStatus.QUEUED,
            RunStatus.CANCELED,
            timeout.reason,
            failure_reason=timeout.reason,
            wait_rule="",
            wait_reason="",
        )
        if not moved:
            return False
        run = Run.objects.get(run_id=timeout.run_id)
        # Its wait history ends with it (the tick only closes rows of runs still queued).
        RunWait.objects.filter(run=run, ended_at__isnull=True).update(ended_at=run.ended_at)
        RunEvent.objects.create(run=run, kind=engine.TIMEOUT_EVENT, message=timeout.bound.label)
        record(
            ACTOR,
            AUDIT_ACTION,
            timeout.run_id,
            {"status": RunStatus.QUEUED.value},
            {
                "status": RunStatus.CANCELED.value,
                "rule": timeout.bound.rule,
                "subject": timeout.bound.subject,
                "seconds": timeout.bound.seconds,
                "waited_seconds": round(timeout.waited),
            },
        )
    return True


def recent_timeouts(now: datetime) -> dict[str, int]:
    """Runs canceled for their queue age within `REPEATED_WINDOW_SECONDS`, by job name."""
    since = now - timedelta(seconds=engine.REPEATED_WINDOW_SECONDS)
    counts: dict[str, int] = {}
    for job in RunEvent.objects.filter(
        kind=engine.TIMEOUT_EVENT, created_at__gte=since
    ).values_list("run__job_name", flat=True):
        counts[job] = counts.get(job, 0) + 1
    return counts
