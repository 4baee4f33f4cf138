"""What-if on the attached deployment: the daemon's next iteration under proposed limits.

The same engine call as `predict` (semantics "dagster_1_13"), once on the state as read and
once on the state with the proposal applied as Dagster would apply it (`dagster instance
concurrency set` writes an explicit limit row, a new max_concurrent_runs or buffer changes
the run queue config). Pure; nothing is written to the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..engine.pools import validate_pool_limit
from ..engine.simulate import Simulation, bottlenecks, over_limit
from ..errors import InvalidInput
from .queue import decision
from .state import DagsterState


def simulate(
    state: DagsterState,
    max_concurrent_runs: int | None = None,
    slot_buffer: int | None = None,
    pool_limits: Mapping[str, int | None] | None = None,
) -> Simulation:
    """Raises InvalidInput naming the field when a proposed value is out of range."""
    errors = []
    if max_concurrent_runs is not None and max_concurrent_runs < -1:
        errors.append(("max_concurrent_runs", "-1 (no limit) or a number >= 0"))
    for key, limit in (pool_limits or {}).items():
        if not key:
            errors.append(("pool", "a pool key is required"))
        elif limit is not None:
            try:
                validate_pool_limit(limit)
            except ValueError as exc:
                errors.append((f"pool_limits.{key}", str(exc)))
    if errors:
        from ..engine.types import ConfigError

        raise InvalidInput(ConfigError(path, message) for path, message in errors)
    settings = state.settings
    if max_concurrent_runs is not None:
        settings = replace(settings, max_concurrent_runs=max_concurrent_runs)
    if slot_buffer is not None:
        settings = replace(settings, slot_buffer=slot_buffer)
    after = state.with_pool_limits(pool_limits or {})
    current = decision(state)
    proposed = decision(after, settings)
    return Simulation(
        current=current,
        proposed=proposed,
        over_limit=over_limit(after.snapshot(settings)),
        bottlenecks=bottlenecks(current, proposed),
    )
