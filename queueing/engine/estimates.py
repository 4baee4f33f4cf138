"""When will a queued run start? The queue replayed forward with the engine's own `decide`.

From a snapshot of the queue, simulated time advances tick by tick (`tick_seconds`, the
dequeue interval): at each tick the runs in progress whose expected end has passed finish
and free their capacity, tag counts and pool slots, then `run_queue.decide` (the function
the tick calls) launches what it would launch. A run's estimate is the first tick at which
it launches. Assumptions, shown with every estimate:

- a run lasts its job's typical duration: the median of its job's recent successful runs
  (`durations`); a run in progress ends after that median minus the time it already ran,
  or at the next tick if it already ran longer;
- a job that never succeeded lasts `fallback_seconds` (the median over every job with a
  history); without any history at all there is no estimate ("no estimate: no job has run");
- nothing is submitted, canceled or re-prioritised meanwhile, and limits do not change.

A run the replay never launches gets why: `blocked` (nothing in progress would ever free
what holds it, e.g. a closed pool or `max_concurrent_runs: 0`) or `beyond` (past
`horizon_seconds`, or past `max_rounds` simulated ticks).
Cost: one `decide` per simulated tick with a run ending (at most `MAX_ROUNDS`), over the
head of the remaining queue while `max_concurrent_runs` is what holds it, but over the
whole remaining queue when tag limits or pools hold runs past the head: too slow for long
queues (the service replays queues of at most 500 runs; bench/estimates.py). The caller
caches the result for a whole tick.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .gates import queue_order
from .run_queue import decide
from .types import PoolState, QueueSnapshot, RunInfo, RunStatus, Wait

Kind = Literal["estimate", "blocked", "beyond", "no_history"]
# A replay never simulates more than this far ahead.
HORIZON_SECONDS = 24 * 3600.0
# Head of the remaining queue `decide` is asked about first (grown while runs could launch).
FIRST_HEAD = 64
# The replay stops after this many simulated ticks with a run ending (each one `decide`):
# later runs get "beyond". Bounds the cost when limits other than max_concurrent_runs hold
# most of a long queue (then every round decides the whole remaining queue).
MAX_ROUNDS = 200


@dataclass(frozen=True)
class Estimate:
    run_id: str
    kind: Kind
    starts_in: float | None = None  # seconds after the snapshot, for kind "estimate"
    reason: str = ""  # the rule holding a blocked run, or why there is no estimate
    # Jobs never run whose fallback duration this estimate rests on.
    assumed_jobs: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """`starts in about 4 min`, `blocked: pool redshift: 0 of 0 …`, `no estimate: …`."""
        if self.kind == "estimate" and self.starts_in is not None:
            return f"starts {about(self.starts_in)}"
        if self.kind == "blocked":
            return f"blocked: {self.reason}"
        if self.kind == "beyond":
            return "no estimate: later than the replay looks ahead"
        return f"no estimate: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "starts_in_seconds": None if self.starts_in is None else round(self.starts_in),
            "label": self.label,
            "reason": self.reason,
            "assumed_jobs": list(self.assumed_jobs),
        }


def about(seconds: float) -> str:
    if seconds < 1:
        return "at the next tick"
    return f"in about {about_span(seconds)}"


def about_span(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


ASSUMPTION = (
    "Replays the queue with the run queue's own rules: each run lasts the median of its job's "
    "recent successful runs (runs in progress: minus the time they already ran); jobs never "
    "run last the median of all jobs; nothing is submitted, canceled or changed meanwhile."
)


def typical_durations(
    samples: Mapping[str, Sequence[float]],
) -> tuple[dict[str, float], float | None]:
    """(median duration by job, the fallback: the median of those medians, or None)."""
    medians = {job: statistics.median(values) for job, values in samples.items() if values}
    fallback = statistics.median(medians.values()) if medians else None
    return medians, fallback


@dataclass
class _Running:
    run: RunInfo
    ends_at: float
    assumed: tuple[str, ...]


def estimate_starts(
    snapshot: QueueSnapshot,
    job_of: Mapping[str, str],
    durations: Mapping[str, float],
    fallback_seconds: float | None,
    tick_seconds: float,
    horizon_seconds: float = HORIZON_SECONDS,
    max_rounds: int = MAX_ROUNDS,
) -> dict[str, Estimate]:
    """An estimate for every queued run of `snapshot` (module docstring).

    `job_of` maps run ids (queued and active) to job names; `durations` the typical duration
    of each job. Times are relative to `snapshot.now`.
    """
    queued = snapshot.queued
    if fallback_seconds is None:
        return {
            run.run_id: Estimate(run.run_id, "no_history", reason="no job has finished a run yet")
            for run in queued
        }
    tick = max(1.0, float(tick_seconds))
    now = snapshot.now

    def duration(run_id: str) -> tuple[float, tuple[str, ...]]:
        job = job_of.get(run_id, "")
        if job in durations:
            return durations[job], ()
        return float(fallback_seconds), (job,)

    running: list[_Running] = []
    for run in snapshot.active:
        length, assumed = duration(run.run_id)
        ran = 0.0 if run.started_at is None else max(0.0, now - run.started_at)
        running.append(_Running(run, now + max(length - ran, 0.0), assumed))
    # Fair share reorders the queue as runs end; otherwise the order never changes.
    remaining = list(queued) if snapshot.settings.fair_share else queue_order(queued)
    pools = dict(snapshot.pools)
    fair = snapshot.settings.fair_share
    finished: dict[str | None, int] = dict(snapshot.fair_finished)
    relied_on: set[str] = set()  # jobs never run whose fallback an ended run used
    estimates: dict[str, Estimate] = {}
    t = now
    rounds = 0
    while remaining:
        rounds += 1
        state = replace(snapshot, pools=pools, fair_finished=finished, now=t)
        launched, last_wait, rest_wait = _launch_round(state, remaining, running)
        if launched:
            launched_ids = set()
            behind = tuple(sorted(relied_on | {j for r in running for j in r.assumed}))
            for run in launched:
                launched_ids.add(run.run_id)
                estimates[run.run_id] = Estimate(
                    run.run_id, "estimate", t - now, assumed_jobs=behind
                )
                length, assumed = duration(run.run_id)
                started = replace(run, status=RunStatus.STARTING, started_at=None)
                running.append(_Running(started, t + length, assumed))
            remaining = [run for run in remaining if run.run_id not in launched_ids]
            if not remaining:
                break
        if not running:
            # Nothing in progress: nothing will ever free what holds the rest.
            for run in remaining:
                wait = last_wait.get(run.run_id)
                reason = wait.message if wait is not None else rest_wait
                estimates[run.run_id] = Estimate(run.run_id, "blocked", reason=reason)
            break
        # The next tick at or after the earliest end.
        first_end = min(r.ends_at for r in running)
        steps = max(1, -int(-(first_end - t) // tick))
        t += steps * tick
        if t - now > horizon_seconds or rounds >= max_rounds:
            for run in remaining:
                estimates[run.run_id] = Estimate(run.run_id, "beyond")
            break
        ended = [r for r in running if r.ends_at <= t]
        running = [r for r in running if r.ends_at > t]
        for done in ended:
            _free_pools(pools, done.run.run_id)
            relied_on.update(done.assumed)
            if fair is not None:
                value = done.run.tags.get(fair.key)
                finished[value] = finished.get(value, 0) + 1
    return estimates


def _launch_round(
    snapshot: QueueSnapshot, remaining: list[RunInfo], running: list[_Running]
) -> tuple[list[RunInfo], dict[str, Wait], str]:
    """What `decide` launches in `snapshot` (its time, pools, turns): asked about the head of the remaining queue, grown
    while runs past it could still launch (without fair share, whose order needs it all)."""
    active = tuple(r.run for r in running)
    fair = snapshot.settings.fair_share is not None
    head = len(remaining) if fair else FIRST_HEAD
    by_id = {run.run_id: run for run in remaining} if fair else None
    while True:
        part = remaining[:head]
        decision = decide(replace(snapshot, queued=part, active=active), complete=False)
        if decision.later_runs_wait_on is not None or head >= len(remaining):
            break
        head *= 4
    if by_id is None:
        by_id = {run.run_id: run for run in part}
    waits = {k: v for k, v in decision.verdicts.items() if isinstance(v, Wait)}
    later = decision.later_runs_wait_on
    rest = later.message if later is not None else "held by a rule nothing running frees"
    return [by_id[run_id] for run_id in decision.launch], waits, rest


def _free_pools(pools: dict[str, PoolState], run_id: str) -> None:
    """A run ended: its steps' slots and waiting entries leave the pools."""
    for key, state in pools.items():
        if run_id in state.holders:
            held = state.holders.count(run_id)
            pools[key] = replace(
                state,
                pending=max(0, state.pending - held),
                holders=tuple(h for h in state.holders if h != run_id),
            )
