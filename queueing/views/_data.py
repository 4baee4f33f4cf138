"""Read-only queries the dashboard needs and the services do not offer (yet).

Nothing here writes. Each function answers one page's question with a bounded number of
queries (never one per run), so pages stay fast with thousands of runs and claims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncMinute

from .. import dispatch
from ..definitions import JobDefinition
from ..engine.config.model import InstanceConfig
from ..engine.doctor.facts import STALLED_INTERVALS
from ..engine.doctor.motion import queue_motion
from ..engine.pool_words import is_closed, limit_unused, usage_words
from ..engine.pools import free_run_refusal
from ..engine.submission import merge_run_config
from ..engine.tags import HOLDERS_CAP
from ..engine.types import FINISHED_STATUSES, IN_PROGRESS_STATUSES, RunStatus
from ..locations import get_workspace
from ..models import AuditEntry, DaemonHeartbeat, Pool, PoolClaim, Run, Step, TickRecord
from ..services.pool_report import code_pools
from ..services.pools import pool_usage

RUN_QUEUE = DaemonHeartbeat.Daemon.RUN_QUEUE
# Slots held or claimed at this share of a pool's limit count as "near the limit".
NEAR_LIMIT_SHARE = 0.8
# The executor block the launchpad scaffolds into every run config.
EXECUTION_SCAFFOLD = {
    "execution": {"config": {"multiprocess": {"max_concurrent": 4, "tag_concurrency_limits": []}}}
}
# Each broadcast waits its whole timeout, and the filesystem broker (the embedded default)
# polls once a second: a shorter timeout misses workers that are up.
CELERY_INSPECT_SECONDS = 1.0
CELERY_WAIT_SECONDS = CELERY_INSPECT_SECONDS + 2


def live_runs_exist() -> bool:
    """Whether any run is queued or in progress: only then can a runs table change."""
    statuses = [RunStatus.QUEUED, *IN_PROGRESS_STATUSES]
    return Run.objects.filter(status__in=statuses).exists()


def share_values(key: str) -> list[tuple[str, int]]:
    """(value, queued runs) of fair share's key among queued runs, most runs first (the
    Queued tab's filter; runs without the key are left out)."""
    counts = Run.objects.queued().count_by_tag_value(key)
    found = [(value, n) for (_, value), n in counts.items() if value is not None]
    return sorted(found, key=lambda item: (-item[1], item[0]))


# --- overview ---------------------------------------------------------------------------


def run_counts(now: datetime) -> dict[str, int]:
    # Both bounds: with only a lower one SQLite's planner guesses a quarter of the table
    # and walks every finished run instead of the end-time index (run_ended).
    finished = Run.objects.finished().filter(ended_at__range=(now - timedelta(hours=1), now))
    by_status = dict(finished.values_list("status").annotate(n=Count("id")))
    return {
        "queued": Run.objects.queued().count(),
        "in_progress": Run.objects.filter(status__in=list(IN_PROGRESS_STATUSES)).count(),
        "active": Run.objects.active().count(),
        "finished": sum(by_status.values()),
        "succeeded": by_status.get(RunStatus.SUCCESS, 0),
        "failed": by_status.get(RunStatus.FAILURE, 0),
        "canceled": by_status.get(RunStatus.CANCELED, 0),
    }


@dataclass(frozen=True)
class Stall:
    """Queued runs and free capacity, yet nothing launched for `window_seconds`."""

    queued: int
    free: int | None  # None: max_concurrent_runs is -1 (no limit)
    window_seconds: int
    last_launch: datetime | None
    frozen: bool = False  # max_concurrent_runs is 0
    held: bool = False  # ticks run, but a tag limit or a pool holds every queued run


