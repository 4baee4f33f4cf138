"""What the pool page and its API twin (`/api/pools/<key>/`) show: one pool's limit in
words, who holds its slots, who waits for them in the order they will get them, which jobs
use it, its limit history and its recent waits. Reads only.

Every query is bounded (caps below), never one per run or step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from ..engine.pool_stats import DAY, HOUR, WindowStats, window_stats
from ..engine.pool_words import is_closed, limit_unused, limit_words, usage_words
from ..engine.pools import WAITER_ORDER, free_run_refusal
from ..engine.types import FINISHED_STATUSES, RunStatus
from ..locations import get_workspace
from ..models import AuditEntry, Pool, PoolClaim, Run, Step
from .config import current_config

# Rows a pool page lists per table; the rest is a count.
ROWS_SHOWN = 100
# Queued runs read (in queue order) to find those that use the pool.
QUEUED_SCANNED = 5000
HISTORY_SHOWN = 50
# Bars of the day chart (one per hour).
DAY_BUCKETS = 24


def code_pools() -> dict[str, list[dict[str, str]]]:
    """Every pool a step of a loaded code location uses: {key: [{location, job}, ...]}."""
    used: dict[str, list[dict[str, str]]] = defaultdict(list)
    for location in get_workspace().locations:
        if location.defs is None:
            continue
        for job in location.defs.jobs:
            for key in sorted({key for s in job.plan().steps for key in s.pools}):
                used[key].append({"location": location.name, "job": job.name})
    return dict(used)


def waiter_order() -> list[str]:
    """`engine.pools.WAITER_ORDER` as an `order_by` of pool entries."""
    return [("-" if direction == "desc" else "") + name for name, direction in WAITER_ORDER]


@dataclass
class PoolReport:
    key: str
    limit: int | None  # None: no limit row (unlimited)
    from_default: bool
    pk: int | None
    granularity: str
    slot_buffer: int
    default_limit: int | None
    held: int
    waiting: int
    jobs: list[dict[str, str]]
    holders: list[dict[str, Any]] = field(default_factory=list)
    waiters: list[dict[str, Any]] = field(default_factory=list)
    queued_runs: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    hour: WindowStats | None = None
    day: WindowStats | None = None

    @property
    def closed(self) -> bool:
        return is_closed(self.limit)

    @property
    def limit_text(self) -> str:
        return limit_words(self.limit, self.from_default)

    @property
    def usage_text(self) -> str:
        return usage_words(self.limit, self.held, self.waiting)

    @property
    def unused(self) -> bool:
        return limit_unused(self.limit, bool(self.jobs), self.held, self.waiting)


def pool_report(key: str, now: datetime) -> PoolReport | None:
    """The pool page of `key`; None when no limit, no code and no step names it."""
    config = current_config()
    pool = Pool.objects.filter(key=key).first()
    jobs = code_pools().get(key, [])
    claims = PoolClaim.objects.filter(pool_key=key)
    if pool is None and not jobs and not claims.exists():
        return None
    report = PoolReport(
        key=key,
        limit=None if pool is None else pool.limit,
        from_default=bool(pool and pool.from_default),
        pk=None if pool is None else pool.pk,
        granularity=config.queue.granularity,
        slot_buffer=config.queue.slot_buffer,
        default_limit=config.default_pool_limit,
        held=claims.filter(claimed_at__isnull=False).count(),
        waiting=claims.filter(claimed_at__isnull=True).count(),
        jobs=jobs,
    )
    columns = ("run__run_id", "run__job_name", "run__status", "step_key", "priority")
    for claim in (
        claims.filter(claimed_at__isnull=False)
        .order_by("claimed_at", "id")
        .values(*columns, "claimed_at")[:ROWS_SHOWN]
    ):
        status = RunStatus(claim["run__status"])
        report.holders.append(
            {
                **_claim(claim),
                "since": claim["claimed_at"],
                # A finished run still holding a slot is a leak monitoring has not freed yet.
                "run_finished": status in FINISHED_STATUSES,
                "run_freeable": free_run_refusal(claim["run__run_id"], status) is None,
            }
        )
    waiting = claims.filter(claimed_at__isnull=True).order_by(*waiter_order())
    for position, claim in enumerate(waiting.values(*columns, "enqueued_at")[:ROWS_SHOWN], 1):
        report.waiters.append(
            {**_claim(claim), "position": position, "since": claim["enqueued_at"]}
        )
    queued = (
        Run.objects.queued()
        .in_queue_order()
        .values_list("run_id", "job_name", "priority", "pool_summary", "wait_reason", "created_at")[
            :QUEUED_SCANNED
        ]
    )
    for run_id, job, priority, summary, reason, created in queued:
        if summary and key in summary.get("all_pools", ()):
            report.queued_runs.append(
                {
                    "run_id": run_id,
                    "job_name": job,
                    "priority": priority,
                    "wait_reason": reason,
                    "created_at": created,
                    "position": len(report.queued_runs) + 1,
                }
            )
            if len(report.queued_runs) >= ROWS_SHOWN:
                break
    history = AuditEntry.objects.filter(Q(target=key) & Q(action__startswith="pool."))
    report.history = [
        {
            "actor": e.actor,
            "action": e.action,
            "old": e.old_value,
            "new": e.new_value,
            "at": e.created_at,
        }
        for e in history[:HISTORY_SHOWN]
    ]
    report.hour, report.day = _stats(key, now)
    return report


def _claim(claim: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": claim["run__run_id"],
        "job_name": claim["run__job_name"],
        "run_status": claim["run__status"],
        "step_key": claim["step_key"],
        "priority": claim["priority"],
    }


def _stats(key: str, now: datetime) -> tuple[WindowStats, WindowStats]:
    """Waits of the steps that got a slot in the last day (`Step.slot_wait_seconds`), and
    the steps waiting now, as the engine's hour and day statistics."""
    since = datetime.fromtimestamp(now.timestamp() - DAY, tz=now.tzinfo)
    started = Step.objects.filter(
        pool=key, started_at__gte=since, slot_wait_seconds__isnull=False
    ).values_list("started_at", "slot_wait_seconds")
    waits = [(s.timestamp(), w) for s, w in started if s is not None and w is not None]
    asking = PoolClaim.objects.filter(pool_key=key, claimed_at__isnull=True).values_list(
        "enqueued_at", flat=True
    )
    current = [a.timestamp() for a in asking]
    at = now.timestamp()
    return (
        window_stats(waits, current, at, HOUR),
        window_stats(waits, current, at, DAY, buckets=DAY_BUCKETS),
    )


def report_to_dict(report: PoolReport) -> dict[str, Any]:
    """The pool page as JSON (`GET /api/pools/<key>/`)."""

    def stats(w: WindowStats | None) -> dict[str, Any] | None:
        if w is None:
            return None
        return {
            "seconds": w.seconds,
            "steps": w.steps,
            "p50_wait_seconds": w.p50_wait,
            "p95_wait_seconds": w.p95_wait,
            "at_cap_share": round(w.at_cap_share, 4),
        }

    return {
        "key": report.key,
        "limit": report.limit,
        "from_default": report.from_default,
        "closed": report.closed,
        "limit_text": report.limit_text,
        "usage_text": report.usage_text,
        "granularity": report.granularity,
        "slot_buffer": report.slot_buffer,
        "default_limit": report.default_limit,
        "held": report.held,
        "waiting": report.waiting,
        "jobs": report.jobs,
        "unused": report.unused,
        "holders": report.holders,
        "waiters": report.waiters,
        "queued_runs": report.queued_runs,
        "history": report.history,
        "last_hour": stats(report.hour),
        "last_day": stats(report.day),
    }
