"""The dequeue tick, and the same evaluation read-only for "why is this run waiting"."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..engine import run_queue as engine
from ..engine.config import InstanceConfig
from ..engine.types import (
    ACTIVE_STATUSES,
    Launch,
    PoolState,
    PoolSummary,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TickDecision,
    Wait,
)
from ..models import DaemonHeartbeat, PoolClaim, Run, RunEvent, RunWait
from . import heartbeats, pools
from .config import config_from_row, settings_row

log = logging.getLogger(__name__)


def summary_from_dict(data: dict | None) -> PoolSummary | None:
    if not data:
        return None
    return PoolSummary(
        root_pool_counts=data.get("root_pool_counts", {}),
        all_pools=frozenset(data.get("all_pools", ())),
        has_unconstrained_root=bool(data.get("has_unconstrained_root")),
    )


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _run_info(row: tuple) -> RunInfo:
    pk, run_id, status, tags, priority, summary, started_at = row
    return RunInfo(
        run_id=run_id,
        status=RunStatus(status),
        tags=tags or {},
        created_seq=pk,
        priority=priority,
        pool_summary=summary_from_dict(summary),
        started_at=_epoch(started_at),
    )


RUN_FIELDS = ("id", "run_id", "status", "tags", "priority", "pool_summary", "started_at")


@dataclass
class Evaluation:
    config: InstanceConfig
    snapshot: QueueSnapshot
    decision: TickDecision
    stored_rules: dict[str, str] = field(default_factory=dict)


def evaluate(
    config: InstanceConfig, now: float | None = None, init_defaults: bool = False
) -> Evaluation:
    """Read the queue, the active runs and the pools, and ask the engine (one query each).

    With `init_defaults` (the tick, under its lock) pools named by queued runs get their
    default limit first, so the first tick that sees a pool already applies it (Q3).
    """
    queued_rows = list(Run.objects.queued().in_queue_order().values_list(*RUN_FIELDS, "wait_rule"))
    active_rows = list(
        Run.objects.filter(status__in=list(ACTIVE_STATUSES)).values_list(*RUN_FIELDS)
    )
    queued = [_run_info(r[:-1]) for r in queued_rows]
    active = [_run_info(r) for r in active_rows]
    if init_defaults and config.default_pool_limit is not None:
        demanded = set()
        for run in queued:
            if run.pool_summary is not None:
                demanded |= run.pool_summary.all_pools
        pools.ensure_default_pools(demanded, config.default_pool_limit)
    snapshot = QueueSnapshot(
        settings=config.queue,
        queued=queued,
        active=active,
        pools=pool_states(),
        now=time.time() if now is None else now,
    )
    evaluation = Evaluation(config, snapshot, engine.decide(snapshot))
    evaluation.stored_rules = {r[1]: r[-1] for r in queued_rows}
    return evaluation


def pool_states() -> dict[str, PoolState]:
    from ..models import Pool

    holders: dict[str, list[str]] = defaultdict(list)
    pending: dict[str, int] = defaultdict(int)
    for key, run_id, claimed_at in PoolClaim.objects.values_list(
        "pool_key", "run__run_id", "claimed_at"
    ):
        pending[key] += 1
        if claimed_at is not None:
            holders[key].append(run_id)
    return {
        key: PoolState(key=key, limit=limit, pending=pending[key], holders=tuple(holders[key]))
        for key, limit in Pool.objects.values_list("key", "limit")
    }


def explain(run_id: str) -> Launch | Wait | None:
    """What the next tick would do with this queued run, and why (None if not queued)."""
    evaluation = evaluate(config_from_row(settings_row()))
    return evaluation.decision.verdicts.get(run_id)


def rule_key(verdict: Wait) -> str:
    return f"{verdict.blocking.rule}:{verdict.blocking.subject}"


@dataclass(frozen=True)
class TickResult:
    ran: bool
    launched: tuple[str, ...] = ()
    queued: int = 0
    active: int = 0
    duration_ms: float = 0.0


def tick(force: bool = True, now: datetime | None = None) -> TickResult:
    """One dequeue tick: evaluate the queue and launch what the engine allows.

    Holds the deployment-settings row lock for the whole transaction, so two ticks (two
    beat processes, or a beat and `manage.py tick`) run one after the other and the second
    sees the first one's launches as active runs: limits hold whatever runs the tick.
    Without `force`, the tick is skipped unless `dequeue_interval_seconds` have passed
    since the last one started (checked under the lock).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    try:
        with transaction.atomic():
            row = settings_row(lock=True)
            config = config_from_row(row)
            if not force and not heartbeats.due(
                DaemonHeartbeat.Daemon.RUN_QUEUE, config.dequeue_interval_seconds, now
            ):
                return TickResult(ran=False)
            evaluation = evaluate(config, now=now.timestamp(), init_defaults=True)
            launched = _apply(evaluation, now)
            duration = (time.perf_counter() - started) * 1000
            heartbeats.beat(
                DaemonHeartbeat.Daemon.RUN_QUEUE,
                tick_started=now,
                duration_ms=duration,
                launched=len(launched),
                queued=len(evaluation.snapshot.queued) - len(launched),
                active=len(evaluation.snapshot.active) + len(launched),
            )
            transaction.on_commit(lambda: send_launches(launched))
    except Exception as exc:
        log.exception("run queue tick failed")
        heartbeats.beat_error(DaemonHeartbeat.Daemon.RUN_QUEUE, exc, tick_started=now)
        raise
    return TickResult(
        True,
        tuple(launched),
        len(evaluation.snapshot.queued) - len(launched),
        len(evaluation.snapshot.active) + len(launched),
        duration,
    )


