"""Read-side helpers shared by the CLI, the API and the dashboard."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.fields.json import KeyTransform

from ..engine.config.model import InstanceConfig
from ..engine.holds import QUEUE_AGE, hold_of
from ..engine.pool_words import is_closed, limit_unused
from ..engine.redaction import error_summary, mask_secrets
from ..engine.staleness import NEAR_SHARE, Bound, is_near, time_left
from ..engine.stuck import StepWait, stuck_in_run
from ..engine.types import Launch, RunStatus, Wait
from ..errors import NotFound
from ..locations import get_workspace
from ..models import AuditEntry, Pool, PoolClaim, Run, Step
from . import estimates
from .config import current_config
from .estimates import Estimates
from .pool_report import code_pools
from .pools import pool_usage
from .run_queue import evaluate
from .staleness import queued_ages


@dataclass
class RunPage:
    runs: list[Run]
    total: int
    verdicts: dict[str, Launch | Wait]
    # Start estimates of this tick, when the page holds queued runs (services/estimates.py).
    estimates: Estimates | None = None


def filter_runs(
    statuses: Iterable[str] = (), job: str | None = None, tags: dict[str, str] | None = None
) -> QuerySet[Run]:
    qs = Run.objects.all()
    statuses = [s for s in statuses if s]
    if statuses:
        qs = qs.filter(status__in=statuses)
    if job:
        # Part of the name is enough ("etl" finds redshift_etl), in any case.
        qs = qs.filter(job_name__icontains=job)
    for index, (key, value) in enumerate((tags or {}).items()):
        # A key transform, not `tags__<key>`: keys like "contains" or "a__b" stay literal
        # (and SQLite has no JSON `contains` lookup).
        alias = f"_tag_{index}"
        qs = qs.alias(**{alias: KeyTransform(key, "tags")}).filter(**{alias: value})
    if statuses == [RunStatus.QUEUED]:
        return qs.in_queue_order()
    return qs.order_by("-id")


def page_of_runs(
    qs: QuerySet[Run], offset: int = 0, limit: int = 50, hold: str | None = None
) -> RunPage:
    """One page of runs, with the live verdict of the queued ones on the page. With `hold`
    (an identifier of `engine.holds.HOLDS`) only the queued runs it holds back now."""
    if hold is not None:
        return _held_page(qs, offset, limit, hold)
    total = qs.count()
    config = current_config()
    if config.queue.fair_share is not None and tuple(qs.query.order_by) == QUEUE_ORDER:
        return _fair_page(qs, offset, limit, total)
    page = list(qs.defer("plan", "run_config")[offset : offset + limit])
    verdicts: dict[str, Launch | Wait] = {}
    queued = [r for r in page if r.status == RunStatus.QUEUED]
    if queued:
        # Verdicts depend only on the runs ahead in the queue: decide up to the last run of
        # the page in queue order, not the whole queue (the profile of the Queued tab at
        # 10,000 queued runs was mostly the engine deciding runs on later pages).
        last = max(queued, key=lambda r: (-r.priority, r.pk))
        evaluation = evaluate(config, through=(last.priority, last.pk))
        wanted = {r.run_id for r in queued}
        verdicts = {k: v for k, v in evaluation.decision.verdicts.items() if k in wanted}
    return RunPage(page, total, verdicts, estimates.current(config) if queued else None)


# `Run.objects.in_queue_order()`: a list asked for in queue order.
QUEUE_ORDER = ("-priority", "id")


def _fair_page(qs: QuerySet[Run], offset: int, limit: int, total: int) -> RunPage:
    """A page of queued runs in the order fair share gives them (the engine's order, which
    the database cannot sort by), with their verdicts: the whole queue is decided."""
    evaluation = evaluate(current_config())
    wanted = set(qs.values_list("run_id", flat=True))
    ids = [run_id for run_id in evaluation.decision.order if run_id in wanted]
    ids = ids[offset : offset + limit]
    by_id = {r.run_id: r for r in qs.filter(run_id__in=ids).defer("plan", "run_config")}
    page = [by_id[run_id] for run_id in ids if run_id in by_id]
    verdicts = {r.run_id: evaluation.decision.verdicts[r.run_id] for r in page}
    return RunPage(page, total, verdicts, estimates.current() if page else None)


def _held_page(qs: QuerySet[Run], offset: int, limit: int, hold: str) -> RunPage:
    """The queued runs of `qs` that `hold` holds back, in the engine's order: the whole
    queue is decided (a verdict depends on every run ahead), then filtered."""
    evaluation = evaluate(current_config())
    decision = evaluation.decision
    wanted = set(qs.values_list("run_id", flat=True))
    if hold == QUEUE_AGE:
        near = near_bound(evaluation.config, datetime.fromtimestamp(evaluation.snapshot.now, UTC))
        held = [run_id for run_id in decision.order if run_id in wanted and run_id in near]
    else:
        verdicts = decision.verdicts
        held = [r for r in decision.order if r in wanted and hold_of(verdicts[r]) == hold]
    ids = held[offset : offset + limit]
    by_id = {r.run_id: r for r in qs.filter(run_id__in=ids).defer("plan", "run_config")}
    page = [by_id[run_id] for run_id in ids if run_id in by_id]
    verdicts = {r.run_id: decision.verdicts[r.run_id] for r in page}
    return RunPage(page, len(held), verdicts, estimates.current() if page else None)


def near_bound(config: InstanceConfig, now: datetime) -> dict[str, tuple[Bound, float]]:
    """Queued runs past `NEAR_SHARE` of their queue-age bound: (bound, seconds left)."""
    rules = config.extra.stale_rules
    shortest = rules.shortest()
    found = {}
    for age in queued_ages(None if shortest is None else shortest * NEAR_SHARE, now):
        left = time_left(rules, age, now.timestamp())
        if left is not None and is_near(*left):
            found[age.run_id] = left
    return found


def verdict_to_dict(verdict: Launch | Wait | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    data: dict[str, Any] = {
        "launches_next_tick": isinstance(verdict, Launch),
        "position": verdict.position,
        "gates": [g.to_dict() for g in verdict.gates],
    }
    if isinstance(verdict, Wait):
        data["blocking"] = verdict.blocking.to_dict()
        data["message"] = verdict.message
    else:
        data["message"] = "launches at the next tick"
    return data


def run_to_dict(
    run: Run,
    verdict: Launch | Wait | None = None,
    steps: bool = False,
    secrets: bool = True,
    tracebacks: bool = True,
    start_estimates: Estimates | None = None,
) -> dict[str, Any]:
    """A run as the API and `--json` show it; with `steps`, its steps, run config and wait
    history. Without `secrets` the run config is masked, without `tracebacks` step errors
    are cut to the exception's type and message (`engine.redaction`)."""
    data: dict[str, Any] = {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "location": run.location_name,
        "status": run.status,
        "priority": run.priority,
        "tags": run.tags,
        "created_at": run.created_at,
        "enqueued_at": run.enqueued_at,
        "launched_at": run.launched_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "failure_reason": run.failure_reason,
        "wait_reason": verdict.message
        if verdict is not None and isinstance(verdict, Wait)
        else run.wait_reason,
        "queue": verdict_to_dict(verdict),
        "start_estimate": estimate_to_dict(run, start_estimates),
    }
    if steps:
        data["run_config"] = run.run_config if secrets else mask_secrets(run.run_config)
        data["steps"] = [
            {
                "step_key": s.step_key,
                "status": s.status,
                "pool": s.pool or None,
                "pools": s.pools,
                "priority": s.priority,
                "wait_reason": s.wait_reason,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "error": s.error if tracebacks else error_summary(s.error),
                "logs": s.logs,
            }
            for s in run.steps.all().order_by("plan_index")
        ]
        data["wait_history"] = [
            {"rule": w.rule, "message": w.message, "from": w.started_at, "to": w.ended_at}
            for w in run.waits.all()
        ]
    return data


