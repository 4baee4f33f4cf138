from __future__ import annotations

import pytest

from queueing.engine.pools import (
    MAX_POOL_LIMIT,
    claim_priority,
    validate_pool_limit,
    waiter_sort_key,
)
from queueing.engine.types import INT32_MAX, INT32_MIN


def test_claim_priority_adds_run_and_op_priority():
    assert claim_priority(3, -5) == -2


def test_claim_priority_accepts_the_32_bit_bounds():
    assert claim_priority(INT32_MAX, 0) == INT32_MAX
    assert claim_priority(INT32_MIN, 0) == INT32_MIN


@pytest.mark.parametrize(("run", "op"), [(INT32_MAX, 1), (INT32_MIN, -1)])
def test_claim_priority_outside_32_bits_is_an_error(run, op):
    with pytest.raises(ValueError, match="32-bit"):
        claim_priority(run, op)


def test_waiters_are_served_by_priority_then_oldest():
    # With 2 slots busy: b (p0, oldest), c (p5), d (p5, newest) are served c, d, b.
    waiters = [("b", 0, 10.0, 1), ("c", 5, 11.0, 2), ("d", 5, 12.0, 3)]

    served = sorted(waiters, key=lambda w: waiter_sort_key(w[1], w[2], w[3], "s"))

    assert [w[0] for w in served] == ["c", "d", "b"]


def test_run_then_step_key_break_ties():
    assert waiter_sort_key(1, 5.0, 2, "a") > waiter_sort_key(1, 5.0, 1, "z")
    assert waiter_sort_key(1, 5.0, 1, "b") > waiter_sort_key(1, 5.0, 1, "a")


@pytest.mark.parametrize("n", [0, 1, MAX_POOL_LIMIT])
def test_pool_limits_within_range_are_valid(n):
    validate_pool_limit(n)


def test_negative_pool_limit_is_refused():
    with pytest.raises(ValueError, match="cannot have a negative number of slots"):
        validate_pool_limit(-1)


def test_pool_limit_above_the_maximum_is_refused():
    assert MAX_POOL_LIMIT == 1000
    with pytest.raises(ValueError, match="cannot have more than 1000 slots"):
        validate_pool_limit(1001)


@pytest.mark.parametrize("n", ["5", 2.5, True])
def test_pool_limit_must_be_an_integer(n):
    with pytest.raises(ValueError, match="integer"):
        validate_pool_limit(n)
