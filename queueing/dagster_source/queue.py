"""The attached deployment's queue through the engine's "dagster_1_13" semantics (pure)."""

from __future__ import annotations

from dataclasses import replace

from ..engine.run_queue import decide
from ..engine.types import QueueSettings, TickDecision
from .state import DagsterState


def decision(state: DagsterState, settings: QueueSettings | None = None) -> TickDecision:
    """Every queued run's verdict for the daemon's next iteration."""
    return decide(state.snapshot(settings))


def predict(state: DagsterState, page_size: int | None = None) -> tuple[str, ...]:
    """Run ids the daemon's next iteration launches, in its launch order. Empty when the
    deployment has no queue (another run coordinator) or its coordinator cannot be built."""
    if not state.deployment.queued_coordinator or state.deployment.coordinator_error:
        return ()
    settings = state.settings
    if page_size is not None:
        settings = replace(settings, run_queue_page_size=page_size)
    return decision(state, settings).launch
