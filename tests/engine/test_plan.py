from __future__ import annotations

import json

import pytest

from queueing.engine.plan import (
    ExecutionPlan,
    PlanError,
    PlanStep,
    build_plan,
    parse_priority_tag,
    plan_from_dict,
    plan_to_dict,
    pool_summary,
    pool_summary_from_dict,
    pool_summary_to_dict,
    validate_plan,
)
from queueing.engine.types import INT32_MAX, INT32_MIN


def step(key: str, *deps: str, pool: str | None = None, priority: int = 0, **tags: str) -> PlanStep:
    return PlanStep(
        key=key,
        op_name=key,
        deps=deps,
        pools={pool: 1} if pool else {},
        tags=tags,
        priority=priority,
        plan_index=0,
    )


def test_build_plan_orders_steps_topologically_and_keeps_declaration_order_for_ties():
    plan = build_plan("j", [step("load", "b", "a"), step("b"), step("a"), step("report", "load")])

    assert plan.step_keys() == ("b", "a", "load", "report")
    assert [s.plan_index for s in plan.steps] == [0, 1, 2, 3]
    assert plan.topological_order() == plan.steps


def test_roots_are_steps_without_dependencies_in_plan_order():
    plan = build_plan("j", [step("a"), step("b", "a"), step("c")])

    assert [s.key for s in plan.roots()] == ["a", "c"]
    assert plan.dependents("a") == ("b",)


def test_step_lookup_names_the_job_for_an_unknown_key():
    plan = build_plan("etl", [step("a")])

    assert plan.step("a").key == "a"
    with pytest.raises(KeyError, match="job 'etl' has no step 'nope'"):
        plan.step("nope")


def test_validate_plan_reports_duplicates_and_unknown_deps():
    errors = validate_plan([step("a"), step("a"), step("b", "ghost")])

    assert errors == ["duplicate step key 'a'", "step 'b' depends on unknown step 'ghost'"]


def test_validate_plan_names_the_steps_of_each_cycle_in_execution_direction():
    # a waits on c, b on a, c on b: executing would go a -> b -> c -> a.
    steps = [step("a", "c"), step("b", "a"), step("c", "b"), step("ok"), step("after", "a")]

    assert validate_plan(steps) == ["dependency cycle: a -> b -> c -> a"]


def test_validate_plan_reports_a_self_dependency_and_separate_cycles():
    steps = [step("self", "self"), step("x", "y"), step("y", "x")]

    assert validate_plan(steps) == [
        "dependency cycle: self -> self",
        "dependency cycle: x -> y -> x",
    ]


def test_build_plan_refuses_a_cycle_naming_the_job():
    with pytest.raises(PlanError, match="job 'j': dependency cycle: a -> b -> a"):
        build_plan("j", [step("a", "b"), step("b", "a")])


def test_execution_plan_refuses_steps_out_of_topological_order():
    later = PlanStep("b", "b", ("a",), {}, {}, 0, 0)
    earlier = PlanStep("a", "a", (), {}, {}, 0, 1)

    with pytest.raises(PlanError, match="comes before its dependency 'a'"):
        ExecutionPlan("j", (later, earlier))


def test_subset_drops_dependencies_outside_it_so_those_steps_become_roots():
    plan = build_plan("j", [step("a", pool="p"), step("b", "a", pool="q"), step("c", "b")])

    sub = plan.subset(["b", "c"])

    assert sub.step_keys() == ("b", "c")
    assert [s.key for s in sub.roots()] == ["b"]
    assert pool_summary(sub).root_pool_counts == {"q": 1}
    with pytest.raises(PlanError, match="'zzz'"):
        plan.subset(["zzz"])


def test_pool_summary_counts_root_steps_per_pool_and_collects_all_pools():
    plan = build_plan(
        "j",
        [
            step("r1", pool="redshift"),
            step("r2", pool="redshift"),
            step("s1", pool="snowflake"),
            step("down", "r1", pool="api"),
        ],
    )

    summary = pool_summary(plan)

    assert summary.root_pool_counts == {"redshift": 2, "snowflake": 1}
    assert summary.all_pools == {"redshift", "snowflake", "api"}
    assert summary.has_unconstrained_root is False


def test_pool_summary_flags_a_root_without_pool():
    plan = build_plan("j", [step("free"), step("bound", "free", pool="api")])

    summary = pool_summary(plan)

    assert summary.has_unconstrained_root is True
    assert summary.root_pool_counts == {}
    assert summary.all_pools == {"api"}


def test_pool_summary_is_none_when_no_step_uses_a_pool():
    assert pool_summary(build_plan("j", [step("a"), step("b", "a")])) is None


def test_pool_summary_survives_a_json_round_trip():
    summary = pool_summary(build_plan("j", [step("a", pool="p"), step("b")]))

    stored = json.loads(json.dumps(pool_summary_to_dict(summary)))

    assert pool_summary_from_dict(stored) == summary


def test_plan_survives_a_json_round_trip():
    plan = build_plan(
        "etl",
        [step("a", pool="redshift", priority=5, team="data"), step("b", "a"), step("c", "a", "b")],
    )

    stored = json.loads(json.dumps(plan_to_dict(plan)))

    assert plan_from_dict(stored) == plan


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["steps"][1].update(deps=["ghost"]), "unknown step 'ghost'"),
        (lambda d: d["steps"][0].update(priority="5"), "'priority' must be an integer"),
        (lambda d: d["steps"][0].update(tags={"a": 1}), "'tags' must map strings to strings"),
        (lambda d: d.update(steps="nope"), "a list 'steps'"),
        (lambda d: d.update(format=99), "unknown format 99"),
    ],
)
def test_plan_from_dict_refuses_malformed_data_naming_the_problem(mutate, message):
    data = plan_to_dict(build_plan("j", [step("a"), step("b", "a")]))
    mutate(data)

    with pytest.raises(PlanError, match=message):
        plan_from_dict(data)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), ("-3", -3), (" 7 ", 7), (str(INT32_MAX), INT32_MAX), (str(INT32_MIN), INT32_MIN)],
)
def test_priority_tag_accepts_signed_32_bit_integers(raw, expected):
    assert parse_priority_tag(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("high", "is not an integer"),
        ("1.5", "is not an integer"),
        (str(INT32_MAX + 1), "out of range"),
        (str(INT32_MIN - 1), "out of range"),
        (5, "must be a string"),
    ],
)
def test_priority_tag_refuses_anything_else(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_priority_tag(raw)
