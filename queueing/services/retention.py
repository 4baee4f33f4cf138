"""Bounded history: wait history and tick records are pruned by the run-monitoring tick."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..engine.config.model import InstanceConfig
from ..engine.types import RunStatus
from ..models import RunWait, TickRecord

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
