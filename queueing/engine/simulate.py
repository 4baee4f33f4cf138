"""What-if: what the next tick would launch under a proposed change of limits.

SEMANTICS 7, tooling item 2. The prediction and the tick call the same `decide`, on the
snapshot the tick itself would build: before it evaluates, a tick gives the pools named
by queued runs their default limit (Q3), and a configuration change first moves every
pool that follows the default (Q7). `next_tick_snapshot` replays exactly those steps, so
"no change" predicts the next real tick, launch for launch.

A change never interrupts anything: runs already in progress above a lowered limit keep
running and are reported in `Simulation.over_limit`; nothing new launches past the limit.

concurrency-ui's own rules are predicted too: fair share orders the queue with the same
memory of the backlog the tick reads (`QueueState.fair_finished`, the proposal's own when it
changes the key), a distinct-values cap is a tag limit like any other, and queue-age bounds
(`max_queued_seconds`) name the queued runs run monitoring would cancel at its next poll
(`Simulation.overdue`): the launches predicted are the next tick's, which may come first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .pools import PoolRow, PoolUsage, pool_states, rows_after_default_change, rows_at_tick
from .run_queue import decide
from .staleness import QueuedAge, QueueTimeout, StaleRules, overdue
from .tags import HOLDERS_CAP, TagCounter
from .types import Gate, Launch, QueueSettings, QueueSnapshot, RunInfo, TickDecision, Wait


@dataclass(frozen=True)
class QueueState:
    """Everything the next tick reads, as stored now (before it applies pool defaults)."""

    settings: QueueSettings
    default_pool_limit: int | None
    queued: Sequence[RunInfo]
    active: Sequence[RunInfo]
    pool_rows: Mapping[str, PoolRow]
    # Keyed by pool, including pools that have entries but no row.
    pool_usage: Mapping[str, PoolUsage]
    now: float
    # Fair share's memory of the backlog for the current rule (QueueSnapshot.fair_finished).
    fair_finished: Mapping[str | None, int] = field(default_factory=dict)
    # Queue-age bounds now, and the ages of the queued runs that could be past a bound.
    stale_rules: StaleRules = field(default_factory=StaleRules)
    ages: Sequence[QueuedAge] = ()


@dataclass(frozen=True)
class Proposal:
    """A change to simulate. Unset fields keep the current value.

    `pool_limits` sets explicit limits; a value of None removes the pool's limit (its row),
    after which the tick may give it the default again, as `pools.delete_pool` would.
    """

    settings: QueueSettings | None = None
    change_default_pool_limit: bool = False
    default_pool_limit: int | None = None
    pool_limits: Mapping[str, int | None] = field(default_factory=dict)
    # Fair share's memory for the proposed rule (None: the state's, same key).
    fair_finished: Mapping[str | None, int] | None = None
    # Proposed queue-age bounds (None: unchanged).
    stale_rules: StaleRules | None = None


@dataclass(frozen=True)
class OverLimit:
    """A limit that in-progress runs (or their steps) already exceed under the proposal."""

    rule: str  # "max_concurrent_runs" | "tag" | "pool"
    subject: str
    count: int
    limit: int
    holders: tuple[str, ...] = ()  # run ids, capped at HOLDERS_CAP


@dataclass(frozen=True)
class Bottleneck:
    """A rule and how many queued runs it holds back now and under the proposal."""

    rule: str
    subject: str
    waiting_now: int
    waiting_after: int


@dataclass(frozen=True)
class ReasonChange:
    """A queued run the proposal treats differently: it starts today and would wait, waits
    today and would start, or waits on another rule (None: the next tick starts it)."""

    run_id: str
    today: Gate | None
    proposed: Gate | None


@dataclass(frozen=True)
class Simulation:
    current: TickDecision
    proposed: TickDecision
    over_limit: tuple[OverLimit, ...] = ()
    bottlenecks: tuple[Bottleneck, ...] = ()
    # Queued runs past their queue-age bound, which run monitoring cancels: now, and under
    # the proposal.
    overdue_now: tuple[QueueTimeout, ...] = ()
    overdue: tuple[QueueTimeout, ...] = ()

    @property
    def changes(self) -> tuple[ReasonChange, ...]:
        """Every queued run whose verdict differs, in the proposal's queue order. A wait on
        the same rule and subject with other numbers is no change (the wait history's rule
        is the same, see services.run_queue.gate_key)."""
        found = []
        for run_id in self.proposed.order:
            today = _blocking(self.current.verdicts.get(run_id))
            after = _blocking(self.proposed.verdicts.get(run_id))
            if _rule_of(today) != _rule_of(after):
                found.append(ReasonChange(run_id, today, after))
        return tuple(found)

    @property
    def launch(self) -> tuple[str, ...]:
        """Run ids the next tick launches under the proposal, in queue order."""
        return self.proposed.launch

    @property
    def newly_launched(self) -> tuple[str, ...]:
        current = set(self.current.launch)
        return tuple(r for r in self.proposed.launch if r not in current)

    @property
    def no_longer_launched(self) -> tuple[str, ...]:
        proposed = set(self.proposed.launch)
        return tuple(r for r in self.current.launch if r not in proposed)

    @property
    def newly_overdue(self) -> tuple[QueueTimeout, ...]:
        """Runs the proposed bounds cancel that the current ones do not (yet)."""
        now = {t.run_id for t in self.overdue_now}
        return tuple(t for t in self.overdue if t.run_id not in now)


def _blocking(verdict: Launch | Wait | None) -> Gate | None:
    return verdict.blocking if isinstance(verdict, Wait) else None


def _rule_of(gate: Gate | None) -> tuple[str, str] | None:
    return None if gate is None else (gate.rule, gate.subject)


def demanded_pools(runs: Iterable[RunInfo]) -> set[str]:
    """Pools named anywhere in the plans of `runs` (what the tick initialises defaults for)."""
    keys: set[str] = set()
    for run in runs:
        if run.pool_summary is not None:
            keys |= run.pool_summary.all_pools
    return keys


def next_tick_snapshot(state: QueueState, proposal: Proposal | None = None) -> QueueSnapshot:
    """The snapshot the next tick evaluates, after `proposal` (if any) has been applied."""
    proposal = proposal or Proposal()
    rows = dict(state.pool_rows)
    default = state.default_pool_limit
    if proposal.change_default_pool_limit and proposal.default_pool_limit != default:
        # As services.config does after an edit of the default.
        default = proposal.default_pool_limit
        rows = rows_after_default_change(rows, default)
    for key, limit in proposal.pool_limits.items():
        if limit is None:
            rows.pop(key, None)
        else:
            rows[key] = PoolRow(key, limit, follows_default=False)
    if default is not None:
        # As the tick does before it evaluates (services.run_queue.evaluate).
        rows = rows_at_tick(rows, default, demanded_pools(state.queued))
    return QueueSnapshot(
        settings=proposal.settings or state.settings,
        queued=state.queued,
        active=state.active,
        pools=pool_states(rows, state.pool_usage),
        now=state.now,
        fair_finished=(
            state.fair_finished if proposal.fair_finished is None else proposal.fair_finished
        ),
    )


def simulate(state: QueueState, proposal: Proposal) -> Simulation:
    """Decide the next tick with and without `proposal` and compare the two.

    Raises ValueError when the proposed `max_concurrent_runs` is below -1 (as `decide`).
    """
    current = decide(next_tick_snapshot(state))
    after = next_tick_snapshot(state, proposal)
    proposed = decide(after)
    stale = state.stale_rules if proposal.stale_rules is None else proposal.stale_rules
    return Simulation(
        current=current,
        proposed=proposed,
        over_limit=over_limit(after),
        bottlenecks=bottlenecks(current, proposed),
        overdue_now=overdue(state.stale_rules, state.ages, state.now),
        overdue=overdue(stale, state.ages, state.now),
    )


def over_limit(snapshot: QueueSnapshot) -> tuple[OverLimit, ...]:
    """Limits that the in-progress runs of `snapshot` already exceed (they keep running)."""
    found: list[OverLimit] = []
    settings = snapshot.settings
    active = list(snapshot.active)
    limit = settings.max_concurrent_runs
    if limit >= 0 and len(active) > limit:
        found.append(
            OverLimit(
                "max_concurrent_runs",
                "max_concurrent_runs",
                len(active),
                limit,
                tuple(r.run_id for r in active[:HOLDERS_CAP]),
            )
        )
    tags = TagCounter(settings.tag_limits, unit="run")
    for run in active:
        tags.add(run.run_id, run.tags)
    seen: set[tuple[str, int]] = set()
    for run in active:
        for gate in tags.check(run.tags):
            if gate.count > gate.limit and (gate.subject, gate.limit) not in seen:
                seen.add((gate.subject, gate.limit))
                found.append(OverLimit("tag", gate.subject, gate.count, gate.limit, gate.holders))
    for key, pool in sorted(snapshot.pools.items()):
        # Slots are claimed step by step inside runs; the queue's buffer does not apply.
        if len(pool.holders) > pool.limit:
            found.append(
                OverLimit(
                    "pool",
                    key,
                    len(pool.holders),
                    pool.limit,
                    tuple(dict.fromkeys(pool.holders))[:HOLDERS_CAP],
                )
            )
    return tuple(found)


def blocking_counts(decision: TickDecision) -> Counter[tuple[str, str]]:
    """How many queued runs each (rule, subject) holds back."""
    counts: Counter[tuple[str, str]] = Counter()
    for verdict in decision.verdicts.values():
        if isinstance(verdict, Wait):
            counts[(verdict.blocking.rule, verdict.blocking.subject)] += 1
    return counts


def bottlenecks(current: TickDecision, proposed: TickDecision) -> tuple[Bottleneck, ...]:
    """Every rule that holds runs back before or after, most runs held after first."""
    now, after = blocking_counts(current), blocking_counts(proposed)
    keys = set(now) | set(after)
    rows = [
        Bottleneck(rule, subject, now[(rule, subject)], after[(rule, subject)])
        for rule, subject in keys
    ]
    rows.sort(key=lambda b: (-b.waiting_after, -b.waiting_now, b.rule, b.subject))
    return tuple(rows)
