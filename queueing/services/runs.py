"""Submitting runs, changing their status, terminating and re-prioritising them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..definitions import JobDefinition
from ..engine.fair_share import CODE_LOCATION_TAG
from ..engine.partitions import partition_tag_errors
from ..engine.plan import ExecutionPlan, plan_to_dict, pool_summary, pool_summary_to_dict
from ..engine.run_ids import LISTED_MATCHES, ambiguous_message, prefix_problem
from ..engine.statuses import can_transition
from ..engine.submission import (
    merge_run_config,
    parse_priority,
    queue_full_message,
    validate_run_config,
    validate_tags,
)
from ..engine.types import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    PRIORITY_TAG,
    ConfigError,
    RunStatus,
)
from ..errors import Conflict, InvalidInput, NotFound
from ..inputs import check_value
from ..locations import get_workspace
from ..models import Run, RunEvent, Step
from . import pools, run_queue, tick_requests
from .audit import record
from .config import current_config


def resolve_run_id(text: str) -> str:
    """The whole id of the run `text` names: its id, or a unique prefix of at least
    `engine.run_ids.MIN_PREFIX` characters. NotFound when none matches; InvalidInput
    (`run_id`) listing the matches when several do. Every shell goes through here."""
    if not isinstance(text, str) or not text:
        raise NotFound("no run id given")
    if Run.objects.filter(run_id=text).exists():
        return text
    found = unique_prefix_match(
        text,
        lambda prefix, count: list(
            Run.objects.filter(run_id__startswith=prefix)
            .order_by("run_id")
            .values_list("run_id", flat=True)[:count]
        ),
    )
    if found is None:
        raise NotFound(f"run {text!r} does not exist")
    return found


def unique_prefix_match(text: str, starting_with: Callable[[str, int], list[str]]) -> str | None:
    """The one run id that starts with `text` (a prefix of at least MIN_PREFIX characters),
    None when `text` is too short or nothing matches; InvalidInput (`run_id`) listing the
    matches when several do. `starting_with(prefix, count)` answers the first `count` ids
    in id order that start with `prefix`: the database's runs here, the attached Dagster
    deployment's in `dagster_source.present`."""
    if prefix_problem(text) is not None:
        return None
    matches = starting_with(text.lower(), LISTED_MATCHES + 1)
    if len(matches) > 1:
        raise InvalidInput.one("run_id", ambiguous_message(text, matches))
    return matches[0] if matches else None


def get_run(run_id: str) -> Run:
    """The run named by its id or a unique prefix (`resolve_run_id`)."""
    return Run.objects.get(run_id=resolve_run_id(run_id))


@dataclass(frozen=True)
class Submission:
    """A run ready to be queued: every check of `prepare` passed."""

    location_name: str
    job: JobDefinition
    plan: ExecutionPlan
    tags: dict[str, str]
    priority: int
    run_config: dict[str, Any]


def prepare(
    job_name: str,
    tags: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
) -> Submission:
    """Check a submit without storing anything: the job exists, tags follow the key grammar
    and fit RUN_TAGS_MAX_BYTES, a partitioned job's run names one of its partitions (tag
    `dagster/partition`) and another job's none, the priority is a 32-bit whole number,
    the run config (merged with the job's defaults) is valid and fits RUN_CONFIG_MAX_BYTES. The launchpad's
    validate-as-you-type asks this too. Raises InvalidInput with every problem."""
    errors: list[ConfigError] = []
    found = get_workspace().find_job(job_name) if isinstance(job_name, str) else None
    if found is None:
        raise InvalidInput.one(
            "job", f"unknown job {job_name!r}: see /api/jobs/ for the jobs defined"
        )
    location_name, job = found
    user_tags, tag_errors = validate_tags(tags, max_bytes=settings.RUN_TAGS_MAX_BYTES)
    errors += tag_errors
    # The code location is a system tag (the location's name always wins), so fair share
    # and run tag limits can work per code location.
    merged_tags = {**dict(job.tags), **user_tags, CODE_LOCATION_TAG: location_name}
    priority, priority_errors = parse_priority(merged_tags)
    errors += priority_errors
    if not tag_errors:
        errors += partition_tag_errors(job.name, job.partitions_def, merged_tags, timezone.now())
    plan = job.plan()
    if run_config is not None and not isinstance(run_config, Mapping):
        errors.append(
            ConfigError("run_config", f"expected a mapping, got {type(run_config).__name__}")
        )
        run_config = {}
    # A Python caller's value gets the checks a document read by the input boundary had.
    check_value(run_config or {}, "run_config")
    merged_config = merge_run_config(job.default_run_config or {}, run_config)
    _, config_errors = validate_run_config(
        merged_config, frozenset(s.key for s in plan.steps), settings.RUN_CONFIG_MAX_BYTES
    )
    errors += config_errors
    if errors:
        raise InvalidInput(errors)
    return Submission(location_name, job, plan, merged_tags, priority, merged_config)


