from __future__ import annotations

import pytest

from queueing.engine.steps import (
    MAX_CONCURRENT_PATH,
    StepInfo,
    resolve_max_concurrent,
    select_steps,
    step_priority,
)
from queueing.engine.types import TagLimit


def step(
    key: str, index: int, *, tags=None, priority: int = 0, pool: str | None = None
) -> StepInfo:
    return StepInfo(
        key=key,
        tags=tags or {},
        priority=priority,
        plan_index=index,
        pools={pool: 1} if pool else {},
    )


def always(_step: StepInfo) -> bool:
    return True


def keys(steps) -> list[str]:
    return [s.key for s in steps]


def test_verified_example_runs_high_priority_first_and_never_two_db_steps():
    # max 2, db:1; a1{db=x}, a2{db=x}, a3{db=y}, a4{priority 5}, a5.
    pending = [
        step("a1", 0, tags={"db": "x"}),
        step("a2", 1, tags={"db": "x"}),
        step("a3", 2, tags={"db": "y"}),
        step("a4", 3, priority=5),
        step("a5", 4),
    ]
    limits = [TagLimit("db", 1)]
    in_flight: list[StepInfo] = []
    started_order: list[str] = []
    while pending or in_flight:
        selection = select_steps(pending, in_flight, 2, limits, always)
        started_order += keys(selection.started)
        in_flight += selection.started
        pending = [s for s in pending if s not in selection.started]
        assert len(in_flight) <= 2
        assert sum(1 for s in in_flight if "db" in s.tags) <= 1
        # The oldest in-flight step finishes before the next pass.
        in_flight.pop(0)

    assert started_order[0] == "a4"
    assert sorted(started_order) == ["a1", "a2", "a3", "a4", "a5"]
    # a3 waited for a1 and a2 although its value differs: the limit is key-only.
    assert started_order.index("a3") > started_order.index("a2")


def test_first_pass_of_the_verified_example():
    ready = [
        step("a1", 0, tags={"db": "x"}),
        step("a2", 1, tags={"db": "x"}),
        step("a3", 2, tags={"db": "y"}),
        step("a4", 3, priority=5),
        step("a5", 4),
    ]

    selection = select_steps(ready, [], 2, [TagLimit("db", 1)], always)

    assert keys(selection.started) == ["a4", "a1"]
    assert {k: g.rule for k, g in selection.waiting.items()} == {
        "a2": "max_concurrent",
        "a3": "max_concurrent",
        "a5": "max_concurrent",
    }
    assert selection.waiting["a5"].message == "max_concurrent: 2 of 2 steps in flight"


def test_tag_blocked_step_is_skipped_and_later_steps_still_start():
    selection = select_steps(
        [step("db1", 0, tags={"db": "x"}), step("plain", 1)],
        [step("running", 9, tags={"db": "x"})],
        4,
        [TagLimit("db", 1)],
        always,
    )

    assert keys(selection.started) == ["plain"]
    gate = selection.waiting["db1"]
    assert (gate.rule, gate.holders) == ("tag", ("running",))
    assert gate.message == "tag db: 1 of 1 steps, held by running"


def test_pool_blocked_step_does_not_consume_the_tag_budget():
    # Q8: db:1; X{db, pool held elsewhere} comes first, Y{db, no pool} must still start.
    selection = select_steps(
        [step("X", 0, tags={"db": "1"}, pool="warehouse"), step("Y", 1, tags={"db": "1"})],
        [],
        4,
        [TagLimit("db", 1)],
        lambda s: False,
    )

    assert keys(selection.started) == ["Y"]
    gate = selection.waiting["X"]
    assert (gate.rule, gate.subject, gate.passed) == ("pool", "warehouse", False)
    assert gate.message == "pool warehouse: no slot granted to this step yet"


def test_claimed_step_counts_against_tag_limits():
    selection = select_steps(
        [step("X", 0, tags={"db": "1"}, pool="warehouse"), step("Y", 1, tags={"db": "1"})],
        [],
        4,
        [TagLimit("db", 1)],
        always,
    )

    assert keys(selection.started) == ["X"]
    assert selection.waiting["Y"].rule == "tag"


def test_claim_is_tried_only_for_steps_that_passed_the_other_gates():
    claimed: list[str] = []

    def try_claim(s: StepInfo) -> bool:
        claimed.append(s.key)
        return True

    select_steps(
        [
            step("tag_blocked", 0, tags={"db": "1"}, pool="p"),
            step("ok", 1, pool="p"),
            step("no_pool", 2),
            step("beyond_max", 3, pool="p"),
        ],
        [step("running", 9, tags={"db": "1"})],
        3,
        [TagLimit("db", 1)],
        try_claim,
    )

    assert claimed == ["ok"]


def test_failed_claim_does_not_use_a_max_concurrent_place():
    selection = select_steps(
        [step("pooled", 0, pool="p"), step("a", 1), step("b", 2)], [], 2, [], lambda s: False
    )

    assert keys(selection.started) == ["a", "b"]


def test_steps_are_walked_by_priority_then_plan_order():
    ready = [step("c", 2), step("a", 0), step("low", 1, priority=-1), step("high", 5, priority=2)]

    selection = select_steps(ready, [], 10, [], always)

    assert keys(selection.started) == ["high", "a", "c", "low"]


def test_nothing_starts_when_in_flight_steps_fill_max_concurrent():
    in_flight = [step("r1", 0), step("r2", 1)]

    selection = select_steps([step("x", 2)], in_flight, 2, [], always)

    assert selection.started == ()
    gate = selection.waiting["x"]
    assert (gate.count, gate.limit, gate.holders) == (2, 2, ("r1", "r2"))


def test_per_value_in_run_limit():
    selection = select_steps(
        [
            step("x1", 0, tags={"db": "x"}),
            step("x2", 1, tags={"db": "x"}),
            step("y1", 2, tags={"db": "y"}),
        ],
        [],
        10,
        [TagLimit("db", 1, per_unique_value=True)],
        always,
    )

    assert keys(selection.started) == ["x1", "y1"]
    assert selection.waiting["x2"].subject == "db=x"


@pytest.mark.parametrize("value", [None, 0])
def test_max_concurrent_defaults_to_the_cpu_count(value):
    assert resolve_max_concurrent(value, cpu_count=8) == 8


def test_max_concurrent_env_override_beats_the_cpu_count():
    assert resolve_max_concurrent(None, cpu_count=8, env_override=3) == 3
    assert resolve_max_concurrent(5, cpu_count=8, env_override=3) == 5


def test_explicit_max_concurrent_is_used():
    assert resolve_max_concurrent(2, cpu_count=64) == 2


def test_negative_max_concurrent_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match=MAX_CONCURRENT_PATH.replace(".", r"\.")):
        resolve_max_concurrent(-1, cpu_count=8)


def test_step_priority_reads_the_op_tag():
    assert step_priority({}) == 0
    assert step_priority({"dagster/priority": "-3"}) == -3


@pytest.mark.parametrize("raw", ["high", "1.5", "", str(2**31)])
def test_step_priority_refuses_non_integers_and_out_of_range_values(raw):
    with pytest.raises(ValueError, match="dagster/priority"):
        step_priority({"dagster/priority": raw})
