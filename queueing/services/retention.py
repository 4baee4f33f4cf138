"""Bounded history: finished runs, wait history and tick records are pruned by the
run-monitoring tick."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from ..engine.config.model import InstanceConfig
from ..engine.types import FINISHED_STATUSES, RunStatus
from ..models import Run, RunWait, TickRecord

TICK_RECORD_RETENTION = timedelta(hours=24)


def prune(config: InstanceConfig, now: datetime) -> tuple[int, int]:
    """Delete wait history older than `concurrency_ui.wait_history_retention_days` (0 keeps
    it forever) and tick records older than 24 h; return (waits, ticks) deleted.

    A wait counts as old once it ended before the cutoff; an open wait is kept while its run
    is still queued (it is the run's current reason), whatever its age.
    """
    waits = 0
    days = config.extra.wait_history_retention_days
    if days > 0:
        cutoff = now - timedelta(days=days)
        waits, _ = RunWait.objects.filter(ended_at__lt=cutoff).delete()
        # Open waits of runs that left the queue without a launch (canceled while queued).
        stale, _ = (
            RunWait.objects.filter(ended_at__isnull=True, started_at__lt=cutoff)
            .exclude(run__status=RunStatus.QUEUED)
            .delete()
        )
        waits += stale
    ticks, _ = TickRecord.objects.filter(started_at__lt=now - TICK_RECORD_RETENTION).delete()
    return waits, ticks


# Finished runs are deleted this many at a time (one transaction each), and at most
# RUN_PRUNE_BATCHES batches per monitoring tick: a first prune of a long history spreads
# over several ticks instead of holding one long transaction.
RUN_PRUNE_BATCH = 1000
RUN_PRUNE_BATCHES = 10


def prune_runs(config: InstanceConfig, now: datetime) -> int:
    """Delete finished runs that ended more than `concurrency_ui.run_retention_days` ago
    (0, the default, keeps every run), with their steps, events, wait history and any
    pool entry left behind; return how many runs were deleted.

    Locks: none beyond each batch's own transaction. Only runs in a finished status are
    deleted (`WHERE status IN finished`, checked again by the DELETE), so a run that is
    queued or in progress is never touched, whatever its age. The audit log is kept.
    """
    days = config.extra.run_retention_days
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    old = Run.objects.finished().filter(ended_at__lt=cutoff)
    deleted = 0
    for _ in range(RUN_PRUNE_BATCHES):
        ids = list(old.order_by("ended_at").values_list("id", flat=True)[:RUN_PRUNE_BATCH])
        if not ids:
            break
        with transaction.atomic():
            # The children have no relations of their own: Django deletes each table with
            # one statement per batch, without loading a row.
            _, per_model = Run.objects.filter(
                id__in=ids, status__in=list(FINISHED_STATUSES)
            ).delete()
        deleted += per_model.get(Run._meta.label, 0)
        if len(ids) < RUN_PRUNE_BATCH:
            break
    return deleted
