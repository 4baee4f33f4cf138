"""Dagster 1.13's run-queue daemon, reproduced quirk for quirk (semantics "dagster_1_13").

`run_queue.decide` hands a snapshot here when `settings.semantics` is "dagster_1_13". The
answer is what one iteration of Dagster's QueuedRunCoordinatorDaemon launches, in its
order, and for every queued run why; `tests/dagster` checks it against the daemon itself on
real Dagster instances. Pure and clock-free like the rest of the engine: `snapshot.now`
stands for the daemon's clock (the 5-second allotment of freshly STARTED runs).

What the snapshot means here (the Dagster source builds it so):
- `queued` with `created_seq` = the run's storage id (the daemon reads oldest first) and
  `priority` = `int(dagster/priority)`, 0 when that fails (as the daemon parses it);
- `pools` = the pools that had a limit row when the iteration began (the daemon reads that
  set before it initialises default limits, Q3), each with its slot count and step entries;
- `settings.default_pool_limit` and `settings.run_queue_page_size` as the daemon has them.

The quirks that change an outcome, as SEMANTICS 8 numbers them:
- Q1: a `concurrency.runs.max_concurrent_runs` below -1 launches nothing;
- Q2: a run's tags are counted before its pool gate, so a pool-blocked run still uses the
  tag budget of the runs behind it (Dagster issue 25743);
- Q3: a pool whose default limit has no row yet is unlimited for this iteration (Dagster
  issues 25109, 31936); a `default_limit` of 0 is never written by the daemon at all (it
  tests the default for truth), so such pools never hold a run in the queue;
- Q4: the queue is read in pages and cut to the free places after each page; a run cut
  early is not reconsidered when later pages knock out accepted runs;
- Q6: `granularity: run` with blocking disabled enforces pools nowhere.
Each verdict such a quirk decides (or shapes) carries a note in words, naming the quirk and
the Dagster issue and saying what a fixed version (semantics "concurrency_ui") would do.

Not reproducible from outside the daemon: its in-memory code-location back-off (runs of a
location whose code server just failed are skipped for `user_code_failure_retry_delay`),
and the fail-open of a tick whose pool storage read raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .gates import Capacity, PoolCounter, cyclic_gc_paused, greedy_pass, queue_order
from .tags import TagCounter
from .types import (
    CONCURRENCY_UI,
    Gate,
    Launch,
    PoolState,
    QueueSnapshot,
    RunInfo,
    TickDecision,
    Wait,
)

ISSUE_Q2 = "Dagster issue 25743"
ISSUE_Q3 = "Dagster issues 25109 and 31936"


@dataclass
class _Facts:
    """What the daemon pass saw, for the notes."""

    # run id -> runs counted against its blocking tag limit although a pool held them (Q2)
    phantom_holders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # run id -> pools it passed only because they had no limit row yet (Q3)
    unrowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # run id -> the page after which it was cut and never reconsidered (Q4)
    cut_at_page: dict[str, int] = field(default_factory=dict)
    free: int = 0


def decide(snapshot: QueueSnapshot) -> TickDecision:
    """What the next daemon iteration launches (in launch order) and why each run waits."""
    with cyclic_gc_paused():
        decision, facts = _daemon_iteration(snapshot)
        return _with_notes(snapshot, decision, facts, _fixed_decision(snapshot))


def _capacity_closed_gate(snapshot: QueueSnapshot) -> Gate:
    limit = snapshot.settings.max_concurrent_runs
    return Gate(
        rule="max_concurrent_runs",
        subject="max_concurrent_runs",
        count=len(snapshot.active),
        # Q1: below -1 the daemon behaves as 0; say so in the gate's own words.
        limit=0 if limit < -1 else limit,
        passed=False,
    )


def _daemon_iteration(snapshot: QueueSnapshot) -> tuple[TickDecision, _Facts]:
    settings = snapshot.settings
    limit = settings.max_concurrent_runs
    facts = _Facts(free=limit - len(snapshot.active))
    ordered = queue_order(snapshot.queued)
    order = tuple(run.run_id for run in ordered)
    positions = {run_id: i for i, run_id in enumerate(order, start=1)}
    if limit != -1 and facts.free <= 0:
        # The daemon returns before reading a single queued run.
        gate = _capacity_closed_gate(snapshot)
        closed: dict[str, Launch | Wait] = {
            r.run_id: Wait(r.run_id, positions[r.run_id], gate, (gate,)) for r in ordered
        }
        return TickDecision((), closed, order, later_runs_wait_on=gate), facts

    by_storage = sorted(snapshot.queued, key=lambda run: run.created_seq)
    page_size = max(1, settings.run_queue_page_size)
    pages = [by_storage[i : i + page_size] for i in range(0, len(by_storage), page_size)]
    verdicts: dict[str, Launch | Wait] = {}
    batch: list[RunInfo] = []
    for number, page in enumerate(pages, start=1):
        # The daemon re-sorts what it kept plus the new page (a stable sort by priority over
        # storage order, which is queue_order) and filters it with fresh counters.
        batch = queue_order([*batch, *page])
        kept, cut = _filter(snapshot, batch, verdicts, facts)
        if number < len(pages):
            for run in cut:
                facts.cut_at_page[run.run_id] = number
        batch = kept
    launch = tuple(run.run_id for run in batch)
    verdicts = {
        run_id: replace(verdict, position=positions[run_id]) for run_id, verdict in verdicts.items()
    }
    return TickDecision(launch, verdicts, order), facts


def _filter(
    snapshot: QueueSnapshot,
    batch: Sequence[RunInfo],
    verdicts: dict[str, Launch | Wait],
    facts: _Facts,
) -> tuple[list[RunInfo], list[RunInfo]]:
    """One pass of the daemon over `batch`: (runs kept, runs cut to the free places)."""
    settings = snapshot.settings
    capacity = Capacity(settings.max_concurrent_runs, len(snapshot.active))
    tags = TagCounter(settings.tag_limits, unit="run")
    for run in snapshot.active:
        tags.add(run.run_id, run.tags)
    pools = PoolCounter(snapshot) if settings.block_op_concurrency_limited_runs else None
    counted_then_held: set[str] = set()
    kept: list[RunInfo] = []
    cut: list[RunInfo] = []
    for run in batch:
        run_id = run.run_id
        capacity_gate = capacity.gate()
        if not capacity_gate.passed:
            # The daemon filters it too and then cuts the batch to the free places; only
            # runs after the last kept one are cut, whatever their tags or pools.
            verdicts[run_id] = Wait(run_id, 0, capacity_gate, (capacity_gate,))
            cut.append(run)
            continue
        tag_gates = tags.check(run.tags)
        blocked = next((gate for gate in tag_gates if not gate.passed), None)
        if blocked is not None:
            verdicts[run_id] = Wait(run_id, 0, blocked, (capacity_gate, *tag_gates))
            phantoms = tuple(h for h in blocked.holders if h in counted_then_held)
            if phantoms:
                facts.phantom_holders[run_id] = phantoms
            else:
                facts.phantom_holders.pop(run_id, None)
            continue
        # Q2: the daemon counts the run's tags before it asks the pools.
        tags.add(run_id, run.tags)
        pool_gates, has_room = pools.check(run) if pools else ([], True)
        gates = (capacity_gate, *tag_gates, *pool_gates)
        if not has_room:
            counted_then_held.add(run_id)
            blocking = next(gate for gate in pool_gates if not gate.passed)
            verdicts[run_id] = Wait(run_id, 0, blocking, gates)
            continue
        capacity.accept()
        if pools:
            pools.add(run)
            unrowed = _unrowed_pools(snapshot, run)
            if unrowed:
                facts.unrowed[run_id] = unrowed
        verdicts[run_id] = Launch(run_id, 0, gates)
        kept.append(run)
    return kept, cut


def _pools_evaluated(snapshot: QueueSnapshot, run: RunInfo) -> Iterable[str]:
    summary = run.pool_summary
    if summary is None:
        return ()
    if snapshot.settings.granularity == "op":
        if summary.has_unconstrained_root:
            return ()
        return summary.root_pool_counts
    return summary.all_pools


def _unrowed_pools(snapshot: QueueSnapshot, run: RunInfo) -> tuple[str, ...]:
    if snapshot.settings.default_pool_limit is None:
        return ()
    return tuple(sorted(k for k in _pools_evaluated(snapshot, run) if k not in snapshot.pools))


def fixed_snapshot(snapshot: QueueSnapshot) -> QueueSnapshot:
    """The same state read by concurrency-ui's rules: defaults written before evaluating."""
    settings = snapshot.settings
    pools = dict(snapshot.pools)
    default = settings.default_pool_limit
    if default is not None:
        for run in snapshot.queued:
            if run.pool_summary is not None:
                for key in run.pool_summary.all_pools:
                    pools.setdefault(key, PoolState(key=key, limit=default))
    return replace(snapshot, settings=replace(settings, semantics=CONCURRENCY_UI), pools=pools)


