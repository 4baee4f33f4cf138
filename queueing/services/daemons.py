"""Daemon health as the dashboard, the API and the doctor show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import DaemonHeartbeat
from .config import current_config
from .heartbeats import is_healthy


def daemon_status(now: datetime, tracebacks: bool = True) -> list[dict[str, Any]]:
    """Each daemon's health; without `tracebacks` (a viewer) its recent errors keep the
    exception's type and message only."""
    config = current_config()
    tolerance = config.extra.daemon_heartbeat_tolerance_seconds
    intervals = {
        DaemonHeartbeat.Daemon.RUN_QUEUE: config.dequeue_interval_seconds,
        DaemonHeartbeat.Daemon.RUN_MONITORING: config.monitoring.poll_interval_seconds,
    }
    rows = {r.daemon: r for r in DaemonHeartbeat.objects.all()}
    result = []
    for daemon, interval in intervals.items():
        if daemon == DaemonHeartbeat.Daemon.RUN_MONITORING and not config.monitoring.enabled:
            continue
        row = rows.get(daemon)
        result.append(
            {
                "daemon": daemon.value,
                "label": daemon.label,
                "healthy": is_healthy(row, interval, tolerance, now),
                "interval_seconds": interval,
                "last_heartbeat": row.last_heartbeat if row else None,
                "last_tick_started": row.last_tick_started if row else None,
                "last_tick_duration_ms": row.last_tick_duration_ms if row else None,
                "last_launched": row.last_launched if row else 0,
                "last_success_at": row.last_success_at if row else None,
                "instance_id": row.instance_id if row else None,
                "host": row.host if row else None,
                "errors": (row.errors if tracebacks else [_summary(e) for e in row.errors])
                if row
                else [],
            }
        )
    return result


def _summary(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "traceback"}
