"""What one run-queue tick launches, and why every other queued run waits.

SEMANTICS 2.2-2.8, with Q2 (a run counts against limits only once it passed every
gate) and Q4 (one greedy pass over the whole sorted queue) fixed. The daemon tick and
the "why is this run queued?" explainer both call `decide`, so they cannot disagree.
"""

from __future__ import annotations

from . import dagster_1_13
from .gates import cyclic_gc_paused, greedy_pass, queue_order
from .types import DAGSTER_1_13, Launch, QueueSnapshot, TickDecision, Wait

__all__ = ["decide", "explain", "queue_order"]


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
