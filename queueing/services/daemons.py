"""Daemon health as the dashboard, the API and the doctor show it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from ..engine.automation import SCHEDULES_INTERVAL_SECONDS, SENSORS_INTERVAL_SECONDS
from ..engine.config.model import InstanceConfig
from ..engine.supervision import describe_exit, supervisor_fact
from ..models import AutomationKind, DaemonHeartbeat
from ..supervisor import read_state
from .automation import recent_outcomes
from .config import current_config
from .heartbeats import is_healthy


def daemon_status(now: datetime, tracebacks: bool = True) -> list[dict[str, Any]]:
    """Each daemon's health; without `tracebacks` (a viewer) its recent errors keep the
    exception's type and message only."""
    config = current_config()
    tolerance = config.extra.daemon_heartbeat_tolerance_seconds
    intervals = daemon_intervals(config)
    rows = {r.daemon: r for r in DaemonHeartbeat.objects.all()}
    result = []
    for daemon, interval in intervals.items():
        if daemon == DaemonHeartbeat.Daemon.RUN_MONITORING and not config.monitoring.enabled:
            continue
        # The schedules and sensors daemons show once they ticked or have work.
        if daemon in AUTOMATION_DAEMONS and daemon not in rows and not automation_needed(daemon):
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


AUTOMATION_DAEMONS = {
    DaemonHeartbeat.Daemon.SCHEDULES: AutomationKind.SCHEDULE,
    DaemonHeartbeat.Daemon.SENSORS: AutomationKind.SENSOR,
}


def daemon_intervals(config: InstanceConfig) -> dict[DaemonHeartbeat.Daemon, float]:
    """Every daemon and how often it ticks (the Daemons page and the doctor)."""
    return {
        DaemonHeartbeat.Daemon.RUN_QUEUE: config.dequeue_interval_seconds,
        DaemonHeartbeat.Daemon.RUN_MONITORING: config.monitoring.poll_interval_seconds,
        DaemonHeartbeat.Daemon.SCHEDULES: SCHEDULES_INTERVAL_SECONDS,
        DaemonHeartbeat.Daemon.SENSORS: SENSORS_INTERVAL_SECONDS,
    }


def automation_needed(daemon: DaemonHeartbeat.Daemon) -> bool:
    """Whether a schedule (or sensor) is running, so its daemon must be."""
    kind = AUTOMATION_DAEMONS[daemon]
    return any(k == kind for k, _ in recent_outcomes(limit=0))


def _summary(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "traceback"}


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def supervised_processes(now: datetime) -> dict[str, Any] | None:
    """The children of `manage.py dev` on this machine and their restarts, from the state
    file its supervisor keeps under VAR_DIR; None when it never ran here."""
    fact = supervisor_fact(read_state(settings.VAR_DIR))
    if fact is None:
        return None
    return {
        "alive": fact.alive(now.timestamp()),
        "pid": fact.pid,
        "host": fact.host,
        "started_at": _when(fact.started_at),
        "updated_at": _when(fact.updated_at),
        "processes": [
            {
                "name": p.name,
                "running": p.running,
                "pid": p.pid,
                "started_at": _when(p.started_at),
                "restarts": p.restarts,
                "last_exit": describe_exit(p.last_exit_code) if p.last_exit_at else "",
                "last_exit_at": _when(p.last_exit_at),
                "next_restart_at": _when(p.next_restart_at),
            }
            for p in fact.processes
        ],
    }
