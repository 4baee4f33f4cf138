"""The run queue's gates and its one greedy pass over the queue (SEMANTICS 2.2-2.8).

`run_queue.decide` (concurrency-ui's semantics) and `dagster_1_13.decide` (Dagster's daemon,
quirk for quirk) both count with `Capacity`, `TagCounter` and `PoolCounter` and walk the
queue in `queue_order`; only how they page and fix up the queue differs.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from .fair_share import fair_order
from .fair_share import gate as fair_gate
from .tags import HOLDERS_CAP, TagCounter
from .types import (
    ACTIVE_STATUSES,
    Gate,
    Launch,
    PoolState,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TickDecision,
    Wait,
)


def queue_order(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """Priority descending, then creation order (not enqueue time); stable for ties."""
    return sorted(runs, key=lambda run: (-run.priority, run.created_seq))


def greedy_pass(snapshot: QueueSnapshot, complete: bool = True) -> TickDecision:
    """One pass over the queue in `queue_order`: the body of `run_queue.decide` (which
    documents the gates and `complete`), without pausing the collector."""
    settings = snapshot.settings
    if settings.max_concurrent_runs < -1:
        raise ValueError(
            f"max_concurrent_runs must be -1 (no limit) or >= 0, got {settings.max_concurrent_runs}"
        )
    capacity = Capacity(settings.max_concurrent_runs, len(snapshot.active))
    tags = TagCounter(settings.tag_limits, unit="run")
    for run in snapshot.active:
        tags.add(run.run_id, run.tags)
    pools = PoolCounter(snapshot) if settings.block_op_concurrency_limited_runs else None

    launch: list[str] = []
    verdicts: dict[str, Launch | Wait] = {}
    order: list[str] = []
    fair = settings.fair_share
    fair_turns = None
    if fair is not None:
        placed = fair_order(snapshot.queued, snapshot.active, fair, snapshot.fair_finished)
        ordered, fair_turns = placed.runs, placed.turns
    else:
        ordered = queue_order(snapshot.queued)
    for position, run in enumerate(ordered, start=1):
        order.append(run.run_id)
        capacity_gate = capacity.gate()
        # With fair share, a run held by max_concurrent_runs after later runs of other
        # values went first waits its turn: its fair-share gate is the reason given.
        held: Gate = capacity_gate
        head: tuple[Gate, ...] = (capacity_gate,)
        if fair is not None and fair_turns is not None:
            turn = fair_turns[run.run_id]
            turn_gate = fair_gate(
                fair, turn, waits=not capacity_gate.passed and turn.overtaken_by > 0
            )
            head = (capacity_gate, turn_gate)
            if not turn_gate.passed:
                held = turn_gate
        if not complete and not capacity_gate.passed:
            # Once the queue is full every later run waits on it: in a long queue this
            # skips the tag and pool checks of nearly every run (they were most of a
            # 10,000-run tick's `decide` in the profile), and checking has no side effect.
            verdicts[run.run_id] = Wait(run.run_id, position, held, head)
            continue
        tag_gates = tags.check(run.tags)
        pool_gates, pools_have_room = pools.check(run) if pools else ((), True)
        gates = (*head, *tag_gates, *pool_gates)

        blocking: Gate | None = None
        if not capacity_gate.passed:
            blocking = held
        else:
            for gate in tag_gates:
                if not gate.passed:
                    blocking = gate
                    break
            if blocking is None and not pools_have_room:
                blocking = next(gate for gate in pool_gates if not gate.passed)

        if blocking is None:
            capacity.accept()
            tags.add(run.run_id, run.tags)
            if pools:
                pools.add(run)
            launch.append(run.run_id)
            verdicts[run.run_id] = Launch(run.run_id, position, gates)
        else:
            verdicts[run.run_id] = Wait(run.run_id, position, blocking, gates)

    final_gate = capacity.gate()
    return TickDecision(
        launch=tuple(launch),
        verdicts=verdicts,
        order=tuple(order),
        later_runs_wait_on=None if final_gate.passed else final_gate,
    )


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: building or deciding a long queue allocates tens of
    thousands of acyclic objects, and its passes over them cost a fifth of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Capacity:
    """`max_concurrent_runs`: active runs plus runs accepted so far this tick."""

    def __init__(self, limit: int, active: int) -> None:
        self._limit = limit
        self._count = active
        self._gate: Gate | None = None

    def accept(self) -> None:
        self._count += 1

    def gate(self) -> Gate:
        # Once the queue is full every later run gets the same gate: build it once.
        if self._gate is None or self._gate.count != self._count:
            self._gate = Gate(
                rule="max_concurrent_runs",
                subject="max_concurrent_runs",
                count=self._count,
                limit=self._limit,
                passed=self._limit == -1 or self._count < self._limit,
            )
        return self._gate


class PoolCounter:
    """Pool demand of active and accepted runs against pool limits (SEMANTICS 2.7).

    Op granularity counts the slots of root steps: step entries of the pool (holding or
    waiting, each its weight), root steps of runs accepted this tick, and root steps of
    runs that are STARTING or STARTED less than `started_run_allotment_seconds` ago (they
    have probably not registered their steps yet); a run may start when one of its root
    steps fits in every pool it names. Run granularity counts, per pool used anywhere in
    a run, the largest weight of one of its steps (1 without weights), for every active
    run and every accepted one. Pools absent from the snapshot have no limit row and never
    block. Without weights and multi-pool steps every demand is one slot of one pool,
    which is Dagster's rule exactly.
    """

    def __init__(self, snapshot: QueueSnapshot) -> None:
        settings = snapshot.settings
        self._op = settings.granularity == "op"
        self._buffer = settings.slot_buffer
        self._states: Mapping[str, PoolState] = snapshot.pools
        self._used: dict[str, int] = {}
        self._holders: dict[str, list[str]] = {}
        self._gates: dict[tuple[str, int], Gate] = {}
        for key, state in self._states.items():
            self._used[key] = state.pending if self._op else 0
            self._holders[key] = list(dict.fromkeys(state.holders)) if self._op else []
        seen = {key: set(holders) for key, holders in self._holders.items()}
        for run in snapshot.active:
            if not self._allotted(run, snapshot.now, settings.started_run_allotment_seconds):
                continue
            for key, demand in self._demand(run).items():
                if key in self._states:
                    self._used[key] += demand
                    if run.run_id not in seen[key]:
                        seen[key].add(run.run_id)
                        self._holders[key].append(run.run_id)

    def _allotted(self, run: RunInfo, now: float, allotment_seconds: float) -> bool:
        if run.pool_summary is None or run.status not in ACTIVE_STATUSES:
            return False
        if not self._op or run.status == RunStatus.STARTING:
            return True
        # As the reference: a STARTED run without a start time gets no allotment.
        return (
            run.status == RunStatus.STARTED
            and run.started_at is not None
            and now - run.started_at < allotment_seconds
        )

    def _demand(self, run: RunInfo) -> Mapping[str, int]:
        summary = run.pool_summary
        if summary is None:
            return {}
        if self._op:
            return summary.root_pool_counts
        return {key: summary.run_slots(key) for key in summary.all_pools}

    def _fits(self, key: str, need: int) -> bool:
        return self._used[key] + need <= self._states[key].limit + self._buffer

    def check(self, run: RunInfo) -> tuple[list[Gate], bool]:
        """(gates of the pools evaluated, whether the run may start as far as pools go)."""
        summary = run.pool_summary
        if summary is None:
            return [], True
        states = self._states
        if self._op:
            roots = summary.root_pool_counts
            # A root step that can start at once makes the run worth launching.
            if summary.has_unconstrained_root or not roots:
                return [], True
            needs = summary.root_needs()
            largest: dict[str, int] = {}
            for need in needs:
                if not any(key in states for key in need):
                    return [], True
                for key, slots in need.items():
                    largest[key] = max(largest.get(key, 0), slots)
            # A gate passes when every root step's slots of its pool fit: so when the run
            # may not start, one gate at least has failed.
            gates = [
                self._gate(key, largest[key])
                for key in (roots if len(roots) == 1 else sorted(roots))
                if key in states
            ]
            room = any(
                all(self._fits(key, slots) for key, slots in need.items() if key in states)
                for need in needs
            )
            return gates, room
        pools = summary.all_pools
        gates = [
            self._gate(key, summary.run_slots(key))
            for key in (pools if len(pools) == 1 else sorted(pools))
            if key in states
        ]
        for gate in gates:
            if not gate.passed:
                return gates, False
        return gates, True

    def add(self, run: RunInfo) -> None:
        for key, demand in self._demand(run).items():
            if key in self._states:
                self._used[key] += demand
                self._holders[key].append(run.run_id)

    def _gate(self, key: str, need: int) -> Gate:
        used = self._used[key]
        cached = self._gates.get((key, need))
        # Demands are >= 1, so an unchanged count means unchanged holders too.
        if cached is not None and cached.count == used:
            return cached
        holders = self._holders[key]
        limit = self._states[key].limit + self._buffer
        gate = Gate(
            rule="pool",
            subject=key,
            count=used,
            limit=limit,
            passed=used + need <= limit,
            holders=tuple(holders[:HOLDERS_CAP]),
            kind="op" if self._op else "run",
            buffer=self._buffer,
            more_holders=max(0, len(holders) - HOLDERS_CAP),
            need=need,
        )
        self._gates[(key, need)] = gate
        return gate
