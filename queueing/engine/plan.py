"""Execution plans: the steps a run will execute, their dependencies and what they demand.

A plan is computed from a job definition when a run is created and stored with the run
(`plan_to_dict`), so changing code later never changes what an existing run will do or
which pools it waits for (SEMANTICS 2.7).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, cast

from .pools import MAX_POOL_LIMIT, slots_problem
from .types import INT32_MAX, INT32_MIN, PRIORITY_TAG, PoolSummary

PLAN_FORMAT = 1


class PlanError(ValueError):
    """A plan (or stored plan) that cannot be executed; the message names the step."""


@dataclass(frozen=True)
class PlanStep:
    key: str
    op_name: str
    deps: tuple[str, ...]
    # The slots the step claims of each pool (`engine.pools.step_demand`); empty: no pool.
    pools: Mapping[str, int]
    tags: Mapping[str, str]
    priority: int
    # Position in the plan: a topological order, stable by declaration order.
    plan_index: int


@dataclass(frozen=True)
class ExecutionPlan:
    """Steps in `plan_index` order. Construction refuses anything that is not a valid DAG."""

    job_name: str
    steps: tuple[PlanStep, ...]
    _by_key: dict[str, PlanStep] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors = validate_plan(self.steps)
        if errors:
            raise PlanError(f"job '{self.job_name}': " + "; ".join(errors))
        by_key: dict[str, PlanStep] = {}
        for position, step in enumerate(self.steps):
            if step.plan_index != position:
                raise PlanError(
                    f"job '{self.job_name}': step '{step.key}' has plan_index "
                    f"{step.plan_index} at position {position}"
                )
            for dep in step.deps:
                # validate_plan ruled out cycles; this also rules out a non-topological order.
                if dep not in by_key:
                    raise PlanError(
                        f"job '{self.job_name}': step '{step.key}' comes before its dependency '{dep}'"
                    )
            by_key[step.key] = step
        object.__setattr__(self, "_by_key", by_key)

    def step(self, key: str) -> PlanStep:
        """The step with this key; KeyError if the plan has none."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"job '{self.job_name}' has no step '{key}'") from None

    def step_keys(self) -> tuple[str, ...]:
        return tuple(step.key for step in self.steps)

    def roots(self) -> tuple[PlanStep, ...]:
        """Steps with no dependency inside this plan, in plan order."""
        return tuple(step for step in self.steps if not step.deps)

    def topological_order(self) -> tuple[PlanStep, ...]:
        """Every step after all of its dependencies; ties keep declaration order."""
        return self.steps

    @cached_property
    def _dependents(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {step.key: [] for step in self.steps}
        for step in self.steps:
            for dep in step.deps:
                found[dep].append(step.key)
        return {key: tuple(keys) for key, keys in found.items()}

    def dependents(self, key: str) -> tuple[str, ...]:
        """Keys of the steps that depend directly on `key`, in plan order."""
        self.step(key)
        return self._dependents[key]

    def subset(self, keys: Iterable[str]) -> ExecutionPlan:
        """The plan restricted to `keys` (a re-execution subset).

        Dependencies on steps left out are dropped, so a step whose upstream is not
        executed becomes a root, which is what the pool summary must see (SEMANTICS 0).
        """
        wanted = set(keys)
        unknown = sorted(wanted - self._by_key.keys())
        if unknown:
            raise PlanError(f"job '{self.job_name}' has no step(s) {', '.join(map(repr, unknown))}")
        kept = [step for step in self.steps if step.key in wanted]
        return ExecutionPlan(
            job_name=self.job_name,
            steps=tuple(
                replace(step, deps=tuple(d for d in step.deps if d in wanted), plan_index=index)
                for index, step in enumerate(kept)
            ),
        )


def parse_priority_tag(value: Any) -> int:
    """An op's `dagster/priority` tag value as an int; ValueError unless a signed 32-bit integer.

    The reference fails the run when a step priority is not an integer (SEMANTICS 4), so we
    refuse it when the definition is loaded instead.
    """
    if not isinstance(value, str):
        raise ValueError(f"tag '{PRIORITY_TAG}' must be a string, got {type(value).__name__}")
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"tag '{PRIORITY_TAG}' value {value!r} is not an integer") from None
    if not INT32_MIN <= number <= INT32_MAX:
        raise ValueError(
            f"tag '{PRIORITY_TAG}' value {number} is out of range: "
            f"priority must be between {INT32_MIN} and {INT32_MAX}"
        )
    return number