def submit(
    job_name: str,
    tags: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    actor: str = "system",
) -> Run:
    """Validate (`prepare`) and enqueue one run of `job_name`. Raises InvalidInput and stores
    nothing on error, and QueueFull when `concurrency_ui.max_queued_runs` runs are queued.

    With a cap set, submits take a lock of their own (a PostgreSQL advisory lock; SQLite
    transactions already begin with the write lock) from the count of queued runs to the
    insert, so two submits can never both take the last place. Without a cap, none.
    """
    ready = prepare(job_name, tags, run_config)
    with transaction.atomic():
        check_queue_cap(1)
        return insert_runs(ready, [ready.tags], actor)[0]


def insert_runs(
    ready: Submission,
    tag_sets: list[dict[str, str]],
    actor: str,
    backfill_id: int | None = None,
) -> list[Run]:
    """Inside the caller's transaction (after its `check_queue_cap`): one queued run of the
    prepared job per tag set, its steps and its `enqueued` event, in three bulk inserts.
    `submit` inserts one; a backfill one per partition, each tag set checked by `prepare`'s
    rules first."""
    job, plan = ready.job, ready.plan
    summary = pool_summary(plan)
    plan_data = plan_to_dict(plan)
    summary_data = None if summary is None else pool_summary_to_dict(summary)
    now = timezone.now()
    created = Run.objects.bulk_create(
        [
            Run(
                job_name=job.name,
                location_name=ready.location_name,
                status=RunStatus.QUEUED,
                tags=tags,
                priority=ready.priority,
                run_config=ready.run_config,
                plan=plan_data,
                pool_summary=summary_data,
                enqueued_at=now,
                backfill_id=backfill_id,
            )
            for tags in tag_sets
        ],
        batch_size=_BATCH,
    )
    Step.objects.bulk_create(
        [
            Step(
                run=run,
                step_key=s.key,
                op_name=s.op_name,
                plan_index=s.plan_index,
                pool=next(iter(s.pools)) if len(s.pools) == 1 else "",
                pools=dict(s.pools),
                priority=s.priority,
            )
            for run in created
            for s in plan.steps
        ],
        batch_size=_BATCH,
    )
    RunEvent.objects.bulk_create(
        [RunEvent(run=run, kind="enqueued", message=f"submitted by {actor}") for run in created],
        batch_size=_BATCH,
    )
    # The wait history starts at the enqueue time, with the reason the next tick would give.
    run_queue.record_first_waits(created, now)
    tick_requests.request_run_queue_tick()
    return created


_BATCH = 2000


# Any constant works: the lock only has to be the same for every submit.
_SUBMIT_LOCK = 0x63756971  # "cuiq"


def check_queue_cap(adding: int) -> None:
    """Inside the submit's transaction: refuse when `adding` more runs would pass the cap."""
    cap = current_config().extra.max_queued_runs
    if cap < 0:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SUBMIT_LOCK])
    queued = Run.objects.queued().count()
    problem = queue_full_message(queued, cap, adding)
    if problem:
        raise QueueFull(problem)


class QueueFull(Conflict):
    """A valid submit refused because `concurrency_ui.max_queued_runs` runs are queued."""