def queue_stall(now: datetime, config: InstanceConfig, queued: int, active: int) -> Stall | None:
    """The "queue is not moving" banner: the doctor's stalled-queue rule
    (`engine.doctor.queue_motion`) on the counts the overview already has.

    A stall is then told apart from limits at work without a whole evaluation (the
    doctor runs one): ticks that ran without error in the window, while every run old
    enough to have been judged carries a `wait_rule`, mean limits hold the queue.
    """
    limit = config.queue.max_concurrent_runs
    window = STALLED_INTERVALS * config.dequeue_interval_seconds
    oldest = Run.objects.queued().order_by("id").values_list("created_at", flat=True).first()
    launches = TickRecord.objects.filter(daemon=RUN_QUEUE, launched__gt=0)
    last = launches.order_by("-started_at").values_list("started_at", flat=True).first()
    motion = queue_motion(
        queued=queued,
        oldest_wait=None if oldest is None else (now - oldest).total_seconds(),
        last_launch_age=None if last is None else (now - last).total_seconds(),
        window=window,
        max_concurrent_runs=limit,
        active=active,
    )
    if motion == "frozen":
        return Stall(queued, 0, window, None, frozen=True)
    if motion != "stalled":
        return None
    since = now - timedelta(seconds=window)
    ticking = TickRecord.objects.filter(daemon=RUN_QUEUE, started_at__gte=since, error="")
    unjudged = Run.objects.queued().filter(created_at__lte=since, wait_rule="")
    held = ticking.exists() and not unjudged.exists()
    return Stall(queued, None if limit < 0 else limit - active, window, last, held=held)


@dataclass(frozen=True)
class Chart:
    """Queue depth and in-progress runs per minute, as SVG coordinates."""

    width: int
    height: int
    top: int
    queued: tuple[tuple[float, float], ...]
    active: tuple[tuple[float, float], ...]

    @property
    def samples(self) -> int:
        return len(self.queued)

    @property
    def queued_points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.queued)

    @property
    def active_points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.active)


CHART_WIDTH, CHART_HEIGHT, CHART_MINUTES = 600, 160, 60


def tick_chart(now: datetime) -> Chart:
    """One point per minute of the last hour: the highest queued/active count a tick saw."""
    start = now - timedelta(minutes=CHART_MINUTES)
    rows: list[Any] = list(
        TickRecord.objects.filter(daemon=RUN_QUEUE, started_at__gte=start, error="")
        .annotate(minute=TruncMinute("started_at"))
        .values("minute")
        .annotate(queued=Max("queued"), active=Max("active"))
        .order_by("minute")
    )
    top = max([1, *(max(r["queued"], r["active"]) for r in rows)])

    def coords(column: str) -> tuple[tuple[float, float], ...]:
        span = CHART_MINUTES * 60
        return tuple(
            (
                max(0.0, (r["minute"] - start).total_seconds() / span * CHART_WIDTH),
                CHART_HEIGHT - r[column] / top * CHART_HEIGHT,
            )
            for r in rows
        )

    return Chart(CHART_WIDTH, CHART_HEIGHT, top, coords("queued"), coords("active"))


# --- pools ------------------------------------------------------------------------------


@dataclass
class PoolRow:
    key: str
    limit: int | None  # None: no limit row (unlimited)
    pk: int | None = None
    from_default: bool = False
    held: int = 0
    waiting: int = 0
    holders: list[dict[str, Any]] = field(default_factory=list)
    # Jobs of loaded code locations using the pool ({location, job}).
    jobs: list[dict[str, str]] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return is_closed(self.limit)

    @property
    def usage_text(self) -> str:
        return usage_words(self.limit, self.held, self.waiting)

    @property
    def unused(self) -> bool:
        return limit_unused(self.limit, bool(self.jobs), self.held, self.waiting)

    @property
    def shown_holders(self) -> list[dict[str, Any]]:
        """The holders a page lists; the rest is a count (`more_holders`)."""
        return self.holders[:HOLDERS_CAP]

    @property
    def more_holders(self) -> int:
        return max(0, len(self.holders) - HOLDERS_CAP)

    @property
    def near_limit(self) -> bool:
        """Closed, or slots held or claimed at `NEAR_LIMIT_SHARE` of the limit."""
        if self.limit is None:
            return False
        if self.closed:
            return True
        return self.waiting > 0 or self.held >= max(1, self.limit * NEAR_LIMIT_SHARE)