def validate_plan(steps: Sequence[PlanStep]) -> list[str]:
    """Every reason `steps` is not a DAG: duplicate keys, unknown deps, cycles (each named).

    Order of `steps` does not matter here.
    """
    errors: list[str] = []
    by_key: dict[str, PlanStep] = {}
    for step in steps:
        if step.key in by_key:
            errors.append(f"duplicate step key '{step.key}'")
            continue
        by_key[step.key] = step
    for step in by_key.values():
        for dep in step.deps:
            if dep not in by_key:
                errors.append(f"step '{step.key}' depends on unknown step '{dep}'")
    errors.extend(
        "dependency cycle: " + " -> ".join(cycle) for cycle in _find_cycles(list(by_key.values()))
    )
    return errors


def build_plan(job_name: str, steps: Sequence[PlanStep]) -> ExecutionPlan:
    """A plan from steps given in declaration order (their `plan_index` is ignored).

    Steps are put in topological order, keeping declaration order wherever dependencies
    allow, and renumbered. Raises PlanError listing every problem of `validate_plan`.
    """
    errors = validate_plan(steps)
    if errors:
        raise PlanError(f"job '{job_name}': " + "; ".join(errors))
    order = _topological(steps)
    return ExecutionPlan(
        job_name=job_name,
        steps=tuple(replace(steps[i], plan_index=index) for index, i in enumerate(order)),
    )