def estimate_to_dict(run: Run, start_estimates: Estimates | None = None) -> dict[str, Any] | None:
    """When a queued run should start (`starts_in_seconds`, a `label`, the `assumption`);
    None for other runs. Without `start_estimates`, this tick's are used."""
    if run.status != RunStatus.QUEUED:
        return None
    found = (start_estimates or estimates.current()).get(run.run_id)
    if found is None:
        return None
    return {**found.to_dict(), "assumption": estimates.ASSUMPTION}


def pool_to_dict(
    key: str,
    limit: int | None,
    from_default: bool,
    usage: dict[str, dict[str, int]],
    jobs: dict[str, list[dict[str, str]]],
) -> dict[str, Any]:
    held = usage.get(key, {}).get("held", 0)
    waiting = usage.get(key, {}).get("waiting", 0)
    return {
        "key": key,
        "limit": limit,
        "from_default": from_default,
        "closed": is_closed(limit),
        "held": held,
        "waiting": waiting,
        "jobs": jobs.get(key, []),
        "unused": limit_unused(limit, key in jobs, held, waiting),
    }


def pool_list() -> list[dict[str, Any]]:
    """Every pool that has a limit, that loaded code uses or that a step claims (limit
    None: unlimited), with slots held, steps waiting and the jobs using it."""
    usage = pool_usage()
    jobs = code_pools()
    rows = {p.key: (p.limit, p.from_default) for p in Pool.objects.all()}
    keys = sorted({*rows, *jobs, *usage})
    unlimited: tuple[int | None, bool] = (None, False)
    return [pool_to_dict(k, *rows.get(k, unlimited), usage=usage, jobs=jobs) for k in keys]


