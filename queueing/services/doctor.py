"""The queue doctor's shell: gather the facts (database, broker, code locations), ask the engine.

Reads only, except `release_slots`. Every outside dependency that can fail (the broker, the
code locations, the next-tick evaluation) becomes a fact or a finding, never an exception:
the doctor is what people open when things are broken.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from .. import dispatch
from ..engine.config.reader import parse_instance_dict
from ..engine.doctor import diagnose as diagnose_facts
from ..engine.doctor import worst
from ..engine.doctor.facts import (
    ActiveRun,
    AutomationFact,
    DaemonFact,
    DoctorFacts,
    Finding,
    PoolFact,
    QueuedRun,
    SlotClaim,
    WorkerFacts,
)
from ..engine.plan import pool_summary_from_dict
from ..engine.supervision import supervisor_fact
from ..engine.types import ACTIVE_STATUSES, RunStatus
from ..locations import get_workspace
from ..models import DaemonHeartbeat, Pool, PoolClaim, Run, RunWait
from ..supervisor import read_state
from . import automation, heartbeats, pools, runs, staleness
from . import simulate as simulate_service
from .config import config_from_row, run_warnings, settings_row
from .daemons import daemon_intervals
from .queries import step_waits

# Waits of runs launched in this window feed the "median wait" of each priority.
WAIT_HISTORY_WINDOW = timedelta(hours=24)
WAIT_HISTORY_RUNS = 2000
INSPECT_TIMEOUT = 1.0


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def celery_queues(app: Any = None, timeout: float = INSPECT_TIMEOUT) -> WorkerFacts:
    """Which workers consume which queues, asked over the broker of `app` (default: the
    project's Celery app); at most `timeout` + 2 s (`dispatch.ask_workers`)."""
    replies, problem = dispatch.ask_workers(
        lambda celery: celery.control.inspect(timeout=timeout).active_queues() or {},
        timeout + 2,
        app,
    )
    if replies is None:
        return WorkerFacts(error=problem)
    return WorkerFacts(
        {
            name: tuple(sorted(q.get("name", "") for q in queues or ()))
            for name, queues in replies.items()
        }
    )


def _daemons(config) -> list[DaemonFact]:
    intervals = daemon_intervals(config)
    facts = []
    for row in DaemonHeartbeat.objects.filter(daemon__in=list(intervals)):
        daemon = DaemonHeartbeat.Daemon(row.daemon)
        facts.append(
            DaemonFact(
                daemon=daemon.value,
                label=str(daemon.label),
                interval_seconds=float(intervals[daemon]),
                last_heartbeat=_epoch(row.last_heartbeat),
                instance_id=row.instance_id,
                host=row.host,
                pid=row.pid,
                errors=tuple(e.get("message", "") for e in row.errors or ()),
            )
        )
    return facts


def _job_tag_keys() -> tuple[
    frozenset[str], frozenset[str], list[tuple[str, str, Mapping[str, int]]]
]:
    """(tag keys jobs put on their runs, tag keys only found on ops, (job, step, demand) of
    every step that claims pool slots)."""
    run_keys: set[str] = set()
    op_keys: set[str] = set()
    demands: list[tuple[str, str, Mapping[str, int]]] = []
    try:
        for location in get_workspace().locations:
            if location.defs is None:
                continue
            for job in location.defs.jobs:
                run_keys |= set(job.tags)
                for step in job.plan().steps:
                    op_keys |= set(step.tags)
                    if step.pools:
                        demands.append((job.name, step.key, step.pools))
    except Exception:  # a broken code location must not break the doctor
        pass
    return frozenset(run_keys), frozenset(op_keys - run_keys), demands


def _queued(now: datetime) -> list[QueuedRun]:
    open_waits = {
        run_id: (rule, started)
        for run_id, rule, started in RunWait.objects.filter(
            ended_at__isnull=True, run__status=RunStatus.QUEUED
        ).values_list("run__run_id", "rule", "started_at")
    }
    queued = []
    for run_id, job, priority, tags, summary, enqueued, created, rule, reason in (
        Run.objects.queued()
        .in_queue_order()
        .values_list(
            "run_id",
            "job_name",
            "priority",
            "tags",
            "pool_summary",
            "enqueued_at",
            "created_at",
            "wait_rule",
            "wait_reason",
        )
    ):
        wait = open_waits.get(run_id)
        queued.append(
            QueuedRun(
                run_id=run_id,
                job_name=job,
                priority=priority,
                tags=tags or {},
                pools=pool_summary_from_dict(summary).all_pools if summary else frozenset(),
                enqueued_at=(enqueued or created).timestamp(),
                wait_rule=rule,
                wait_reason=reason,
                waiting_since=_epoch(wait[1]) if wait and wait[0] == rule else None,
            )
        )
    return queued


def _launch_waits(now: datetime) -> dict[int, list[float]]:
    waits: dict[int, list[float]] = defaultdict(list)
    rows = (
        Run.objects.filter(launched_at__gte=now - WAIT_HISTORY_WINDOW, enqueued_at__isnull=False)
        .order_by("-launched_at")
        .values_list("priority", "enqueued_at", "launched_at")[:WAIT_HISTORY_RUNS]
    )
    for priority, enqueued, launched in rows:
        if launched is not None and enqueued is not None:  # both filtered non-null above
            waits[priority].append(max(0.0, (launched - enqueued).total_seconds()))
    return waits


def gather(now: datetime | None = None, celery_app: Any = None) -> DoctorFacts:
    """Every fact the checks need; `celery_app` replaces the project's Celery app."""
    now = now or timezone.now()
    row = settings_row()
    config = config_from_row(row)
    warnings = (*parse_instance_dict(row.document or {}, env=None).warnings, *run_warnings(config))
    rows = list(
        Run.objects.filter(status__in=list(ACTIVE_STATUSES))
        .order_by("id")
        .values_list(
            "id",
            "run_id",
            "job_name",
            "status",
            "launched_at",
            "started_at",
            "heartbeat_at",
            "canceling_at",
            "tags",
        )
    )
    inside = step_waits(r[0] for r in rows)
    active = [
        ActiveRun(
            run_id=r[1],
            job_name=r[2],
            status=RunStatus(r[3]),
            launched_at=_epoch(r[4]),
            started_at=_epoch(r[5]),
            heartbeat_at=_epoch(r[6]),
            canceling_at=_epoch(r[7]),
            tags=r[8] or {},
            running_steps=inside[r[0]][0],
            waiting_steps=tuple(inside[r[0]][1]),
        )
        for r in rows
    ]
    claims = [
        SlotClaim(
            pool_key=c[0],
            run_id=c[1],
            step_key=c[2],
            claimed=c[3] is not None,
            run_status=RunStatus(c[4]),
            ended_at=_epoch(c[5]),
            heartbeat_at=_epoch(c[6]),
        )
        for c in PoolClaim.objects.order_by("id").values_list(
            "pool_key",
            "run__run_id",
            "step_key",
            "claimed_at",
            "run__status",
            "run__ended_at",
            "run__heartbeat_at",
        )
    ]
    usage = pools.pool_usage()
    pool_facts = {
        key: PoolFact(
            key=key,
            limit=limit,
            follows_default=follows,
            held=usage.get(key, {}).get("held", 0),
            waiting=usage.get(key, {}).get("waiting", 0),
        )
        for key, limit, follows in Pool.objects.values_list("key", "limit", "from_default")
    }
    try:
        next_tick = simulate_service.next_tick(now)
    except ValueError:
        next_tick = None
    job_keys, op_keys, step_demands = _job_tag_keys()
    last_launch = Run.objects.aggregate(last=Max("launched_at"))["last"]
    return DoctorFacts(
        now=now.timestamp(),
        config=config,
        instance_id=heartbeats.instance_id(),
        daemons=_daemons(config),
        workers=celery_queues(celery_app),
        active=active,
        claims=claims,
        pools=pool_facts,
        queued=_queued(now),
        launch_waits=_launch_waits(now),
        last_launch_at=_epoch(last_launch),
        next_tick=next_tick,
        config_warnings=warnings,
        supervisor=supervisor_fact(read_state(settings.VAR_DIR)),
        job_tag_keys=job_keys,
        op_tag_keys=op_keys,
        automations=[
            AutomationFact(kind, name, tuple(recent))
            for (kind, name), recent in automation.recent_outcomes().items()
        ],
        queue_timeouts=staleness.recent_timeouts(now),
        step_demands=step_demands,
    )


def diagnose(now: datetime | None = None, celery_app: Any = None) -> list[Finding]:
    """One finding per check (`engine.doctor.CHECKS`), in that order."""
    return diagnose_facts(gather(now, celery_app))


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check,
        "status": finding.status,
        "title": finding.title,
        "evidence": list(finding.evidence),
        "fix": finding.fix,
        "actions": [
            {"kind": a.kind, "run_id": a.run_id, "label": a.label} for a in finding.actions
        ],
    }


def report(findings: list[Finding]) -> dict[str, Any]:
    """The JSON of `manage.py doctor --json` and `/api/doctor/`."""
    return {
        "status": worst(findings),
        "problems": sum(1 for f in findings if f.status == "problem"),
        "warnings": sum(1 for f in findings if f.status == "warning"),
        "findings": [finding_to_dict(f) for f in findings],
    }


def release_slots(run_id: str, actor: str) -> int:
    """The doctor's one-click release: every pool entry of a run, audited. Refused
    (Conflict) for a run in progress, as every manual free is (`pools.free_run`)."""
    return pools.free_run(runs.get_run(run_id), actor=actor)
