"""Stuck inside a run: a run in progress none of whose steps runs, while every step ready to
run has waited longer than a threshold (for a pool slot, an in-run limit, ...).

The run passed the queue (perhaps through the slot buffer) and its worker is alive, so the
queue's and monitoring's checks find nothing; the In progress tab, the run page and the
doctor flag it with this rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .doctor.facts import ago
from .pool_words import CLOSED, is_closed, limit_words, plural

# Every ready step of a run waiting this long, none running: the run is stuck.
STUCK_WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class StepWait:
    """A step ready to run that waits: for a slot of `pool`, or (pool None) an in-run limit."""

    step_key: str
    pool: str | None
    since: float | None  # epoch seconds it started waiting; None: unknown


def stuck_in_run(
    running: int,
    waiting: Sequence[StepWait],
    pool_limits: Mapping[str, int | None],
    now: float,
    threshold: float = STUCK_WAIT_SECONDS,
) -> str:
    """Why the run is stuck, as "3 steps waiting on pool api (closed) for 4 min", or ""
    when a step runs, nothing waits, or some waiting step has not waited `threshold` yet."""
    if running or not waiting:
        return ""
    if any(w.since is None or now - w.since < threshold for w in waiting):
        return ""
    groups: dict[str | None, list[float]] = defaultdict(list)
    for w in waiting:
        groups[w.pool].append(w.since or now)
    parts = []
    for pool in sorted(groups, key=lambda p: (p is None, p or "")):
        since = groups[pool]
        steps = plural(len(since), "step")
        waited = ago(now - min(since))
        if pool is None:
            parts.append(f"{steps} waiting on an in-run limit for {waited}")
            continue
        limit = pool_limits.get(pool)
        state = CLOSED if is_closed(limit) else limit_words(limit)
        parts.append(f"{steps} waiting on pool {pool} ({state}) for {waited}")
    return "; ".join(parts)