def _topological(steps: Sequence[PlanStep]) -> list[int]:
    """Kahn's algorithm taking the earliest-declared ready step first; returns indexes.

    Steps inside (or downstream of) a cycle are left out.
    """
    index_of = {step.key: i for i, step in enumerate(steps)}
    waiting_on = [sum(1 for d in set(step.deps) if d in index_of) for step in steps]
    dependents: list[list[int]] = [[] for _ in steps]
    for i, step in enumerate(steps):
        for dep in set(step.deps):
            if dep in index_of:
                dependents[index_of[dep]].append(i)
    ready = [i for i, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in dependents[i]:
            waiting_on[j] -= 1
            if waiting_on[j] == 0:
                heapq.heappush(ready, j)
    return order


def _find_cycles(steps: list[PlanStep]) -> list[list[str]]:
    """One cycle per knot, each written in execution direction and closed: [a, b, a]."""
    cycles: list[list[str]] = []
    remaining = steps
    while True:
        done = set(_topological(remaining))
        left = [step for i, step in enumerate(remaining) if i not in done]
        if not left:
            return cycles
        # Every step left has a dependency that is also left, so walking deps must loop.
        by_key = {step.key: step for step in left}
        path: list[str] = []
        seen: dict[str, int] = {}
        key = left[0].key
        while key not in seen:
            seen[key] = len(path)
            path.append(key)
            key = next(d for d in by_key[key].deps if d in by_key)
        # The walk follows dependencies (downstream to upstream): reverse for reading order.
        loop = path[seen[key] :]
        loop.reverse()
        # Start at the earliest-declared step so the message is stable and readable.
        declared = {step.key: i for i, step in enumerate(left)}
        start = min(range(len(loop)), key=lambda i: declared[loop[i]])
        loop = loop[start:] + loop[:start]
        cycles.append([*loop, loop[0]])
        in_loop = set(loop)
        # Dropping the cycle's steps and their deps on it lets the rest be checked again.
        remaining = [
            replace(step, deps=tuple(d for d in step.deps if d not in in_loop))
            for step in left
            if step.key not in in_loop
        ]


def pool_summary(plan: ExecutionPlan) -> PoolSummary | None:
    """What the run will demand of pools (SEMANTICS 2.7); None if no step uses a pool.

    With weights, `root_pool_counts` counts slots (a root step of `pool_slots=3` counts 3)
    and every pool of a multi-pool root counts; `root_demands` keeps each weighted or
    multi-pool root step's demand, and `max_slots` the largest step demand of each pool
    (what `granularity: run` counts), both only when some demand is not a single slot.
    """
    all_pools = frozenset(key for step in plan.steps for key in step.pools)
    if not all_pools:
        return None
    root_pool_counts: dict[str, int] = {}
    root_demands: list[Mapping[str, int]] = []
    has_unconstrained_root = False
    for step in plan.roots():
        if not step.pools:
            has_unconstrained_root = True
            continue
        root_demands.append(dict(step.pools))
        for key, slots in step.pools.items():
            root_pool_counts[key] = root_pool_counts.get(key, 0) + slots
    max_slots: dict[str, int] = {}
    for step in plan.steps:
        for key, slots in step.pools.items():
            max_slots[key] = max(max_slots.get(key, 0), slots)
    weighted = any(slots != 1 for slots in max_slots.values()) or any(
        len(step.pools) > 1 for step in plan.steps
    )
    return PoolSummary(
        root_pool_counts=root_pool_counts,
        all_pools=all_pools,
        has_unconstrained_root=has_unconstrained_root,
        root_demands=tuple(root_demands) if weighted else (),
        max_slots=max_slots if weighted else {},
    )


def pool_summary_to_dict(summary: PoolSummary) -> dict[str, Any]:
    data: dict[str, Any] = {
        "root_pool_counts": dict(sorted(summary.root_pool_counts.items())),
        "all_pools": sorted(summary.all_pools),
        "has_unconstrained_root": summary.has_unconstrained_root,
    }
    # Written only for weighted or multi-pool runs: other summaries stay as they were.
    if summary.root_demands or summary.max_slots:
        data["root_demands"] = [dict(sorted(d.items())) for d in summary.root_demands]
        data["max_slots"] = dict(sorted(summary.max_slots.items()))
    return data


def pool_summary_from_dict(data: Mapping[str, Any]) -> PoolSummary:
    try:
        counts = data["root_pool_counts"]
        return PoolSummary(
            root_pool_counts={str(k): int(v) for k, v in counts.items()},
            all_pools=frozenset(str(p) for p in data["all_pools"]),
            has_unconstrained_root=bool(data["has_unconstrained_root"]),
            root_demands=tuple(
                {str(k): int(v) for k, v in d.items()} for d in data.get("root_demands", ())
            ),
            max_slots={str(k): int(v) for k, v in data.get("max_slots", {}).items()},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PlanError(f"stored pool summary is malformed: {exc!r}") from None


def plan_to_dict(plan: ExecutionPlan) -> dict[str, Any]:
    """A JSON-safe copy of the plan, as stored on each run."""
    return {
        "format": PLAN_FORMAT,
        "job_name": plan.job_name,
        "steps": [
            {
                "key": step.key,
                "op_name": step.op_name,
                "deps": list(step.deps),
                "pools": dict(step.pools),
                "tags": dict(step.tags),
                "priority": step.priority,
                "plan_index": step.plan_index,
            }
            for step in plan.steps
        ],
    }


def plan_from_dict(data: Mapping[str, Any]) -> ExecutionPlan:
    """The inverse of `plan_to_dict`; PlanError naming the problem if `data` is not a valid plan."""
    if not isinstance(data, Mapping):
        raise PlanError(f"stored plan must be a mapping, got {type(data).__name__}")
    if data.get("format", PLAN_FORMAT) != PLAN_FORMAT:
        raise PlanError(f"stored plan has unknown format {data.get('format')!r}")
    job_name = data.get("job_name")
    raw_steps = data.get("steps")
    if not isinstance(job_name, str) or not isinstance(raw_steps, list):
        raise PlanError("stored plan needs a string 'job_name' and a list 'steps'")
    steps = [_step_from_dict(job_name, i, raw) for i, raw in enumerate(raw_steps)]
    return ExecutionPlan(job_name=job_name, steps=tuple(sorted(steps, key=lambda s: s.plan_index)))


def _step_from_dict(job_name: str, position: int, raw: Any) -> PlanStep:
    where = f"job '{job_name}': stored step {position}"
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where} must be a mapping")
    key, op_name, deps = raw.get("key"), raw.get("op_name"), raw.get("deps")
    tags, priority, plan_index = raw.get("tags"), raw.get("priority"), raw.get("plan_index")
    if not isinstance(key, str) or not isinstance(op_name, str):
        raise PlanError(f"{where}: 'key' and 'op_name' must be strings")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise PlanError(f"{where} ('{key}'): 'deps' must be a list of strings")
    pools = _stored_pools(raw)
    if pools is None:
        raise PlanError(
            f"{where} ('{key}'): 'pools' must map pool keys to slots (1 to {MAX_POOL_LIMIT}), "
            "or 'pool' be a string or null"
        )
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise PlanError(f"{where} ('{key}'): 'tags' must map strings to strings")
    for name, number in (("priority", priority), ("plan_index", plan_index)):
        if not isinstance(number, int) or isinstance(number, bool):
            raise PlanError(f"{where} ('{key}'): '{name}' must be an integer")
    return PlanStep(
        key=key,
        op_name=op_name,
        deps=tuple(deps),
        pools=pools,
        tags=dict(tags),
        priority=cast(int, priority),  # checked just above
        plan_index=cast(int, plan_index),
    )


def _stored_pools(raw: Mapping[str, Any]) -> dict[str, int] | None:
    """A stored step's demand: `pools` (since weights), or the `pool` of plans stored
    before them (one slot); None if malformed."""
    if "pools" not in raw:
        pool = raw.get("pool")
        if pool is None:
            return {}
        return {pool: 1} if isinstance(pool, str) else None
    pools = raw["pools"]
    if not isinstance(pools, Mapping):
        return None
    for key, slots in pools.items():
        if not isinstance(key, str) or slots_problem(slots) is not None:
            return None
    return dict(pools)
