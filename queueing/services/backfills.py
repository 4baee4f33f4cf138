"""Backfills: one queued run per partition of a partitioned job, and their progress.

A backfill's runs are ordinary runs in the run queue, tagged `dagster/backfill=<id>` and
`dagster/partition=<key>`, so every limit applies to them (a tag limit on
`dagster/backfill` included). They are checked by the rules of a single submit
(`runs.prepare`: tags, priority, run config; the partition keys by
`engine.partitions.select_partitions`) and inserted in bulk under the submit's queue-cap
lock, all or none.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from ..engine.partitions import (
    BACKFILL_TAG,
    PARTITION_TAG,
    backfill_status,
    select_partitions,
)
from ..engine.submission import validate_tags
from ..engine.types import ACTIVE_STATUSES, ConfigError, Gate, RunStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..locations import get_workspace
from ..models import Backfill
from . import runs
from .audit import record
from .config import current_config
from .run_queue import evaluate, gate_key

_ID_LETTERS = string.ascii_lowercase
ID_LENGTH = 8


def _new_id() -> str:
    # Dagster's backfill ids are 8 lowercase letters too.
    return "".join(secrets.choice(_ID_LETTERS) for _ in range(ID_LENGTH))


def launch(
    job_name: str,
    *,
    partitions: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    all_partitions: bool = False,
    tags: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    actor: str = "system",
    parent: Backfill | None = None,
) -> Backfill:
    """Submit one run per selected partition of `job_name` (a list, an inclusive range
    `start`..`end`, or all): InvalidInput with every problem and nothing stored, QueueFull
    when the runs would pass `concurrency_ui.max_queued_runs`. Audited.

    Lock: the submit's queue-cap lock (`runs.check_queue_cap`), held from the count of
    queued runs to the last insert, so a backfill and other submits never pass the cap.
    """
    found = get_workspace().find_job(job_name) if isinstance(job_name, str) else None
    if found is None:
        raise InvalidInput.one(
            "job", f"unknown job {job_name!r}: see /api/jobs/ for the jobs defined"
        )
    _, job = found
    keys, errors = select_partitions(
        job.name,
        job.partitions_def,
        timezone.now(),
        keys=partitions,
        start=start,
        end=end,
        all_keys=all_partitions,
    )
    user_tags, tag_errors = validate_tags(tags, max_bytes=settings.RUN_TAGS_MAX_BYTES)
    for reserved in (BACKFILL_TAG, PARTITION_TAG):
        if reserved in user_tags:
            tag_errors.append(ConfigError(f"tags.{reserved}", "set by the backfill itself"))
    if errors or tag_errors:
        raise InvalidInput(errors + tag_errors)
    backfill_id = _new_id()
    # Every run's tags pass the single submit's checks (sizes grow with the key).
    tag_sets = [{**user_tags, BACKFILL_TAG: backfill_id, PARTITION_TAG: key} for key in keys]
    ready = runs.prepare(job.name, tag_sets[0], run_config)
    longest = max(tag_sets, key=lambda t: len(t[PARTITION_TAG]))
    _, size_errors = validate_tags(longest, max_bytes=settings.RUN_TAGS_MAX_BYTES)
    if size_errors:
        raise InvalidInput(size_errors)
    merged = [{**ready.tags, **tags_} for tags_ in tag_sets]
    with transaction.atomic():
        runs.check_queue_cap(len(merged))
        backfill = Backfill.objects.create(
            backfill_id=backfill_id,
            job_name=job.name,
            location_name=ready.location_name,
            partition_keys=keys,
            tags=user_tags,
            run_config=dict(run_config or {}),
            parent=parent,
            created_by=actor,
        )
        runs.insert_runs(
            ready, merged, actor=f"{actor} (backfill {backfill_id})", backfill_id=backfill.pk
        )
        record(
            actor,
            "backfill.launch",
            backfill_id,
            None,
            {"job": job.name, "partitions": len(keys), "parent": parent and parent.backfill_id},
        )
    return backfill


def get(backfill_id: str) -> Backfill:
    backfill = Backfill.objects.filter(backfill_id=backfill_id).first()
    if backfill is None:
        raise NotFound(f"backfill {backfill_id!r} does not exist")
    return backfill


def status_counts(backfill: Backfill) -> dict[str, int]:
    rows = backfill.runs.values("status").annotate(n=Count("id")).values_list("status", "n")
    return {status: n for status, n in rows}


@dataclass
class Progress:
    backfill: Backfill
    counts: dict[str, int]
    status: str
    total: int
    done: int
    # (gate key, message, queued runs it holds, the gate or None for "launches"): the
    # limits holding its queued runs now; pages link the runs a gate names (gate_message).
    holding: list[tuple[str, str, int, Gate | None]] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def progress(backfill: Backfill, holding: bool = False) -> Progress:
    """Counts per run status and the backfill's state; with `holding`, what holds its
    queued runs, from the engine's verdicts (as on the Runs page)."""
    counts = status_counts(backfill)
    total = len(backfill.partition_keys)
    finished = sum(n for s, n in counts.items() if s not in ACTIVE_STATUSES | {RunStatus.QUEUED})
    result = Progress(
        backfill,
        counts,
        backfill_status(counts, backfill.status == Backfill.Status.CANCELED),
        total,
        finished,
    )
    if holding and counts.get(RunStatus.QUEUED):
        result.holding = _holding(backfill)
    return result