def _fixed_decision(snapshot: QueueSnapshot) -> TickDecision | None:
    if snapshot.settings.max_concurrent_runs < -1:
        return None  # concurrency-ui refuses the configuration (Q1)
    return greedy_pass(fixed_snapshot(snapshot))


def _outcome(faithful: Launch | Wait, fixed: Launch | Wait | None) -> str:
    if fixed is None:
        return "concurrency-ui refuses this configuration"
    same = isinstance(fixed, type(faithful))
    if isinstance(fixed, Launch):
        return "a fixed version would launch it" + (" too" if same else "")
    return f"a fixed version would hold it{' too' if same else ''} ({fixed.blocking.message})"


def _short(run_ids: Iterable[str]) -> str:
    return ", ".join(r[:8] for r in run_ids)


def _with_notes(
    snapshot: QueueSnapshot,
    decision: TickDecision,
    facts: _Facts,
    fixed: TickDecision | None,
) -> TickDecision:
    settings = snapshot.settings
    limit = settings.max_concurrent_runs
    run_granularity_unenforced = (
        settings.granularity == "run" and not settings.block_op_concurrency_limited_runs
    )
    queued = {run.run_id: run for run in snapshot.queued}
    verdicts: dict[str, Launch | Wait] = {}
    for run_id, verdict in decision.verdicts.items():
        other = fixed.verdicts.get(run_id) if fixed is not None else None
        outcome = _outcome(verdict, other)
        notes: list[str] = []
        if limit < -1:
            notes.append(
                f"Dagster 1.13 accepts concurrency.runs.max_concurrent_runs: {limit} and its "
                "daemon then launches nothing, as with 0 (quirk Q1 of SEMANTICS.md; no Dagster "
                f"issue on file); {outcome}"
            )
        if isinstance(verdict, Wait) and run_id in facts.phantom_holders:
            notes.append(
                f"Dagster's daemon counts pool-blocked run(s) "
                f"{_short(facts.phantom_holders[run_id])} against tag {verdict.blocking.subject}: "
                f"it adds a run's tags before checking its pools (see {ISSUE_Q2}); {outcome}"
            )
        if isinstance(verdict, Launch) and run_id in facts.unrowed:
            keys = facts.unrowed[run_id]
            default = settings.default_pool_limit
            if default:
                notes.append(
                    f"Pool {', '.join(keys)} has no limit row yet: Dagster's daemon treats it "
                    f"as unlimited in this iteration and writes its default_limit {default} "
                    f"only afterwards (see {ISSUE_Q3}); {outcome}"
                )
            else:
                notes.append(
                    f"Pool {', '.join(keys)} has no limit row and default_limit is 0, which "
                    "Dagster's daemon never writes (it tests the default for truth), so the "
                    "pool does not hold the run in the queue; its steps then wait for a slot "
                    f"that never comes (not in Dagster's tracker as far as we know; a "
                    f"variant of {ISSUE_Q3}); {outcome}"
                )
        if isinstance(verdict, Wait) and run_id in facts.cut_at_page:
            notes.append(
                f"Dagster's daemon reads the queue {settings.run_queue_page_size} runs at a "
                f"time and cut this run after page {facts.cut_at_page[run_id]} to the "
                f"{facts.free} free place(s); it does not reconsider it when later pages change "
                f"which runs are kept (quirk Q4 of SEMANTICS.md); {outcome}"
            )
        run = queued.get(run_id)
        if run_granularity_unenforced and run is not None and run.pool_summary is not None:
            notes.append(
                f"granularity run with block_op_concurrency_limited_runs disabled: Dagster "
                f"enforces pool {', '.join(sorted(run.pool_summary.all_pools))} nowhere, "
                "neither in the queue nor when steps start (quirk Q6 of SEMANTICS.md); "
                "concurrency-ui refuses this configuration"
            )
        if not notes and other is not None and not isinstance(other, type(verdict)):
            notes.append(
                "Dagster's quirks change which runs ahead of this one launch (see their "
                f"notes); {outcome}"
            )
        verdicts[run_id] = replace(verdict, notes=tuple(notes)) if notes else verdict
    return replace(decision, verdicts=verdicts)