def _apply(evaluation: Evaluation, now: datetime) -> list[str]:
    """Write the tick's decisions with a constant number of statements (no per-run trips)."""
    decision = evaluation.decision
    launched: list[str] = []
    if decision.launch:
        ids = list(
            Run.objects.filter(run_id__in=decision.launch, status=RunStatus.QUEUED).values_list(
                "id", "run_id"
            )
        )
        pks = [pk for pk, _ in ids]
        Run.objects.filter(id__in=pks, status=RunStatus.QUEUED).update(
            status=RunStatus.STARTING,
            launched_at=now,
            updated_at=now,
            wait_rule="",
            wait_reason="",
        )
        RunEvent.objects.bulk_create(
            [
                RunEvent(run_id=pk, kind="starting", message="launched by the run queue")
                for pk in pks
            ]
        )
        RunWait.objects.filter(run_id__in=pks, ended_at__isnull=True).update(ended_at=now)
        moved = {rid for _, rid in ids}
        launched = [rid for rid in decision.launch if rid in moved]

    # Store a waiting reason only when the rule holding a run changed (wait history).
    changed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for run_id, verdict in decision.verdicts.items():
        if isinstance(verdict, Wait):
            key = rule_key(verdict)
            if evaluation.stored_rules.get(run_id) != key:
                changed[(key, verdict.message)].append(run_id)
    if changed:
        all_ids = [rid for ids in changed.values() for rid in ids]
        pk_of = dict(Run.objects.filter(run_id__in=all_ids).values_list("run_id", "id"))
        RunWait.objects.filter(run_id__in=pk_of.values(), ended_at__isnull=True).update(
            ended_at=now
        )
        waits = []
        for (key, message), run_ids in changed.items():
            Run.objects.filter(run_id__in=run_ids, status=RunStatus.QUEUED).update(
                wait_rule=key, wait_reason=message
            )
            waits += [
                RunWait(run_id=pk_of[rid], rule=key, message=message, started_at=now)
                for rid in run_ids
                if rid in pk_of
            ]
        RunWait.objects.bulk_create(waits)
    return launched


def send_launches(run_ids: list[str]) -> None:
    """Send each launched run to the workers. Runs stay STARTING in the database if the
    broker is down; run monitoring re-sends them (the task is idempotent)."""
    from ..tasks import execute_run

    for run_id in run_ids:
        try:
            execute_run.delay(run_id)
        except Exception:
            log.exception(
                "could not send run %s to the workers; monitoring will re-send it", run_id
            )
