"""What one run-monitoring tick does to each run (SEMANTICS 5.2 and 3.7).

The shell loads the runs, calls `decide_monitoring` and applies the actions, each
idempotent and guarded by the status transition table (statuses.py). Q9 fixed: a
timeout of 0 or less disables its check silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .types import FINISHED_STATUSES, RunStatus

MAX_RUNTIME_TAGS = ("dagster/max_runtime", "dagster/max_runtime_seconds")


@dataclass(frozen=True)
class MonitoringSettings:
    """`run_monitoring:` values; a value <= 0 (or None) disables its check."""

    start_timeout_seconds: float = 180
    cancel_timeout_seconds: float = 180
    max_runtime_seconds: float = 0
    # On by default, unlike the reference: slots of killed runs otherwise leak forever.
    free_slots_after_run_end_seconds: float | None = 60
    run_heartbeat_timeout_seconds: float = 60
    resend_starting_after_seconds: float = 30


@dataclass(frozen=True)
class MonitoredRun:
    run_id: str
    status: RunStatus
    created_at: float
    launched_at: float | None = None  # the "starting" event
    started_at: float | None = None
    ended_at: float | None = None
    canceling_at: float | None = None  # the latest "canceling" event
    heartbeat_at: float | None = None  # the run worker's latest heartbeat
    tags: Mapping[str, str] = field(default_factory=dict)
    holds_slots: bool = False  # has pool slots or waiter rows


@dataclass(frozen=True)
class FailRun:
    """Mark the run FAILURE (start timeout, dead worker)."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class ForceCanceled:
    """Mark a CANCELING run CANCELED after the cancel timeout."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class CancelForRuntime:
    """Move the run to CANCELING, ask the launcher to terminate it, then mark it FAILURE."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class FreeSlots:
    """Release every pool slot and waiter row of a finished run."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class ResendLaunch:
    """Send the execution message of a STARTING run again (it may have been lost)."""

    run_id: str


MonitoringAction = FailRun | ForceCanceled | CancelForRuntime | FreeSlots | ResendLaunch


def decide_monitoring(
    settings: MonitoringSettings, runs: Sequence[MonitoredRun], now: float
) -> tuple[MonitoringAction, ...]:
    """At most one action per run, in the order of `runs`.

    - NOT_STARTED (since creation) and STARTING (since launch): FailRun once the
      start timeout has elapsed; a STARTING run younger than that but at least
      `resend_starting_after_seconds` old gets ResendLaunch.
    - STARTED: FailRun when the worker heartbeat (or the start time before the first
      heartbeat) is older than `run_heartbeat_timeout_seconds`; otherwise, like
      SUSPENDED, CancelForRuntime once running longer than its max runtime.
    - CANCELING: ForceCanceled once the cancel timeout has elapsed.
    - SUCCESS / FAILURE / CANCELED holding slots: FreeSlots once ended_at + N <= now.
    QUEUED runs are bounded by `staleness.overdue` (concurrency_ui.max_queued_seconds);
    MANAGED runs are not monitored.
    """
    actions: list[MonitoringAction] = []
    for run in runs:
        action = _check(settings, run, now)
        if action is not None:
            actions.append(action)
    return tuple(actions)


def max_runtime_for(tags: Mapping[str, str], default_seconds: float) -> float:
    """Max runtime of a run in seconds; 0 means no limit.

    The run tag wins over the global value. A tag that is not a finite number means no
    limit (it does not fall back to the global value), as in the reference.
    """
    for tag in MAX_RUNTIME_TAGS:
        raw = tags.get(tag)
        if raw is None:
            continue
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            return 0
        return seconds if math.isfinite(seconds) and seconds > 0 else 0
    return default_seconds if default_seconds and default_seconds > 0 else 0


def _enabled(seconds: float | None) -> bool:
    return seconds is not None and seconds > 0


def _check(settings: MonitoringSettings, run: MonitoredRun, now: float) -> MonitoringAction | None:
    status = run.status
    if status == RunStatus.NOT_STARTED:
        return _start_timeout(settings, run, now, since=run.created_at, what="created")
    if status == RunStatus.STARTING:
        since = run.launched_at if run.launched_at is not None else run.created_at
        failed = _start_timeout(settings, run, now, since=since, what="launched")
        if failed is not None:
            return failed
        resend = settings.resend_starting_after_seconds
        if _enabled(resend) and now - since >= resend:
            return ResendLaunch(run.run_id)
        return None
    if status == RunStatus.STARTED:
        timeout = settings.run_heartbeat_timeout_seconds
        last = run.heartbeat_at if run.heartbeat_at is not None else run.started_at
        if _enabled(timeout) and last is not None and now - last > timeout:
            seen = (
                "last heartbeat" if run.heartbeat_at is not None else "started without a heartbeat"
            )
            return FailRun(
                run.run_id,
                f"The run worker stopped sending heartbeats: {seen} {now - last:.0f} seconds ago, "
                f"more than run_heartbeat_timeout_seconds ({timeout:g}).",
            )
        return _max_runtime(settings, run, now)
    if status == RunStatus.SUSPENDED:
        return _max_runtime(settings, run, now)
    if status == RunStatus.CANCELING:
        timeout = settings.cancel_timeout_seconds
        if not _enabled(timeout):
            return None
        canceling = run.canceling_at
        if canceling is None:
            # No canceling time recorded: measure from the latest thing we know of.
            canceling = max(
                t for t in (run.created_at, run.launched_at, run.started_at) if t is not None
            )
        if now - canceling >= timeout:
            return ForceCanceled(
                run.run_id,
                f"The run was still canceling after {now - canceling:.0f} seconds "
                f"(cancel_timeout_seconds is {timeout:g}); it is marked canceled.",
            )
        return None
    if status in FINISHED_STATUSES and run.holds_slots:
        after = settings.free_slots_after_run_end_seconds
        if (
            after is not None
            and _enabled(after)
            and run.ended_at is not None
            and run.ended_at + after <= now
        ):
            return FreeSlots(
                run.run_id,
                f"The run ended {now - run.ended_at:.0f} seconds ago and still held pool slots "
                f"(free_slots_after_run_end_seconds is {after:g}); they are released.",
            )
    return None


def _start_timeout(
    settings: MonitoringSettings, run: MonitoredRun, now: float, since: float, what: str
) -> FailRun | None:
    timeout = settings.start_timeout_seconds
    if not _enabled(timeout) or now - since < timeout:
        return None
    return FailRun(
        run.run_id,
        f"The run timed out after {now - since:.0f} seconds in {run.status} since it was {what} "
        f"(start_timeout_seconds is {timeout:g}).",
    )


def _max_runtime(
    settings: MonitoringSettings, run: MonitoredRun, now: float
) -> CancelForRuntime | None:
    limit = max_runtime_for(run.tags, settings.max_runtime_seconds)
    if not limit or run.started_at is None or now - run.started_at <= limit:
        return None
    return CancelForRuntime(
        run.run_id,
        f"The run exceeded its maximum runtime of {limit:g} seconds "
        f"(running for {now - run.started_at:.0f} seconds); it is canceled and marked failed.",
    )
