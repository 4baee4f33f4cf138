"""Ticks on events: a submit, a run's end, a freed slot or a changed limit asks for a
run-queue tick at once instead of waiting for the next `dequeue_interval_seconds`.

Requests are coalesced: the `TickRequest` row of the run queue holds when the pending
request was sent. An event sends the tick task only when no request is pending, so
however many events arrive, at most one requested tick waits in the broker. The tick
takes the request (`take`) before it reads the queue, so an event committed after that
read finds no request pending and queues exactly one more tick, which sees it. Ticks stay
serialised by the deployment-settings row lock (`run_queue.tick`), and the periodic tick
of beat stays the safety net: a request whose task was lost (broker down, worker killed)
is sent again by the first event after `STALE_REQUEST_SECONDS`, and the periodic tick
launches what it would have launched meanwhile.

Locks: none. The request is one conditional UPDATE (only one of two concurrent events
can flip it), made after the event's transaction commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import dispatch
from ..models import DaemonHeartbeat, TickRequest

log = logging.getLogger(__name__)

RUN_QUEUE = DaemonHeartbeat.Daemon.RUN_QUEUE.value
# A request still pending after this long is taken as lost: the next event sends another.
STALE_REQUEST_SECONDS = 10.0


def request_run_queue_tick() -> None:
    """Ask for a run-queue tick once the current transaction commits (at once outside one).

    Never raises: an event must not fail because its tick could not be asked for (the
    periodic tick launches the run a little later)."""
    transaction.on_commit(_send_request)


def _send_request() -> None:
    try:
        if not _claim(timezone.now()):
            return  # a requested tick is already waiting; it will see this event
        if not dispatch.run_queue_tick_now():
            log.warning("could not send a run-queue tick request; the periodic tick will run")
    except Exception:
        log.exception("could not request a run-queue tick; the periodic tick will run")


def _claim(now: datetime) -> bool:
    """Mark a request pending; True when this call did (no request was pending)."""
    stale = now - timedelta(seconds=STALE_REQUEST_SECONDS)
    flipped = (
        TickRequest.objects.filter(daemon=RUN_QUEUE)
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lt=stale))
        .update(requested_at=now)
    )
    if flipped:
        return True
    if TickRequest.objects.filter(daemon=RUN_QUEUE).exists():
        return False
    # The row is made on first use (a flushed or new database has none).
    _, created = TickRequest.objects.get_or_create(daemon=RUN_QUEUE, defaults={"requested_at": now})
    return created


def take() -> None:
    """The requested tick starts: clear the pending request (its own statement, committed
    before the tick reads the queue), so the next event asks for another tick."""
    TickRequest.objects.filter(daemon=RUN_QUEUE).update(requested_at=None)


def pending() -> datetime | None:
    """When the pending run-queue tick request was sent, or None."""
    return (
        TickRequest.objects.filter(daemon=RUN_QUEUE).values_list("requested_at", flat=True).first()
    )
