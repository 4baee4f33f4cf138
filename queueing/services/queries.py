"""Read-side helpers shared by the CLI, the API and the dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from ..engine.redaction import error_summary, mask_secrets
from ..engine.types import Launch, RunStatus, Wait
from ..errors import NotFound
from ..locations import get_workspace
from ..models import AuditEntry, Pool, Run
from .config import current_config
from .pools import pool_usage
from .run_queue import evaluate


@dataclass
class RunPage:
    runs: list[Run]
    total: int
    verdicts: dict[str, Launch | Wait]


def filter_runs(
    statuses: Iterable[str] = (), job: str | None = None, tags: dict[str, str] | None = None
) -> QuerySet[Run]:
    qs = Run.objects.all()
    statuses = [s for s in statuses if s]
    if statuses:
        qs = qs.filter(status__in=statuses)
    if job:
        qs = qs.filter(job_name=job)
    for index, (key, value) in enumerate((tags or {}).items()):
        # A key transform, not `tags__<key>`: keys like "contains" or "a__b" stay literal
        # (and SQLite has no JSON `contains` lookup).
        alias = f"_tag_{index}"
        qs = qs.alias(**{alias: KeyTransform(key, "tags")}).filter(**{alias: value})
    if statuses == [RunStatus.QUEUED]:
        return qs.in_queue_order()
    return qs.order_by("-id")


def page_of_runs(qs: QuerySet[Run], offset: int = 0, limit: int = 50) -> RunPage:
    """One page of runs, with the live verdict of the queued ones on the page."""
    total = qs.count()
    page = list(qs.defer("plan", "run_config")[offset : offset + limit])
    verdicts: dict[str, Launch | Wait] = {}
    queued = [r for r in page if r.status == RunStatus.QUEUED]
    if queued:
        # Verdicts depend only on the runs ahead in the queue: decide up to the last run of
        # the page in queue order, not the whole queue (the profile of the Queued tab at
        # 10,000 queued runs was mostly the engine deciding runs on later pages).
        last = max(queued, key=lambda r: (-r.priority, r.pk))
        evaluation = evaluate(current_config(), through=(last.priority, last.pk))
        wanted = {r.run_id for r in queued}
        verdicts = {k: v for k, v in evaluation.decision.verdicts.items() if k in wanted}
    return RunPage(page, total, verdicts)


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


def pool_to_dict(pool: Pool, usage: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        "key": pool.key,
        "limit": pool.limit,
        "from_default": pool.from_default,
        "held": usage.get(pool.key, {}).get("held", 0),
        "waiting": usage.get(pool.key, {}).get("waiting", 0),
    }


def pool_list() -> list[dict[str, Any]]:
    """Pools that have a limit, with slots held and steps waiting (two queries)."""
    usage = pool_usage()
    return [pool_to_dict(p, usage) for p in Pool.objects.all()]


def pool_detail(key: str) -> dict[str, Any]:
    """One pool's limit and usage; NotFound when the pool has no limit row."""
    pool = Pool.objects.filter(key=key).first()
    if pool is None:
        raise NotFound(f"pool {key!r} has no limit (it is unlimited)")
    return pool_to_dict(pool, pool_usage())


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