def pool_rows(keys: Iterable[str] | None = None) -> list[PoolRow]:
    """Pools with a limit, plus (for the whole list) every pool loaded code uses or a claim
    names; slots in use, waiters, holders and the jobs using each."""
    limits = Pool.objects.all() if keys is None else Pool.objects.filter(key__in=list(keys))
    rows = {p.key: PoolRow(p.key, p.limit, p.pk, p.from_default) for p in limits}
    for key, jobs in code_pools().items():
        if keys is None:
            rows.setdefault(key, PoolRow(key, None))
        if key in rows:
            rows[key].jobs = jobs
    claims = PoolClaim.objects.filter(claimed_at__isnull=False)
    if keys is not None:
        claims = claims.filter(pool_key__in=list(keys))
    for key, counts in pool_usage().items():
        if keys is None or key in rows:
            row = rows.setdefault(key, PoolRow(key, None))
            row.held, row.waiting = counts["held"], counts["waiting"]
    holders = claims.order_by("pool_key", "claimed_at", "id").values(
        "pool_key", "step_key", "claimed_at", "run__run_id", "run__job_name", "run__status"
    )
    for claim in holders:
        if claim["pool_key"] in rows:
            status = RunStatus(claim["run__status"])
            rows[claim["pool_key"]].holders.append(
                {
                    **claim,
                    # A finished run still holding a slot is a leak monitoring has not
                    # released yet.
                    "run_finished": status in FINISHED_STATUSES,
                    # Freeing the whole run by hand is refused while it is in progress.
                    "run_freeable": free_run_refusal(claim["run__run_id"], status) is None,
                }
            )
    return sorted(rows.values(), key=lambda r: r.key)


def pools_near_limit() -> list[PoolRow]:
    return [row for row in pool_rows() if row.near_limit]


def limit_history(limit: int = 50) -> list[AuditEntry]:
    changes = Q(action__startswith="pool.") | Q(action__startswith="config.")
    return list(AuditEntry.objects.filter(changes)[:limit])


# --- runs -------------------------------------------------------------------------------


def run_activity(run_pks: Iterable[int]) -> dict[int, dict[str, int]]:
    """Per run: steps running and pool slots held (two queries for a whole page)."""
    pks = list(run_pks)
    activity: dict[int, dict[str, int]] = defaultdict(lambda: {"running_steps": 0, "slots_held": 0})
    running = Step.objects.filter(run_id__in=pks, status=Step.Status.RUNNING)
    for pk, n in running.values_list("run_id").annotate(n=Count("id")):
        activity[pk]["running_steps"] = n
    held = PoolClaim.objects.filter(run_id__in=pks, claimed_at__isnull=False)
    for pk, n in held.values_list("run_id").annotate(n=Count("id")):
        activity[pk]["slots_held"] = n
    return activity


def claims_by_step(run: Run) -> dict[str, list[PoolClaim]]:
    claims: dict[str, list[PoolClaim]] = defaultdict(list)
    for claim in run.claims.order_by("id"):
        claims[claim.step_key].append(claim)
    return claims


# --- launchpad ----------------------------------------------------------------------------


def jobs_by_location() -> list[tuple[str, str | None, list[JobDefinition]]]:
    """(location, load error or None, its jobs) for every code location."""
    return [
        (loc.name, loc.error, list(loc.defs.jobs) if loc.defs is not None else [])
        for loc in get_workspace().locations
    ]


def find_job(name: str) -> JobDefinition | None:
    found = get_workspace().find_job(name) if name else None
    return None if found is None else found[1]


# Pickers offer a partitioned job's latest keys, newest first (any key can be typed).
PARTITIONS_SHOWN = 500


def partition_choices(job: JobDefinition, now: datetime) -> list[str]:
    """The keys a partition picker offers: the latest PARTITIONS_SHOWN, newest first."""
    if job.partitions_def is None:
        return []
    return job.partitions_def.partition_keys(now)[-PARTITIONS_SHOWN:][::-1]


def scaffold_run_config(job: JobDefinition) -> dict[str, Any]:
    """The job's default run config, plus a multiprocess executor block if it names none."""
    config = job.default_run_config or {}
    if "execution" in config:
        return config
    return merge_run_config(config, EXECUTION_SCAFFOLD)


# --- daemons ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workers:
    replies: dict[str, Any] = field(default_factory=dict)  # worker name -> ping reply
    active: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problem: str = ""  # why the broker could not be asked


def _ask_workers() -> Workers:
    # One broadcast, not a ping then `active`: a worker listing its tasks has answered.
    active = dispatch.app.control.inspect(timeout=CELERY_INSPECT_SECONDS).active() or {}
    return Workers({name: {"ok": "pong"} for name in active}, active)


def celery_workers(wait: float = CELERY_WAIT_SECONDS) -> Workers:
    """The Celery workers that answer a ping within `wait` seconds, and their active tasks;
    an unreachable broker (whose client retries) costs at most `wait` (`dispatch.ask_workers`)."""
    workers, problem = dispatch.ask_workers(lambda celery: _ask_workers(), wait)
    return Workers(problem=problem) if workers is None else workers