def transition(
    run_ids: Iterable[str],
    old: RunStatus | Iterable[RunStatus],
    new: RunStatus,
    message: str = "",
    **fields: Any,
) -> list[str]:
    """Move runs from `old` to `new` with one conditional UPDATE; return the ids that moved.

    The `WHERE status IN old` makes this safe against a concurrent change: a run that
    moved meanwhile is simply not updated. Transitions outside SEMANTICS 5.1 are refused.
    """
    olds = [old] if isinstance(old, RunStatus) else list(old)
    for status in olds:
        if not can_transition(status, new):
            raise Conflict(f"a run cannot go from {status} to {new}")
    run_ids = list(run_ids)
    if not run_ids:
        return []
    now = timezone.now()
    stamp = {
        RunStatus.STARTING: "launched_at",
        RunStatus.STARTED: "started_at",
        RunStatus.CANCELING: "canceling_at",
        RunStatus.QUEUED: "enqueued_at",
    }.get(new)
    if stamp and stamp not in fields:
        fields[stamp] = now
    if new in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED):
        fields.setdefault("ended_at", now)
    with transaction.atomic():
        moving = list(
            Run.objects.filter(run_id__in=run_ids, status__in=olds).values_list("id", "run_id")
        )
        if not moving:
            return []
        ids = [pk for pk, _ in moving]
        Run.objects.filter(id__in=ids, status__in=olds).update(status=new, updated_at=now, **fields)
        RunEvent.objects.bulk_create(
            [RunEvent(run_id=pk, kind=new.lower(), message=message) for pk in ids]
        )
        if new in FINISHED_STATUSES and ACTIVE_STATUSES.intersection(olds):
            # A run in progress ended: its place (and its tag counts) can go to a queued run.
            tick_requests.request_run_queue_tick()
    return [rid for _, rid in moving]


def terminate(run_id: str, actor: str, force: bool = False) -> Run:
    """Cancel a queued run at once, ask a running one to stop (CANCELING), or force CANCELED."""
    run = get_run(run_id)
    run_id = run.run_id
    status = RunStatus(run.status)
    if status == RunStatus.QUEUED:
        transition(
            [run_id], RunStatus.QUEUED, RunStatus.CANCELED, f"terminated by {actor} while queued"
        )
    elif force and status in ACTIVE_STATUSES:
        # Through CANCELING, as the transition table requires, in one go.
        if status != RunStatus.CANCELING:
            transition([run_id], status, RunStatus.CANCELING, f"force-terminated by {actor}")
        transition(
            [run_id], RunStatus.CANCELING, RunStatus.CANCELED, f"force-terminated by {actor}"
        )
        Step.objects.filter(run=run, status__in=["PENDING", "WAITING", "RUNNING"]).update(
            status=Step.Status.CANCELED, ended_at=timezone.now()
        )
        pools.free_run(run)
    elif status in (RunStatus.STARTING, RunStatus.STARTED):
        transition([run_id], status, RunStatus.CANCELING, f"termination requested by {actor}")
    elif status == RunStatus.CANCELING:
        if not force:
            raise Conflict("the run is already being canceled; use force to mark it canceled now")
    else:
        raise Conflict(
            f"run {run_id} is {status}: only queued or in-progress runs can be terminated"
        )
    run.refresh_from_db()
    return run


def set_priority(run_id: str, priority: object, actor: str) -> Run:
    """Change the priority of a queued run (its `dagster/priority` tag); audited."""
    if isinstance(priority, bool) or not isinstance(priority, int | str):
        raise InvalidInput.one("priority", f"expected an integer, got {type(priority).__name__}")
    value, errors = parse_priority({PRIORITY_TAG: str(priority)})
    if errors:
        # The error names the tag; here the field is `priority`.
        raise InvalidInput.one("priority", errors[0].message)
    run_id = resolve_run_id(run_id)
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(run_id=run_id).first()
        if run is None:
            raise NotFound(f"run {run_id!r} does not exist")
        if run.status != RunStatus.QUEUED:
            raise Conflict(f"run {run_id} is {run.status}: only a queued run's priority can change")
        old = run.priority
        run.priority = value
        run.tags = {**run.tags, PRIORITY_TAG: str(value)}
        run.save(update_fields=["priority", "tags", "updated_at"])
        record(actor, "run.set_priority", run_id, old, value)
        RunEvent.objects.create(
            run=run, kind="priority", message=f"priority {old} → {value} by {actor}"
        )
    return run


def heartbeat(run_id: str) -> None:
    Run.objects.filter(run_id=run_id).update(heartbeat_at=timezone.now())


def count_launch(run_ids: list[str]) -> None:
    Run.objects.filter(run_id__in=run_ids).update(launch_count=F("launch_count") + 1)
