"""Weights and several pools in the engine: the claim rule's standings and messages, the
run queue's pool-aware dequeuing with weighted and multi-pool root steps."""

from __future__ import annotations

import pytest

from queueing.engine.plan import PlanStep, build_plan, pool_summary
from queueing.engine.pools import (
    ClaimEntry,
    PoolStanding,
    claimable,
    demand_exceeds_limits,
    demand_text,
    pool_standings,
    step_demand,
    waiter_sort_key,
)
from queueing.engine.run_queue import decide
from queueing.engine.types import (
    PoolState,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    Wait,
)


def entry(pool, run, slots=1, claimed=False, priority=0, at=0.0, step="s"):
    return ClaimEntry(pool, run, step, priority, at, slots, claimed)


def order(run, priority=0, at=0.0, step="s"):
    return waiter_sort_key(priority, at, run, step)


def test_a_step_fits_beside_held_slots_and_the_slots_reserved_ahead():
    entries = [
        entry("w", 1, slots=2, claimed=True),
        entry("w", 2, slots=3, at=1.0),  # waiting, ahead of run 9
        entry("w", 3, slots=4, at=5.0),  # waiting, behind run 9: reserves nothing for it
    ]

    (standing,) = pool_standings({"w": 1}, order(9, at=2.0), entries, {"w": 6})

    assert (standing.held, standing.ahead, standing.fits) == (2, 3, True)
    (heavier,) = pool_standings({"w": 2}, order(9, at=2.0), entries, {"w": 6})
    assert not heavier.fits and not claimable([heavier])


def test_a_waiter_ahead_that_can_never_run_reserves_nothing():
    entries = [entry("w", 1, slots=1, at=0.0), entry("other", 1, slots=5, at=0.0)]

    (standing,) = pool_standings({"w": 1}, order(2, at=1.0), entries, {"w": 1, "other": 4})

    assert standing.ahead == 0 and standing.fits


def test_higher_priority_waiters_are_ahead_whatever_their_age():
    entries = [entry("w", 1, priority=5, at=9.0)]

    (standing,) = pool_standings({"w": 1}, order(2, priority=0, at=1.0), entries, {"w": 1})

    assert standing.ahead == 1 and not standing.fits


def test_claimable_needs_every_pool_and_pools_without_a_limit_always_fit():
    full = PoolStanding("a", 1, 1, held=1)
    room = PoolStanding("b", 2, 3)
    unlimited = PoolStanding("c", 9, None)

    assert claimable([room, unlimited])
    assert not claimable([room, full])


def test_demand_text_says_what_a_step_waits_for_in_full():
    standings = [
        PoolStanding("partner_api", 1, 1, held=0),
        PoolStanding("warehouse", 3, 5, held=3),
    ]

    assert demand_text(standings[::-1] + []) == (
        "needs 3 of warehouse (2 free) and 1 of partner_api (free)"
    )
    assert demand_text([PoolStanding("w", 1, 4, held=2, ahead=2)]) == (
        "needs 1 of w (2 free, 2 reserved for steps ahead)"
    )
    assert demand_text([PoolStanding("w", 5, 2)]) == "needs 5 of w (its limit is 2: can never fit)"
    assert demand_text(
        [PoolStanding("a", 1, None), PoolStanding("b", 1, 1), PoolStanding("c", 2, 2)]
    ) == ("needs 1 of a (no limit), 1 of b (free) and 2 of c (free)")


def test_demand_exceeding_a_limit_is_named():
    assert demand_exceeds_limits({"w": 3, "api": 1}, {"w": 2, "api": 1}) == [
        "needs 3 slots of pool w, whose limit is 2: it can never run"
    ]


@pytest.mark.parametrize(
    ("pool", "slots", "pools", "expected"),
    [
        (None, None, None, {}),
        ("w", None, None, {"w": 1}),
        ("w", 3, None, {"w": 3}),
        (None, None, {"b": 1, "a": 2}, {"a": 2, "b": 1}),
    ],
)
def test_step_demand(pool, slots, pools, expected):
    assert step_demand(pool, slots, pools) == expected


# --- the run queue ------------------------------------------------------------------------


def plan_of(*steps: tuple[str, dict[str, int], tuple[str, ...]]):
    return build_plan(
        "j", [PlanStep(key, key, deps, demand, {}, 0, 0) for key, demand, deps in steps]
    )


def queued(run_id: str, seq: int, *steps) -> RunInfo:
    return RunInfo(run_id, RunStatus.QUEUED, {}, seq, pool_summary=pool_summary(plan_of(*steps)))


def snap(queue, pools, **settings) -> QueueSnapshot:
    return QueueSnapshot(QueueSettings(**settings), queue, [], pools, now=0.0)


def test_a_weighted_root_step_is_not_launched_into_a_pool_without_its_slots():
    runs = [queued("heavy", 1, ("big", {"w": 3}, ())), queued("light", 2, ("s", {"w": 1}, ()))]

    decision = decide(snap(runs, {"w": PoolState("w", 4, pending=2)}))

    assert decision.launch == ("light",)
    verdict = decision.verdicts["heavy"]
    assert isinstance(verdict, Wait)
    assert verdict.blocking.subject == "w" and verdict.blocking.need == 3
    assert "this run needs 3 slots" in verdict.blocking.message


def test_accepted_weighted_runs_count_their_slots():
    runs = [queued(f"r{i}", i, ("big", {"w": 2}, ())) for i in range(3)]

    decision = decide(snap(runs, {"w": PoolState("w", 5)}))

    assert decision.launch == ("r0", "r1")


def test_a_two_pool_root_step_needs_room_in_both_pools():
    runs = [queued("both", 1, ("sync", {"w": 1, "api": 1}, ()))]

    full_api = decide(snap(runs, {"w": PoolState("w", 3), "api": PoolState("api", 1, pending=1)}))
    room = decide(snap(runs, {"w": PoolState("w", 3), "api": PoolState("api", 1)}))

    assert full_api.launch == () and room.launch == ("both",)
    assert full_api.verdicts["both"].blocking.subject == "api"


def test_a_run_starts_when_one_of_its_root_steps_fits_entirely():
    runs = [queued("r", 1, ("a", {"w": 1, "api": 5}, ()), ("b", {"w": 5, "api": 1}, ()))]

    neither = decide(
        snap(runs, {"w": PoolState("w", 5, pending=3), "api": PoolState("api", 5, pending=3)})
    )
    one = decide(
        snap(runs, {"w": PoolState("w", 5, pending=0), "api": PoolState("api", 5, pending=3)})
    )

    assert neither.launch == ()
    assert one.launch == ("r",)


def test_run_granularity_counts_the_largest_step_of_each_pool():
    runs = [queued(f"r{i}", i, ("a", {"w": 1}, ()), ("b", {"w": 3}, ("a",))) for i in range(3)]

    decision = decide(snap(runs, {"w": PoolState("w", 7)}, granularity="run"))

    assert decision.launch == ("r0", "r1")
    assert decision.verdicts["r2"].blocking.count == 6
    assert "this run needs 3 slots" in decision.verdicts["r2"].blocking.message


def test_without_weights_the_summary_and_the_queue_are_as_before():
    summary = pool_summary(plan_of(("a", {"w": 1}, ()), ("b", {"v": 1}, ("a",))))

    assert summary is not None
    assert (summary.root_demands, summary.max_slots) == ((), {})
    assert summary.root_needs() == ({"w": 1},)
