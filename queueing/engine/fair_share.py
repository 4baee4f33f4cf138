"""Fair share between the values of one tag (concurrency-ui's own rule, off by default).

`concurrency_ui.fair_share: {key: team, weights: {growth: 2}}` interleaves, within one
priority level, the queued runs of different values of `key` by weight, so a 500-run
backfill of one team does not hold another team's two runs for hours. Priorities still
dominate, limits still hold (the greedy pass and its gates are unchanged: only the order in
which runs are considered changes). Without the rule the order is Dagster's.

The interleaving is **stride scheduling** (weighted fair queuing where every run costs one
turn): a value `v` with weight `w` that has had `a` turns already gives its queued runs, in
their Dagster order, the virtual times (a + 1) / w, (a + 2) / w, ...; within a priority the
queue is sorted by virtual time, ties by creation. Chosen over deficit round robin because
runs all cost one turn (DRR's quantum exists for packets of different sizes, and with unit
costs DRR is this same interleaving), and because it is a sort key: every run gets a
fixed place in one O(n log n) sort, so the tick, the explanation, the simulator and the
start estimate compute the same order from the same snapshot.

The turns a value already had are its runs in progress plus its runs that started since the
oldest queued run was enqueued and have ended (`QueueSnapshot.fair_finished`, counted by the
service): the memory of the current backlog. Without it, with one free slot at a time, the
oldest value would win every tie on age and starve the others.

Runs without the tag form one group of their own (`NO_VALUE`), of weight 1.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .types import FairShare, Gate, RunInfo

# The group of runs that do not carry the key.
NO_VALUE = None
# The system tag every run carries: the code location of its job, so that fair share and
# ordinary tag limits can work per code location.
CODE_LOCATION_TAG = "dagster/code_location"
MAX_WEIGHT = 1000


@dataclass(frozen=True)
class Turn:
    """Where fair share placed one queued run."""

    value: str | None  # its value of the key, None without the tag
    turn: int  # 1-based: turns its value already had plus its rank among its queued runs
    weight: int
    # Runs of the same priority created after it but placed before it (other values).
    overtaken_by: int = 0


@dataclass
class FairOrder:
    """The queue in fair-share order, and each run's turn."""

    runs: list[RunInfo]
    turns: dict[str, Turn] = field(default_factory=dict)


def subject(rule: FairShare, value: str | None) -> str:
    return f"{rule.key} (no value)" if value is NO_VALUE else f"{rule.key}={value}"


def fair_order(
    queued: Sequence[RunInfo],
    active: Sequence[RunInfo],
    rule: FairShare,
    finished: Mapping[str | None, int] | None = None,
) -> FairOrder:
    """`queued` sorted by (priority descending, virtual time, creation) (module docstring);
    `finished`: turns already had by runs that have ended (`QueueSnapshot.fair_finished`)."""
    key = rule.key
    weights = rule.weight_map
    in_progress: dict[str | None, int] = dict(finished or {})
    for run in active:
        value = run.tags.get(key, NO_VALUE)
        in_progress[value] = in_progress.get(value, 0) + 1
    seen: dict[str | None, int] = {}
    keyed: list[tuple[int, float, int, RunInfo, str | None, int, int]] = []
    for run in sorted(queued, key=lambda r: (-r.priority, r.created_seq)):
        value = run.tags.get(key, NO_VALUE)
        rank = seen.get(value, in_progress.get(value, 0)) + 1
        seen[value] = rank
        weight = weights.get(value, 1) if value is not None else 1
        keyed.append((-run.priority, rank / weight, run.created_seq, run, value, rank, weight))
    keyed.sort(key=lambda item: item[:3])
    order = FairOrder([item[3] for item in keyed])
    # Per priority, the creation numbers placed so far: how many later runs went first.
    placed: dict[int, list[int]] = {}
    for negative_priority, _, seq, run, value, rank, weight in keyed:
        seqs = placed.setdefault(negative_priority, [])
        overtaken = len(seqs) - bisect_right(seqs, seq)
        insort(seqs, seq)
        order.turns[run.run_id] = Turn(value, rank, weight, overtaken)
    return order


def gate(rule: FairShare, turn: Turn, waits: bool) -> Gate:
    """The fair-share gate of a run: it never limits anything itself; it is the reason a run
    waits (`waits`) when capacity ran out after later runs of other values went first."""
    return Gate(
        rule="fair_share",
        subject=subject(rule, turn.value),
        count=turn.turn,
        limit=turn.weight,
        passed=not waits,
        kind="fair_share",
        more_holders=turn.overtaken_by,
    )