def pool_detail(key: str) -> dict[str, Any]:
    """One pool's limit and usage; NotFound when the pool has no limit row."""
    pool = Pool.objects.filter(key=key).first()
    if pool is None:
        raise NotFound(f"pool {key!r} has no limit (it is unlimited)")
    return pool_to_dict(pool.key, pool.limit, pool.from_default, pool_usage(), code_pools())


def audit_entries(limit: int) -> list[dict[str, Any]]:
    """The audit log, newest first."""
    return [
        {
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "old": e.old_value,
            "new": e.new_value,
            "at": e.created_at,
        }
        for e in AuditEntry.objects.all()[:limit]
    ]


def jobs() -> list[dict[str, Any]]:
    """Jobs of every code location with their steps, and locations that failed to load."""
    data: list[dict[str, Any]] = []
    for location in get_workspace().locations:
        if location.error or location.defs is None:
            data.append({"location": location.name, "error": location.error, "jobs": []})
            continue
        data.append(
            {
                "location": location.name,
                "error": None,
                "jobs": [
                    {
                        "name": job.name,
                        "partitions": job.partitions_def.describe() if job.partitions_def else None,
                        "tags": dict(job.tags),
                        "description": job.description or "",
                        "default_run_config": job.default_run_config or {},
                        "steps": [
                            {
                                "key": st.key,
                                "pool": next(iter(st.pools)) if len(st.pools) == 1 else None,
                                "pools": dict(st.pools),
                                "deps": list(st.deps),
                            }
                            for st in job.plan().steps
                        ],
                    }
                    for job in location.defs.jobs
                ],
            }
        )
    return data


def step_waits(run_pks: Iterable[int]) -> dict[int, tuple[int, list[StepWait]]]:
    """Per run in progress: (steps running, the steps waiting and since when) in three
    queries. A step waiting for a pool slot waits since its entry was made; one held by an
    in-run limit since the run started (its wait is not stored)."""
    pks = list(run_pks)
    running: dict[int, int] = defaultdict(int)
    for pk, n in (
        Step.objects.filter(run_id__in=pks, status=Step.Status.RUNNING)
        .values_list("run_id")
        .annotate(n=Count("id"))
    ):
        running[pk] = n
    asked = {
        (pk, step): (pool, at)
        for pk, step, pool, at in PoolClaim.objects.filter(
            run_id__in=pks, claimed_at__isnull=True
        ).values_list("run_id", "step_key", "pool_key", "enqueued_at")
    }
    waiting: dict[int, list[StepWait]] = defaultdict(list)
    for pk, step, started in Step.objects.filter(
        run_id__in=pks, status=Step.Status.WAITING
    ).values_list("run_id", "step_key", "run__started_at"):
        pool, at = asked.get((pk, step), (None, started))
        waiting[pk].append(StepWait(step, pool, None if at is None else at.timestamp()))
    return {pk: (running[pk], waiting[pk]) for pk in pks}


def stuck_runs(run_pks: Iterable[int], now: datetime) -> dict[int, str]:
    """Per run (pk) whose steps all wait past the threshold: why (`engine.stuck`)."""
    waits = step_waits(run_pks)
    keys = {w.pool for _, steps in waits.values() for w in steps if w.pool}
    limits: dict[str, int | None] = dict.fromkeys(keys)
    limits.update(Pool.objects.filter(key__in=keys).values_list("key", "limit"))
    answers = {
        pk: stuck_in_run(running, steps, limits, now.timestamp())
        for pk, (running, steps) in waits.items()
    }
    return {pk: why for pk, why in answers.items() if why}
