"""The run queue's gates and its one greedy pass over the queue (SEMANTICS 2.2-2.8).

`run_queue.decide` (concurrency-ui's semantics) and `dagster_1_13.decide` (Dagster's daemon,
quirk for quirk) both count with `Capacity`, `TagCounter` and `PoolCounter` and walk the
queue in `queue_order`; only how they page and fix up the queue differs.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from .fair_share import Turn, fair_order
from .fair_share import gate as fair_gate
from .tags import HOLDERS_CAP, TagCounter
from .types import (
    ACTIVE_STATUSES,
    Gate,
    Launch,
    PoolState,
    PoolSummary,
    QueueSettings,
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
    walk = Walk.start(snapshot, complete)
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
    consider = walk.consider
    for position, run in enumerate(ordered, start=1):
        order.append(run.run_id)
        verdict = consider(run, position, None if fair_turns is None else fair_turns[run.run_id])
        verdicts[run.run_id] = verdict
        if type(verdict) is Launch:
            launch.append(run.run_id)

    final_gate = walk.capacity.gate()
    return TickDecision(
        launch=tuple(launch),
        verdicts=verdicts,
        order=tuple(order),
        later_runs_wait_on=None if final_gate.passed else final_gate,
    )


class Walk:
    """The counters of one greedy pass and the verdict of each run it considers, in order.

    `greedy_pass` walks the whole queue with one; the start-estimate replay
    (`engine/estimates.py`) keeps its tag and pool counters from one simulated tick to the
    next (removing the runs that end) and considers only the runs whose gates could have
    changed. Both get every verdict from `consider`, so they cannot disagree.
    """

    __slots__ = ("capacity", "complete", "fair", "pools", "tags")

    def __init__(
        self,
        settings: QueueSettings,
        capacity: Capacity,
        tags: TagCounter,
        pools: PoolCounter | None,
        complete: bool = True,
    ) -> None:
        if settings.max_concurrent_runs < -1:
            raise ValueError(
                "max_concurrent_runs must be -1 (no limit) or >= 0, got "
                f"{settings.max_concurrent_runs}"
            )
        self.capacity = capacity
        self.tags = tags
        self.pools = pools
        self.fair = settings.fair_share
        self.complete = complete

    @classmethod
    def start(cls, snapshot: QueueSnapshot, complete: bool = True) -> Walk:
        """A pass over `snapshot`: its active runs counted, nothing accepted yet."""
        settings = snapshot.settings
        tags = TagCounter(settings.tag_limits, unit="run")
        for run in snapshot.active:
            tags.add(run.run_id, run.tags)
        pools = PoolCounter(snapshot) if settings.block_op_concurrency_limited_runs else None
        capacity = Capacity(settings.max_concurrent_runs, len(snapshot.active))
        return cls(settings, capacity, tags, pools, complete)

    def consider(self, run: RunInfo, position: int, turn: Turn | None = None) -> Launch | Wait:
        """The verdict of the next run of the pass (`turn`: its fair-share place, with the
        rule on); a launched run is counted at once."""
        capacity = self.capacity
        capacity_gate = capacity.gate()
        fair = self.fair
        # With fair share, a run held by max_concurrent_runs after later runs of other
        # values went first waits its turn: its fair-share gate is the reason given.
        held: Gate = capacity_gate
        head: tuple[Gate, ...] = (capacity_gate,)
        if fair is not None and turn is not None:
            turn_gate = fair_gate(
                fair, turn, waits=not capacity_gate.passed and turn.overtaken_by > 0
            )
            head = (capacity_gate, turn_gate)
            if not turn_gate.passed:
                held = turn_gate
        if not self.complete and not capacity_gate.passed:
            # Once the queue is full every later run waits on it: in a long queue this
            # skips the tag and pool checks of nearly every run (they were most of a
            # 10,000-run tick's `decide` in the profile), and checking has no side effect.
            return Wait(run.run_id, position, held, head)
        pools = self.pools
        tag_gates = self.tags.check(run.tags)
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
            self.tags.add(run.run_id, run.tags)
            if pools:
                pools.add(run)
            return Launch(run.run_id, position, gates)
        return Wait(run.run_id, position, blocking, gates)


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
        self._allotment = settings.started_run_allotment_seconds
        self._used: dict[str, int] = {}
        self._holders: dict[str, list[str]] = {}
        self._gates: dict[tuple[str, int], Gate] = {}
        # Runs whose demand is counted (active ones allotted, accepted ones), by id: what
        # `remove` takes back.
        self._counted: dict[str, RunInfo] = {}
        # Of those, runs STARTED counted only until their allotment is over (`expire`).
        self._expiring: list[str] = []
        # Grows with every change of a count or a pool state: answers of `check` read at one
        # version hold while it is unchanged.
        self.version = 0
        for key, state in self._states.items():
            self._used[key] = state.pending if self._op else 0
            self._holders[key] = list(dict.fromkeys(state.holders)) if self._op else []
        seen = {key: set(holders) for key, holders in self._holders.items()}
        for run in snapshot.active:
            if not self._allotted(run, snapshot.now, self._allotment):
                continue
            self._counted[run.run_id] = run
            if run.status == RunStatus.STARTED and self._op:
                self._expiring.append(run.run_id)
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

    def room_key(self, summary: PoolSummary) -> tuple[Hashable, frozenset[str]]:
        """(what `check` reads of a run's summary to say whether pools have room for it,
        the pools it reads): runs with equal keys get the same answer from one counter."""
        if self._op:
            needs = summary.root_needs()
            key: Hashable = (
                summary.has_unconstrained_root,
                bool(summary.root_pool_counts),
                tuple(tuple(sorted(need.items())) for need in needs),
            )
            return key, frozenset(pool for need in needs for pool in need)
        pools = summary.all_pools
        return tuple(sorted((pool, summary.run_slots(pool)) for pool in pools)), pools

    def add(self, run: RunInfo) -> None:
        self.version += 1
        self._counted[run.run_id] = run
        for key, demand in self._demand(run).items():
            if key in self._states:
                self._used[key] += demand
                self._holders[key].append(run.run_id)

    # The start-estimate replay (engine/estimates.py) keeps one counter over simulated
    # time; these take back what ends, so that the counts stay those a counter built
    # afresh from the runs still in progress would have.

    def remove(self, run_id: str) -> list[str]:
        """A counted run ended: its demand leaves. Returns the pools whose count fell."""
        run = self._counted.pop(run_id, None)
        if run is None:
            return []
        self.version += 1
        freed = []
        for key, demand in self._demand(run).items():
            if key in self._states:
                self._used[key] -= demand
                holders = self._holders[key]
                if run_id in holders:
                    holders.remove(run_id)
                self._forget_gates(key)
                freed.append(key)
        return freed

    def expire(self, now: float) -> list[str]:
        """Runs STARTED whose allotment (`started_run_allotment_seconds`) is over at `now`
        stop counting, as they would in a counter built at `now`. Returns the pools whose
        count fell."""
        freed: list[str] = []
        for run_id in list(self._expiring):
            run = self._counted.get(run_id)
            if run is None or not self._allotted(run, now, self._allotment):
                self._expiring.remove(run_id)
                freed += self.remove(run_id)
        return freed

    def set_state(self, key: str, state: PoolState) -> None:
        """Pool `key`'s step entries changed (a run's steps left it): at op granularity its
        count follows `pending`."""
        old = self._states[key]
        self.version += 1
        self._states = {**self._states, key: state}
        if self._op:
            self._used[key] += state.pending - old.pending
            gone = set(old.holders) - set(state.holders)
            self._holders[key] = [
                h for h in self._holders[key] if h not in gone or h in self._counted
            ]
        self._forget_gates(key)

    def _forget_gates(self, key: str) -> None:
        for cached in [k for k in self._gates if k[0] == key]:
            del self._gates[cached]

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