def _holding(backfill: Backfill) -> list[tuple[str, str, int, Gate | None]]:
    queued = backfill.runs.filter(status=RunStatus.QUEUED)
    last = queued.order_by("priority", "-id").values_list("priority", "id").first()
    if last is None:
        return []
    wanted = set(queued.values_list("run_id", flat=True))
    evaluation = evaluate(current_config(), through=last)
    groups: dict[str, list[Any]] = {}
    gates: dict[str, Gate | None] = {}
    for run_id, verdict in evaluation.decision.verdicts.items():
        if run_id not in wanted:
            continue
        blocking = getattr(verdict, "blocking", None)
        if blocking is None:
            key, message = "launch", "launches at the next tick"
        else:
            key, message = gate_key(blocking), blocking.message
        groups.setdefault(key, [message, 0])[1] += 1
        gates.setdefault(key, blocking)
    return sorted(((k, m, n, gates[k]) for k, (m, n) in groups.items()), key=lambda g: -g[2])


def backfill_to_dict(progress_: Progress) -> dict[str, Any]:
    b = progress_.backfill
    return {
        "backfill_id": b.backfill_id,
        "job_name": b.job_name,
        "location": b.location_name,
        "status": progress_.status,
        "partitions": len(b.partition_keys),
        "counts": progress_.counts,
        "done": progress_.done,
        "tags": b.tags,
        "rerun_of": b.parent.backfill_id if b.parent_id and b.parent else None,
        "created_by": b.created_by,
        "created_at": b.created_at,
        "canceled_at": b.canceled_at,
        "holding": [{"rule": k, "message": m, "runs": n} for k, m, n, _ in progress_.holding],
    }


def backfill_detail(progress_: Progress) -> dict[str, Any]:
    """`backfill_to_dict` with its partition keys and its runs (id, partition, status)."""
    b = progress_.backfill
    return {
        **backfill_to_dict(progress_),
        "partition_keys": list(b.partition_keys),
        "runs": [
            {"run_id": run_id, "partition": tags.get(PARTITION_TAG), "status": status}
            for run_id, tags, status in b.runs.order_by("id").values_list(
                "run_id", "tags", "status"
            )
        ],
    }


def list_backfills(limit: int = 100) -> list[Progress]:
    return [progress(b) for b in Backfill.objects.select_related("parent")[:limit]]


def cancel(backfill_id: str, actor: str) -> Progress:
    """Cancel a backfill: its queued runs are canceled at once, its runs in progress are
    asked to stop (CANCELING, as terminating them one by one would). Audited.

    Lock: the backfill's row (select_for_update); the runs move by the conditional
    UPDATEs of `runs.transition`, so a run the tick launches meanwhile is asked to stop.
    """
    with transaction.atomic():
        backfill = Backfill.objects.select_for_update().filter(backfill_id=backfill_id).first()
        if backfill is None:
            raise NotFound(f"backfill {backfill_id!r} does not exist")
        if backfill.status == Backfill.Status.CANCELED:
            raise Conflict(f"backfill {backfill_id} is already canceled")
        backfill.status = Backfill.Status.CANCELED
        backfill.canceled_at = timezone.now()
        backfill.save(update_fields=["status", "canceled_at"])
        queued = list(
            backfill.runs.filter(status=RunStatus.QUEUED).values_list("run_id", flat=True)
        )
        canceled = runs.transition(
            queued, RunStatus.QUEUED, RunStatus.CANCELED, f"backfill canceled by {actor}"
        )
        for status in (RunStatus.STARTING, RunStatus.STARTED):
            moving = backfill.runs.filter(status=status).values_list("run_id", flat=True)
            runs.transition(
                list(moving), status, RunStatus.CANCELING, f"backfill canceled by {actor}"
            )
        record(
            actor, "backfill.cancel", backfill_id, "REQUESTED", {"canceled_queued": len(canceled)}
        )
    return progress(backfill)


def rerun_failed(backfill_id: str, actor: str) -> Backfill:
    """A new backfill over the partitions whose latest run in `backfill_id` failed or was
    canceled (Dagster's "re-execute failed"); Conflict when there is none."""
    backfill = get(backfill_id)
    # Runs in creation order: the last run of a partition is its latest.
    latest = dict(_partition_statuses(backfill))
    failed = [
        k
        for k in backfill.partition_keys
        if latest.get(k) in (RunStatus.FAILURE, RunStatus.CANCELED)
    ]
    if not failed:
        raise Conflict(f"backfill {backfill_id} has no failed or canceled partition to re-run")
    return launch(
        backfill.job_name,
        partitions=failed,
        tags=backfill.tags,
        run_config=backfill.run_config,
        actor=actor,
        parent=backfill,
    )


def _partition_statuses(backfill: Backfill) -> list[tuple[str, str]]:
    return [
        (tags.get(PARTITION_TAG, ""), status)
        for tags, status in backfill.runs.order_by("id").values_list("tags", "status")
    ]
