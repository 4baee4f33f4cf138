"""The input boundary (issue 12): limits checked while reading, JSON's types only, and the one
grammar of numbers and keys. Every attack of the issue is reproduced here first."""

from __future__ import annotations

import time

import pytest

from queueing.engine.grammar import key_problem, parse_integer
from queueing.engine.inputs import (
    DEFAULT_LIMITS,
    InputRefused,
    Limits,
    check_value,
    read_json,
    read_yaml,
)


def refusal(read, *args, **kwargs) -> str:
    with pytest.raises(InputRefused) as caught:
        read(*args, **kwargs)
    return str(caught.value)


def billion_laughs(levels: int = 9) -> str:
    """The issue's 400-byte bomb: each level repeats the one before nine times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_its_first_expansion_past_the_budget():
    text = billion_laughs()
    assert len(text) < 500

    started = time.monotonic()
    message = refusal(read_yaml, text)

    # 9**6 = 531,441 values would be needed by a6; the budget is 100,000.
    assert message.startswith("a5[")
    assert "more than 100000 values (INPUT_MAX_NODES; an alias counts as every value" in message
    assert time.monotonic() - started < 1


def test_aliases_and_merge_keys_within_the_budget_are_read():
    text = "base: &b {x: 1, y: 2}\nrun:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n"

    value = read_yaml(text).value

    assert value == {
        "base": {"x": 1, "y": 2},
        "run": {"y": 3, "x": 1},
        "list": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
    }


def test_an_alias_counts_its_depth_too():
    deep = "[" * 20 + "]" * 20
    text = f"a: &deep {deep}\nb: [[[[[[[[[[[[[[*deep]]]]]]]]]]]]]]\n"

    assert "nested deeper than 32 levels (INPUT_MAX_DEPTH)" in refusal(read_yaml, text)


@pytest.mark.parametrize(
    ("text", "path", "rule"),
    [
        ("ops:\n  x: !!binary aGVsbG8=\n", "ops.x", "the YAML tag !!binary is not accepted"),
        ("ops: !!set {a, b}\n", "ops", "the YAML tag !!set is not accepted"),
        ("ops: !!omap [a: 1]\n", "ops", "the YAML tag !!omap is not accepted"),
        ("ops: !!timestamp 2001-12-14\n", "ops", "the YAML tag !!timestamp is not accepted"),
        ("ops: !custom x\n", "ops", "the YAML tag !custom is not accepted"),
        ("2001-12-14: x\nops: {1: x}\n", "ops", "a mapping key must be text, got int 1"),
        ("ops: {[1]: x}\n", "ops", "a mapping key must be text, not a list or mapping"),
        ("ops: .inf\n", "ops", ".inf is not a finite number"),
        ("ops: [-.inf]\n", "ops[0]", "-.inf is not a finite number"),
        ("ops: .nan\n", "ops", ".nan is not a finite number"),
        ("ops: 1.0e+999\n", "ops", "1.0e+999 is not a finite number"),
        ("ops: 9223372036854775808\n", "ops", "is outside the 64-bit range"),
        ("ops: " + "9" * 5000 + "\n", "ops", "is outside the 64-bit range"),
        ("ops: 1_000\n", "ops", "'1_000' is not a whole number: write a whole number with"),
        ("ops: 0x1f\n", "ops", "'0x1f' is not a whole number"),
        ("ops: 1:30\n", "ops", "'1:30' is not a whole number"),
        ("ops: 1_0.5\n", "ops", "'1_0.5' is not a decimal number"),
        ('ops: "a\\0b"\n', "ops", "the text contains a NUL character"),
        ("ops: *missing\n", "ops", "the alias *missing refers to no anchor"),
        ("ops: &loop [*loop]\n", "ops[0]", "refers to a collection it is inside"),
    ],
)
def test_only_what_json_can_hold_is_read_and_the_refusal_names_the_path(text, path, rule):
    message = refusal(read_yaml, text, prefix="run_config", root="run_config")

    assert message.startswith(f"run_config.{path}: line ")
    assert rule in message


def test_plain_dates_stay_the_text_written_and_numbers_follow_the_grammar():
    value = read_yaml("day: 2001-12-14\nat: 2001-12-14 21:59:43\nn: 017\nf: -1.5e+3\nb: yes\n")

    assert value.value == {
        "day": "2001-12-14",
        "at": "2001-12-14 21:59:43",
        "n": 17,
        "f": -1500.0,
        "b": True,
    }


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_nesting_is_refused_at_the_first_level_too_deep(opening):
    text = "x: " + opening * 3000 + ("]" if opening == "[" else "}") * 3000

    message = refusal(read_yaml, text)

    assert "nested deeper than 32 levels (INPUT_MAX_DEPTH)" in message


def test_block_nesting_names_the_path_where_it_got_too_deep():
    text = "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v\n"

    message = refusal(read_yaml, text, limits=Limits(max_depth=3))

    assert message.startswith("k0.k1.k2: line 4, column 7: nested deeper than 3 levels")


def test_every_limit_is_its_own_setting():
    text = "a: [1, 2, 3, 4, 5]\n"

    assert "larger than the limit of 10 bytes (INPUT_MAX_BYTES)" in refusal(
        read_yaml, text, limits=Limits(max_bytes=10)
    )
    assert "more than 4 values (INPUT_MAX_NODES" in refusal(
        read_yaml, text, limits=Limits(max_nodes=4)
    )
    # The mapping, its key, the list and its five numbers.
    assert read_yaml(text, limits=Limits(max_nodes=8)).value == {"a": [1, 2, 3, 4, 5]}


def test_a_second_document_is_refused():
    assert "expected one document, found a second one" in refusal(read_yaml, "a: 1\n---\nb: 2\n")


# --- JSON ---------------------------------------------------------------------------------


def test_json_nested_100000_deep_is_refused_before_parsing_with_its_path():
    body = '{"run_config": {"ops": ' + "[" * 100_000 + "]" * 100_000 + "}}"

    started = time.monotonic()
    message = refusal(read_json, body)

    assert message.startswith("run_config.ops" + "[0]" * 30 + ": nested deeper than 32 levels")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"a": NaN}', "a: NaN is not a finite number"),
        ('{"a": [Infinity]}', "a[0]: Infinity is not a finite number"),
        ('{"a": 1e999}', "a: inf is not a finite number"),
        ('{"a": 9223372036854775808}', "a: '9223372036854775808' is outside the 64-bit range"),
        ('{"a": ' + "9" * 5000 + "}", "a: '99999"),
        ('{"a": "x\\u0000"}', "a: the text contains a NUL character"),
        ('{"k\\u0000": 1}', "k\x00: the key contains a NUL character"),
        ('{"a": "\\udc00"}', "a: the text contains a lone surrogate"),
        ('{"a": [1, 2', "body: invalid JSON at line 1, column 12"),
        (b'{"a": "\xff"}', "body: not UTF-8 text"),
    ],
)
def test_json_holds_only_finite_numbers_within_64_bits_and_storable_text(body, expected):
    assert refusal(read_json, body).startswith(expected)


def test_json_values_are_counted_before_parsing():
    body = "[" + ",".join(["1"] * 200) + "]"

    assert "more than 100 values" in refusal(read_json, body, limits=Limits(max_nodes=100))
    assert read_json(body, limits=Limits(max_nodes=201)) == [1] * 200


def test_values_built_elsewhere_get_the_same_rules():
    nested: dict = {}
    inner = nested
    for _ in range(900):  # the 900-deep run config that took 11 s and a 500
        inner["a"] = {}
        inner = inner["a"]

    message = refusal(check_value, {"ops": nested}, DEFAULT_LIMITS, "run_config")

    assert message.startswith("run_config.ops" + ".a" * 31 + ": nested deeper than 32")
    assert "a datetime" not in refusal(check_value, {"d": object()}, DEFAULT_LIMITS, "x")
    assert refusal(check_value, {"d": float("nan")}, DEFAULT_LIMITS, "x").startswith("x.d: nan")


# --- the grammar of numbers and keys --------------------------------------------------------


@pytest.mark.parametrize("text", ["1_0", "\u0663", "1.0", " 1", "1 ", "", "+", "0x10", "1e3", "²"])
def test_a_number_is_ascii_digits_with_an_optional_sign(text):
    with pytest.raises(ValueError, match="is not a whole number: write a whole number"):
        parse_integer(text)


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("-1", -1), ("+7", 7), ("007", 7)])
def test_numbers_that_follow_the_grammar(text, value):
    assert parse_integer(text) == value


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "the key is empty"),
        (" db", "has spaces at one end"),
        ("db\u00a0", "has spaces at one end"),
        ("line\nbreak", "contains a control character"),
        ("nul\x00", "contains a control character"),
        ("tab\t", "contains a control character"),
        ("x" * 201, "the key is 201 characters long"),
        (5, "expected a string, got int"),
    ],
)
def test_a_key_has_no_control_characters_no_outer_spaces_and_a_maximum_length(key, problem):
    assert problem in key_problem(key)


@pytest.mark.parametrize("key", ["redshift", "warehouse/load", "dagster/priority", "équipe", "a b"])
def test_ordinary_keys_follow_the_grammar(key):
    assert key_problem(key) is None
