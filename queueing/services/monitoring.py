"""The run-monitoring tick: timeouts, dead workers, max runtime, lost launches, slot release."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..engine import monitoring as engine
from ..engine.types import FINISHED_STATUSES, RunStatus
from ..models import DaemonHeartbeat, PoolClaim, Run, RunEvent, Step
from . import heartbeats, pools, retention, run_queue, runs, staleness
from .config import current_config

log = logging.getLogger(__name__)

WATCHED = [
    RunStatus.NOT_STARTED,
    RunStatus.STARTING,
    RunStatus.STARTED,
    RunStatus.CANCELING,
    RunStatus.SUSPENDED,
]


@dataclass(frozen=True)
class MonitoringResult:
    ran: bool
    actions: tuple = ()
    duration_ms: float = 0.0


def describe(action: engine.MonitoringAction) -> str:
    reason = getattr(action, "reason", "re-sent its launch to the workers")
    return f"{type(action).__name__} {action.run_id}: {reason}"


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def tick(force: bool = True, now: datetime | None = None) -> MonitoringResult:
    """One monitoring tick. Each run's action is applied with a conditional status update,
    so a run that changed meanwhile (a worker finishing it) is left alone."""
    started = time.perf_counter()
    now = now or timezone.now()
    config = current_config()
    if not config.monitoring.enabled:
        return MonitoringResult(False)
    with transaction.atomic():
        # The heartbeat row is the lock: two beat processes never monitor at once.
        row, _ = DaemonHeartbeat.objects.get_or_create(
            daemon=DaemonHeartbeat.Daemon.RUN_MONITORING, defaults={"last_heartbeat": now}
        )
        row = DaemonHeartbeat.objects.select_for_update().get(pk=row.pk)
        if (
            not force
            and row.last_tick_started
            and (now - row.last_tick_started)
            < timedelta(seconds=config.monitoring.poll_interval_seconds)
        ):
            return MonitoringResult(False)
        row.last_tick_started = now
        row.save(update_fields=["last_tick_started"])
    try:
        actions = _run(config, now)
        retention.prune(config, now)
        retention.prune_runs(config, now)
    except Exception as exc:
        log.exception("run monitoring tick failed")
        heartbeats.beat_error(DaemonHeartbeat.Daemon.RUN_MONITORING, exc, tick_started=now)
        raise
    duration = (time.perf_counter() - started) * 1000
    heartbeats.beat(DaemonHeartbeat.Daemon.RUN_MONITORING, tick_started=now, duration_ms=duration)
    return MonitoringResult(True, actions, duration)


def _run(config, now: datetime) -> tuple:
    m = config.monitoring
    settings = engine.MonitoringSettings(
        start_timeout_seconds=m.start_timeout_seconds,
        cancel_timeout_seconds=m.cancel_timeout_seconds,
        max_runtime_seconds=m.max_runtime_seconds,
        free_slots_after_run_end_seconds=m.free_slots_after_run_end_seconds,
        run_heartbeat_timeout_seconds=config.extra.run_heartbeat_timeout_seconds,
        resend_starting_after_seconds=config.extra.resend_starting_after_seconds,
    )
    holding = set(PoolClaim.objects.values_list("run_id", flat=True).distinct())
    rows = Run.objects.filter(status__in=WATCHED) | Run.objects.filter(
        id__in=holding, status__in=list(FINISHED_STATUSES)
    )
    monitored = [
        engine.MonitoredRun(
            run_id=r.run_id,
            status=RunStatus(r.status),
            created_at=r.created_at.timestamp(),
            launched_at=_epoch(r.launched_at),
            started_at=_epoch(r.started_at),
            ended_at=_epoch(r.ended_at),
            canceling_at=_epoch(r.canceling_at),
            heartbeat_at=_epoch(r.heartbeat_at),
            tags=r.tags,
            holds_slots=r.id in holding,
        )
        for r in rows.only(
            "id",
            "run_id",
            "status",
            "created_at",
            "launched_at",
            "started_at",
            "ended_at",
            "canceling_at",
            "heartbeat_at",
            "tags",
            "updated_at",
        )
    ]
    actions = engine.decide_monitoring(settings, monitored, now.timestamp())
    applied: list = []
    try:
        # Queued runs past their queue-age bound (concurrency_ui.max_queued_seconds).
        applied.extend(staleness.cancel_overdue(config, now))
    except Exception:
        log.exception("canceling runs queued too long failed")
    for action in actions:
        try:
            if _apply(action, settings, now):
                applied.append(action)
        except Exception:
            # One run's failure never stops the others (SEMANTICS 5.2).
            log.exception("monitoring action failed: %s", describe(action))
    return tuple(applied)


def _apply(
    action: engine.MonitoringAction, settings: engine.MonitoringSettings, now: datetime
) -> bool:
    run_id = action.run_id
    if isinstance(action, engine.FailRun):
        moved = runs.transition(
            [run_id],
            [RunStatus.NOT_STARTED, RunStatus.STARTING, RunStatus.STARTED],
            RunStatus.FAILURE,
            action.reason,
            failure_reason=action.reason,
        )
        if moved:
            _end_steps(run_id, action.reason)
            pools.free_run(Run.objects.get(run_id=run_id))
        return bool(moved)
    if isinstance(action, engine.ForceCanceled):
        moved = runs.transition([run_id], RunStatus.CANCELING, RunStatus.CANCELED, action.reason)
        if moved:
            _end_steps(run_id, action.reason)
            pools.free_run(Run.objects.get(run_id=run_id))
        return bool(moved)
    if isinstance(action, engine.CancelForRuntime):
        # The executor sees CANCELING within seconds and stops its steps; the run ends
        # FAILURE, as in the reference, because it was stopped for running too long.
        moved = runs.transition(
            [run_id],
            RunStatus.STARTED,
            RunStatus.CANCELING,
            action.reason,
            failure_reason=action.reason,
        )
        return bool(moved)
    if isinstance(action, engine.FreeSlots):
        freed = pools.free_run(Run.objects.get(run_id=run_id))
        if freed:
            RunEvent.objects.create(
                run=Run.objects.get(run_id=run_id), kind="slots_freed", message=action.reason
            )
        return bool(freed)
    if isinstance(action, engine.ResendLaunch):
        # Re-send at most once per resend interval; the execution task is idempotent.
        cutoff = now - timedelta(seconds=settings.resend_starting_after_seconds)
        bumped = Run.objects.filter(
            run_id=run_id, status=RunStatus.STARTING, updated_at__lte=cutoff
        ).update(updated_at=now, launch_count=F("launch_count") + 1)
        if bumped:
            transaction.on_commit(lambda: run_queue.send_launches([run_id]))
        return bool(bumped)
    return False


def _end_steps(run_id: str, reason: str) -> None:
    Step.objects.filter(run__run_id=run_id, status__in=["PENDING", "WAITING", "RUNNING"]).update(
        status=Step.Status.CANCELED, ended_at=timezone.now(), wait_reason="", error=reason
    )
