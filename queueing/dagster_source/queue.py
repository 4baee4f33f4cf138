"""The attached deployment's queue through the engine's "dagster_1_13" semantics (pure)."""

from __future__ import annotations

from dataclasses import replace

from ..engine.run_queue import decide
from ..engine.types import QueueSettings, TickDecision, Wait
from .state import DagsterState


def decision(state: DagsterState, settings: QueueSettings | None = None) -> TickDecision:
    """Every queued run's verdict for the daemon's next iteration."""
    settings = settings or state.settings
    tick = decide(state.snapshot(settings))
    if settings.default_pool_limit is not None:
        return tick
    # Rows written by a default_limit that dagster.yaml no longer has: the daemon deletes
    # them in this iteration, yet counts the 0 slots left (state.pool_states). The engine
    # only sees a pool of 0 slots, so the note is added here.
    orphaned = {key for key, pool in state.pools.items() if pool.has_row and pool.from_default}
    verdicts = dict(tick.verdicts)
    for run_id, verdict in tick.verdicts.items():
        if isinstance(verdict, Wait) and verdict.blocking.rule == "pool":
            key = verdict.blocking.subject
            if key in orphaned:
                verdicts[run_id] = replace(verdict, notes=(*verdict.notes, _orphaned_note(key)))
    return replace(tick, verdicts=verdicts)


def _orphaned_note(key: str) -> str:
    return (
        f"Pool {key}'s limit row was written by a default_limit that dagster.yaml no longer "
        "has: Dagster's daemon deletes the row in this iteration but still counts the pool's "
        "0 remaining slots, so the pool holds the run once more and is unlimited from the next "
        "iteration on (not in Dagster's tracker as far as we know; a variant of Dagster issues "
        "25109 and 31936); a fixed version would not hold it on this pool"
    )


def predict(state: DagsterState, page_size: int | None = None) -> tuple[str, ...]:
    """Run ids the daemon's next iteration launches, in its launch order. Empty when the
    deployment has no queue (another run coordinator) or its coordinator cannot be built."""
    if not state.deployment.queued_coordinator or state.deployment.coordinator_error:
        return ()
    settings = state.settings
    if page_size is not None:
        settings = replace(settings, run_queue_page_size=page_size)
    return decision(state, settings).launch
