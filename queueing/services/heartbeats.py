"""Daemon heartbeats: each tick records when it ran, how long it took and what went wrong."""

from __future__ import annotations

import hashlib
import os
import socket
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import DaemonHeartbeat, TickRecord

MAX_ERRORS = 5
ERROR_RETENTION = timedelta(minutes=5)


def instance_id() -> str:
    """A fingerprint of the database this process uses; processes that disagree on it
    do not share storage (the doctor reports it)."""
    db = settings.DATABASES["default"]
    text = f"{db['ENGINE']}|{db.get('HOST') or ''}|{db.get('PORT') or ''}|{db['NAME']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def due(daemon: str, interval_seconds: float, now: datetime) -> bool:
    row = (
        DaemonHeartbeat.objects.filter(daemon=daemon)
        .values_list("last_tick_started", flat=True)
        .first()
    )
    return row is None or (now - row).total_seconds() >= interval_seconds


def _row(daemon: str, now: datetime, tick_started: datetime) -> DaemonHeartbeat:
    """The daemon's row, stamped with this process and this tick (saved by the caller)."""
    row, _ = DaemonHeartbeat.objects.get_or_create(daemon=daemon, defaults={"last_heartbeat": now})
    row.instance_id = instance_id()
    row.host = socket.gethostname()
    row.pid = os.getpid()
    row.last_heartbeat = now
    row.last_tick_started = tick_started
    return row


def beat(
    daemon: str,
    tick_started: datetime,
    duration_ms: float,
    launched: int = 0,
    queued: int = 0,
    active: int = 0,
) -> None:
    now = timezone.now()
    row = _row(daemon, now, tick_started)
    row.last_tick_duration_ms = duration_ms
    row.last_launched = launched
    row.last_success_at = now
    row.errors = [e for e in row.errors if _recent(e, now)]
    row.save()
    TickRecord.objects.create(
        daemon=daemon,
        started_at=tick_started,
        duration_ms=duration_ms,
        launched=launched,
        queued=queued,
        active=active,
    )


def beat_error(daemon: str, exc: BaseException, tick_started: datetime) -> None:
    """Record a failed tick in its own transaction (the tick's own was rolled back)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            row = _row(daemon, now, tick_started)
            error = {
                "at": now.isoformat(),
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc)),
            }
            row.errors = ([e for e in row.errors if _recent(e, now)] + [error])[-MAX_ERRORS:]
            row.save()
            TickRecord.objects.create(
                daemon=daemon, started_at=tick_started, duration_ms=0, error=error["message"]
            )
    except Exception:
        # The database itself may be what failed; the next tick will record again.
        pass


def _recent(error: dict, now: datetime) -> bool:
    try:
        return now - datetime.fromisoformat(error["at"]) <= ERROR_RETENTION
    except (KeyError, ValueError):
        return False


def is_healthy(
    row: DaemonHeartbeat | None, interval_seconds: float, tolerance_seconds: float, now: datetime
) -> bool:
    """Healthy while the last heartbeat is no older than one interval plus the tolerance."""
    if row is None:
        return False
    return now <= row.last_heartbeat + timedelta(seconds=interval_seconds + tolerance_seconds)
