from __future__ import annotations

from queueing.engine.tags import HOLDERS_CAP, TagCounter
from queueing.engine.types import Gate, TagLimit


def counter_with(limits: list[TagLimit], items: dict[str, dict[str, str]]) -> TagCounter:
    counter = TagCounter(limits)
    for item_id, tags in items.items():
        counter.add(item_id, tags)
    return counter


def failed(gates: list[Gate]) -> list[str]:
    return [gate.subject for gate in gates if not gate.passed]


def test_key_limit_counts_every_value_of_the_key():
    counter = counter_with([TagLimit("db", 2)], {"r1": {"db": "x"}, "r2": {"db": "y"}})

    [gate] = counter.check({"db": "z"})

    assert (gate.subject, gate.count, gate.limit, gate.passed) == ("db", 2, 2, False)
    assert gate.holders == ("r1", "r2")


def test_key_limit_lets_item_through_below_the_limit():
    counter = counter_with([TagLimit("db", 2)], {"r1": {"db": "x"}})

    [gate] = counter.check({"db": "x"})

    assert gate.passed and gate.count == 1


def test_items_without_the_key_are_not_affected():
    counter = counter_with([TagLimit("db", 0)], {"r1": {"db": "x"}})

    assert counter.check({"team": "a"}) == []
    assert counter.blocking({}) is None


def test_key_value_limit_matches_the_exact_value_only():
    counter = counter_with(
        [TagLimit("db", 1, value="redshift")], {"r1": {"db": "redshift"}, "r2": {"db": "pg"}}
    )

    [gate] = counter.check({"db": "redshift"})
    assert (gate.subject, gate.count, gate.passed) == ("db=redshift", 1, False)
    assert gate.holders == ("r1",)
    assert counter.check({"db": "pg"}) == []
    # Values are compared as case-sensitive strings.
    assert counter.check({"db": "Redshift"}) == []


def test_per_unique_value_limit_gives_each_value_its_own_budget():
    counter = counter_with([TagLimit("team", 1, per_unique_value=True)], {"r1": {"team": "a"}})

    assert failed(counter.check({"team": "a"})) == ["team=a"]
    [gate_b] = counter.check({"team": "b"})
    assert gate_b.passed and gate_b.count == 0 and gate_b.kind == "per_unique_value"


def test_last_listed_limit_of_the_same_kind_wins():
    counter = counter_with(
        [
            TagLimit("db", 1),
            TagLimit("db", 3),
            TagLimit("db", 5, value="x"),
            TagLimit("db", 1, value="x"),
        ],
        {"r1": {"db": "x"}},
    )

    gates = counter.check({"db": "x"})

    assert [(g.subject, g.limit, g.passed) for g in gates] == [("db", 3, True), ("db=x", 1, False)]


def test_key_value_limits_on_different_values_of_one_key_all_exist():
    counter = TagCounter([TagLimit("db", 1, value="x"), TagLimit("db", 2, value="y")])

    assert [g.limit for g in counter.check({"db": "x"})] == [1]
    assert [g.limit for g in counter.check({"db": "y"})] == [2]


def test_different_kinds_on_one_key_all_apply():
    limits = [
        TagLimit("foo", 2),
        TagLimit("foo", 1, value="bar"),
        TagLimit("foo", 1, per_unique_value=True),
    ]
    counter = counter_with(limits, {"r1": {"foo": "baz"}})

    # foo=baz is full per value; foo=bar is free in both value budgets.
    assert failed(counter.check({"foo": "baz"})) == ["foo=baz"]
    assert failed(counter.check({"foo": "bar"})) == []
    counter.add("r2", {"foo": "bar"})
    assert failed(counter.check({"foo": "qux"})) == ["foo"]
    assert failed(counter.check({"foo": "bar"})) == ["foo", "foo=bar", "foo=bar"]


def test_limit_zero_and_negative_limits_block_every_matching_item():
    counter = TagCounter([TagLimit("a", 0), TagLimit("b", -3)])

    assert failed(counter.check({"a": "1"})) == ["a"]
    assert failed(counter.check({"b": "1"})) == ["b"]


def test_gates_follow_the_order_the_limits_are_listed():
    counter = TagCounter([TagLimit("z", 5), TagLimit("a", 5), TagLimit("m", 5, value="1")])

    gates = counter.check({"a": "1", "m": "1", "z": "1"})

    assert [g.subject for g in gates] == ["z", "a", "m=1"]


def test_blocking_returns_the_first_full_limit():
    counter = counter_with(
        [TagLimit("a", 5), TagLimit("b", 1), TagLimit("c", 1)], {"r1": {"b": "1", "c": "1"}}
    )

    gate = counter.blocking({"a": "1", "b": "1", "c": "1"})

    assert gate is not None and gate.subject == "b"


def test_check_reflects_items_added_after_an_earlier_check():
    counter = TagCounter([TagLimit("db", 2)])
    assert counter.check({"db": "x"})[0].count == 0

    counter.add("r1", {"db": "x"})
    counter.add("r2", {"db": "x"})

    [gate] = counter.check({"db": "x"})
    assert (gate.count, gate.passed, gate.holders) == (2, False, ("r1", "r2"))


def test_holders_are_capped_and_the_rest_is_counted():
    counter = TagCounter([TagLimit("db", 1000)])
    for i in range(HOLDERS_CAP + 7):
        counter.add(f"r{i}", {"db": "x"})

    [gate] = counter.check({"db": "x"})

    assert gate.count == HOLDERS_CAP + 7
    assert len(gate.holders) == HOLDERS_CAP and gate.holders[0] == "r0"
    assert gate.more_holders == 7


def test_count_reads_a_limit_counter():
    per_value = TagLimit("team", 1, per_unique_value=True)
    counter = counter_with([per_value], {"r1": {"team": "a"}, "r2": {"team": "a"}})

    assert counter.count(per_value, "a") == 2
    assert counter.count(per_value, "b") == 0


def test_messages_name_the_limit_the_numbers_and_the_holders():
    counter = counter_with(
        [TagLimit("database", 4, value="redshift"), TagLimit("database", 4)],
        {f"r{i}": {"database": "redshift"} for i in range(1, 5)},
    )
    by_subject = {g.subject: g for g in counter.check({"database": "redshift"})}

    assert by_subject["database=redshift"].message == (
        "tag database=redshift: 4 of 4 runs, held by r1, r2, r3 +1 more"
    )
    assert by_subject["database"].message.startswith("tag database: 4 of 4 runs, held by r1")


def test_per_value_message_names_the_value():
    counter = counter_with(
        [TagLimit("database", 2, per_unique_value=True)], {"r1": {"database": "redshift"}}
    )

    [gate] = counter.check({"database": "redshift"})

    assert gate.message == "tag database (per value) =redshift: 1 of 2 runs, held by r1"


def test_step_counter_talks_about_steps_and_zero_limits_are_explained():
    counter = TagCounter([TagLimit("db", 0)], unit="step")

    [gate] = counter.check({"db": "x"})

    assert gate.message == "tag db: limit is 0, no step carrying it may start"


def test_applicable_names_the_limits_that_count_an_item_the_last_listed_winning():
    counter = TagCounter(
        [
            TagLimit("db", 5),
            TagLimit("db", 1),  # overrides the first: the last listed key limit wins
            TagLimit("db", 2, value="redshift"),
            TagLimit("team", 3, per_unique_value=True),
        ]
    )

    assert counter.applicable({"db": "redshift", "team": "a"}) == [1, 2, 3]
    assert counter.applicable({"db": "snowflake"}) == [1]
    assert counter.applicable({"other": "x"}) == []
