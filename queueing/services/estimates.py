"""Start estimates for queued runs (engine/estimates.py), computed once per tick and cached.

Never computed inside the tick: pages, the API and `explain` ask `current()`, which replays
the queue from the same snapshot the tick reads (`run_queue.evaluate`) the first time it
is asked after a tick, and answers from this process's cache until the next tick.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace

from django.db.models import Count, Max

from ..engine.config.model import InstanceConfig
from ..engine.estimates import ASSUMPTION, Estimate, estimate_starts, typical_durations
from ..engine.types import ACTIVE_STATUSES, RunStatus
from ..models import DaemonHeartbeat, Run
from .config import current_config
from .run_queue import evaluate

# Typical durations come from this many recent successful runs of each job...
SAMPLES_PER_JOB = 20
# ...read from at most this many recent successful runs in all.
RECENT_SUCCESSES = 5000

__all__ = ["ASSUMPTION", "Estimates", "current", "for_run"]


@dataclass(frozen=True)
class Estimates:
    computed_at: float  # POSIX seconds: `starts_in` of each estimate counts from here
    by_run: dict[str, Estimate]
    tick_key: tuple

    def get(self, run_id: str, now: float | None = None) -> Estimate | None:
        """The estimate of a run, its `starts_in` counted from `now` (never below 0)."""
        found = self.by_run.get(run_id)
        if found is None or found.starts_in is None:
            return found
        waited = (time.time() if now is None else now) - self.computed_at
        return replace(found, starts_in=max(0.0, found.starts_in - waited))


_lock = threading.Lock()
_cached: Estimates | None = None


def _tick_key(config: InstanceConfig) -> tuple:
    """Changes with every run-queue tick, and with the queue, the runs in progress or the
    configuration."""
    tick = (
        DaemonHeartbeat.objects.filter(daemon=DaemonHeartbeat.Daemon.RUN_QUEUE)
        .values_list("last_tick_started", flat=True)
        .first()
    )
    # Runs submitted, canceled, re-prioritised or ended since also change the key.
    runs = Run.objects.filter(status__in=[RunStatus.QUEUED, *ACTIVE_STATUSES]).aggregate(
        count=Count("id"), last=Max("id"), changed=Max("updated_at")
    )
    return (tick, runs["count"], runs["last"], runs["changed"], repr(config))


def durations() -> tuple[dict[str, float], float | None]:
    """(median duration of each job's recent successful runs, the fallback for jobs with none)."""
    samples: dict[str, list[float]] = defaultdict(list)
    rows = (
        Run.objects.filter(
            status=RunStatus.SUCCESS, started_at__isnull=False, ended_at__isnull=False
        )
        .order_by("-id")
        .values_list("job_name", "started_at", "ended_at")[:RECENT_SUCCESSES]
    )
    for job, started, ended in rows:
        if len(samples[job]) < SAMPLES_PER_JOB:
            samples[job].append(max(0.0, (ended - started).total_seconds()))
    return typical_durations(samples)


# Longer queues get no estimate. On the bench workload (ten tag limits, five pools) the
# incremental replay (engine/estimates.replay_events) took 174-294 ms at 1,000 queued runs,
# 467-688 ms at 2,000 and 4.4-4.5 s at 10,000 on the loaded shared machine (two runs,
# bench/results.json "start_estimates_replay_ms"): 2,000 is what a page can wait for once
# per tick.
MAX_QUEUED = 2_000


def compute(config: InstanceConfig, now: float | None = None) -> Estimates:
    """Replay the queue now (uncached)."""
    now = time.time() if now is None else now
    queued = Run.objects.queued().count()
    if queued > MAX_QUEUED:
        reason = f"the queue holds {queued} runs, more than the {MAX_QUEUED} estimates replay"
        ids = Run.objects.queued().values_list("run_id", flat=True)
        by_run = {run_id: Estimate(run_id, "no_history", reason=reason) for run_id in ids}
        return Estimates(now, by_run, ())
    evaluation = evaluate(config, now=now)
    snapshot = evaluation.snapshot
    run_ids = [run.run_id for run in (*snapshot.queued, *snapshot.active)]
    jobs = dict(
        Run.objects.filter(status__in=[RunStatus.QUEUED, *ACTIVE_STATUSES]).values_list(
            "run_id", "job_name"
        )
    )
    job_of = {run_id: jobs.get(run_id, "") for run_id in run_ids}
    medians, fallback = durations()
    by_run = estimate_starts(snapshot, job_of, medians, fallback, config.dequeue_interval_seconds)
    record_first(now, by_run)
    return Estimates(now, by_run, ())


def record_first(now: float, by_run: dict[str, Estimate]) -> int:
    """Store on each queued run that has none its first estimate, as seconds after its
    enqueue (`Run.start_estimate_seconds`, for the estimate error on /metrics). Returns the
    runs updated.

    No lock: each row is written once, by a conditional UPDATE (`... IS NULL`), so two
    processes computing at once write the same kind of value and the first one stays."""
    fresh = list(
        Run.objects.queued()
        .filter(start_estimate_seconds__isnull=True, run_id__in=list(by_run))
        .exclude(enqueued_at=None)
        .values_list("id", "run_id", "enqueued_at")
    )
    updated = 0
    for pk, run_id, enqueued_at in fresh:
        found = by_run[run_id]
        if found.kind != "estimate" or found.starts_in is None:
            continue
        seconds = now - enqueued_at.timestamp() + found.starts_in
        updated += Run.objects.filter(pk=pk, start_estimate_seconds__isnull=True).update(
            start_estimate_seconds=max(0.0, seconds)
        )
    return updated


def current(config: InstanceConfig | None = None) -> Estimates:
    """The estimates of this tick: computed by the first caller after a tick, then cached."""
    global _cached
    config = config or current_config()
    key = _tick_key(config)
    with _lock:
        if _cached is not None and _cached.tick_key == key:
            return _cached
        fresh = replace(compute(config), tick_key=key)
        _cached = fresh
        return fresh


def for_run(run_id: str) -> Estimate | None:
    """The estimate of one queued run (None when it is not queued)."""
    return current().get(run_id)
