"""In-run step selection: executor `max_concurrent`, in-run tag limits, pool claims.

SEMANTICS 3.5 and 4, with Q8 fixed: a step counts against the run's tag limits only
once its pool claim (if any) succeeded, so a pool-blocked step cannot starve pool-free
steps that share a tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .tags import HOLDERS_CAP, TagCounter
from .types import INT32_MAX, INT32_MIN, PRIORITY_TAG, Gate, TagLimit

MAX_CONCURRENT_PATH = "execution.config.multiprocess.max_concurrent"


@dataclass(frozen=True)
class StepInfo:
    key: str
    # Op tags (for assets, `op_tags`): the only tags in-run limits see.
    tags: Mapping[str, str]
    # Op tag `dagster/priority`; run priority does not reorder steps.
    priority: int
    # Position in the execution plan: the tie-break after priority.
    plan_index: int
    # Slots the step claims of each pool (empty: no pool), all at once (engine.pools.claimable).
    pools: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSelection:
    started: tuple[StepInfo, ...]
    # Step key -> the gate that kept the step waiting in this pass.
    waiting: Mapping[str, Gate] = field(default_factory=dict)


def select_steps(
    ready: Sequence[StepInfo],
    in_flight: Sequence[StepInfo],
    max_concurrent: int,
    tag_limits: Sequence[TagLimit],
    try_claim: Callable[[StepInfo], bool],
) -> StepSelection:
    """Pick the ready steps to start now.

    Ready steps are walked by priority descending, then plan order. The walk stops
    when in-flight plus selected steps reach `max_concurrent` (a resolved positive
    number, see `resolve_max_concurrent`); every step not reached waits on a
    "max_concurrent" gate. A step blocked by an in-run tag limit is skipped (later
    steps are still considered). Only then, for a step with pools, `try_claim` is
    called; a failed claim skips the step without counting it against tag limits.
    `try_claim` is never called for a step that another gate already blocks.
    """
    counter = TagCounter(tag_limits, unit="step")
    for step in in_flight:
        counter.add(step.key, step.tags)

    started: list[StepInfo] = []
    waiting: dict[str, Gate] = {}
    ordered = sorted(ready, key=lambda step: (-step.priority, step.plan_index))
    for index, step in enumerate(ordered):
        running = len(in_flight) + len(started)
        if running >= max_concurrent:
            full = Gate(
                rule="max_concurrent",
                subject="max_concurrent",
                count=running,
                limit=max_concurrent,
                passed=False,
                holders=tuple(s.key for s in (*in_flight, *started))[:HOLDERS_CAP],
                unit="step",
                more_holders=max(0, running - HOLDERS_CAP),
            )
            for rest in ordered[index:]:
                waiting[rest.key] = full
            break
        blocking = counter.blocking(step.tags)
        if blocking is not None:
            waiting[step.key] = blocking
            continue
        if step.pools and not try_claim(step):
            # Count and limit are the claimer's business; the step only knows it waits.
            waiting[step.key] = Gate(
                rule="pool",
                subject=", ".join(step.pools),
                count=0,
                limit=0,
                passed=False,
                kind="step",
                unit="step",
            )
            continue
        counter.add(step.key, step.tags)
        started.append(step)
    return StepSelection(started=tuple(started), waiting=waiting)


def resolve_max_concurrent(
    value: int | None, cpu_count: int, env_override: int | None = None
) -> int:
    """Effective `max_concurrent` of the multiprocess executor (SEMANTICS 1.6, Q10 fixed).

    None or 0 mean the default: `env_override` (DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT)
    when set, else the host CPU count. Negative values are refused instead of making the
    run spin forever.
    """
    if isinstance(value, bool) or (value is not None and not isinstance(value, int)):
        raise ValueError(f"{MAX_CONCURRENT_PATH}: expected an integer, got {value!r}")
    if value is not None and value < 0:
        raise ValueError(f"{MAX_CONCURRENT_PATH}: must be 0 (use the default) or more, got {value}")
    if value:
        return value
    if env_override is not None and env_override > 0:
        return env_override
    return max(1, cpu_count)


def step_priority(tags: Mapping[str, str]) -> int:
    """The op tag `dagster/priority` of a step; 0 when absent.

    Unlike the run queue, a non-integer op priority is an error (the run fails), as in
    the reference; a value outside signed 32 bits is refused too.
    """
    raw = tags.get(PRIORITY_TAG)
    if raw is None:
        return 0
    try:
        priority = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"op tag {PRIORITY_TAG} must be an integer, got {raw!r}") from None
    if not INT32_MIN <= priority <= INT32_MAX:
        raise ValueError(
            f"op tag {PRIORITY_TAG} must be between {INT32_MIN} and {INT32_MAX}, got {priority}"
        )
    return priority
