"""What one run-queue tick launches, and why every other queued run waits.

SEMANTICS 2.2-2.8, with Q2 (a run counts against limits only once it passed every
gate) and Q4 (one greedy pass over the whole sorted queue) fixed. The daemon tick and
the "why is this run queued?" explainer both call `decide`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from . import dagster_1_13
from .gates import PoolCounter, cyclic_gc_paused, greedy_pass, queue_order
from .tags import TagCounter
from .types import (
    DAGSTER_1_13,
    Launch,
    PoolSummary,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TickDecision,
    Wait,
)

__all__ = [
    "counted_as_launched",
    "decide",
    "explain",
    "pool_summaries_full_now",
    "queue_order",
    "skips_runs_held_by_tags",
    "tags_full_now",
]

# What `tags_full_now` answers: (keys, {key: values}) of the tags that hold their carriers.
FullTags = tuple[frozenset[str], dict[str, frozenset[str]]]


def decide(snapshot: QueueSnapshot, complete: bool = True) -> TickDecision:
    """Decide which queued runs this tick launches; give every queued run a verdict.

    Candidates are walked once in `queue_order`. Per candidate the gates are, in order:
    `max_concurrent_runs`, the tag limits that apply to its run tags, then its pools
    (only with `block_op_concurrency_limited_runs`). Every gate is evaluated so the
    explanation is complete; the first failing one is `Wait.blocking`. A waiting run
    never blocks later ones (skip, not head-of-line), and only launched runs are added
    to the counters. Cost: O(n log n) in queued runs.

    With `complete=False` (the tick, which stores only each run's blocking gate) a run
    held by `max_concurrent_runs` gets a Wait whose `gates` hold that gate alone; its
    tag and pool gates, which cannot change the outcome, are not built. Launches, order,
    positions and every `Wait.blocking` are the same as with `complete=True`.

    `later_runs_wait_on` is set when the pass ends with max_concurrent_runs used up:
    then runs placed after every run of the snapshot would all wait on that gate, so a
    caller may decide the head of a long queue and know the verdict of the rest.

    Raises ValueError when `max_concurrent_runs` is below -1 (config validation
    should have refused it).

    `settings.semantics == "dagster_1_13"` hands the snapshot to `dagster_1_13.decide`,
    which reproduces Dagster 1.13's daemon instead (its quirks included, each verdict a
    quirk decides saying so in `notes`).
    """
    if snapshot.settings.semantics == DAGSTER_1_13:
        return dagster_1_13.decide(snapshot)
    # The pass allocates many small acyclic objects; pausing the cyclic collector
    # avoids repeated full collections over the snapshot (about half the time at 100k).
    with cyclic_gc_paused():
        return greedy_pass(snapshot, complete)


def explain(snapshot: QueueSnapshot, run_id: str) -> Launch | Wait | None:
    """The verdict the next tick would give `run_id`; None if it is not queued.

    Runs the whole `decide` (a verdict depends on every run ahead in the queue); to
    explain many runs, call `decide` once and read `verdicts`.
    """
    return decide(snapshot).verdicts.get(run_id)


def skips_runs_held_by_tags(settings: QueueSettings) -> bool:
    """Whether a tick may leave unread the queued runs a full tag holds (`tags_full_now`)."""
    return (
        settings.semantics != DAGSTER_1_13
        and settings.max_concurrent_runs == -1
        and bool(settings.tag_limits)
    )


def tags_full_now(settings: QueueSettings, active: Sequence[RunInfo]) -> FullTags | None:
    """The tags whose limit the active runs already fill, when a tick may leave the queued
    runs carrying them unread; None when it may not.

    With `max_concurrent_runs: -1` nothing else bounds a tick's reading of the queue. A
    queued run carrying a tag of the answer gets a failing tag gate in `decide` whatever
    else is in the queue (a waiting run adds to no counter; launches only add), so it
    waits, and leaving it out of the snapshot changes no launch and no other run's
    verdict. With a limit set the tick reads the head of the queue instead (see
    `TickDecision.later_runs_wait_on`); Dagster 1.13's semantics read everything.
    """
    if not skips_runs_held_by_tags(settings):
        return None
    counter = TagCounter(settings.tag_limits, unit="run")
    for run in active:
        counter.add(run.run_id, run.tags)
    return counter.full()


def counted_as_launched(runs: Iterable[RunInfo]) -> list[RunInfo]:
    """Runs launched earlier in this tick, as `tags_full_now` and `pool_summaries_full_now`
    count them: active runs just made STARTING (their pools in full, SEMANTICS 2.7)."""
    return [replace(run, status=RunStatus.STARTING, started_at=None) for run in runs]


def pool_summaries_full_now(
    snapshot: QueueSnapshot, summaries: Mapping[str, PoolSummary]
) -> set[str]:
    """The names in `summaries` ({name: summary}) of the summaries whose runs the pools
    hold now, given the active runs of `snapshot` (its queued runs are ignored); empty
    unless `skips_runs_held_by_tags`.

    As with `tags_full_now`: pool demand only grows during a pass, so a queued run with
    one of these summaries waits on its pools whatever else is in the queue."""
    settings = snapshot.settings
    if not skips_runs_held_by_tags(settings) or not settings.block_op_concurrency_limited_runs:
        return set()
    counter = PoolCounter(snapshot)
    held = set()
    for name, summary in summaries.items():
        probe = RunInfo("", RunStatus.QUEUED, {}, 0, pool_summary=summary)
        if not counter.check(probe)[1]:
            held.add(name)
    return held
