"""The pool rules the tick, the claims, the edits and the simulator share (engine/pools.py)."""

from __future__ import annotations

import pytest

from queueing.engine.pools import (
    PoolRow,
    PoolUsage,
    free_run_refusal,
    pool_states,
    row_under_default,
    rows_after_default_change,
    rows_at_tick,
)
from queueing.engine.types import PoolState, RunStatus


def test_a_pool_without_a_row_gets_one_that_follows_the_default():
    assert row_under_default("api", None, 3) == PoolRow("api", 3, follows_default=True)
    assert row_under_default("api", None, None) is None


def test_a_row_following_the_default_moves_with_it_or_goes_without_one():
    row = PoolRow("api", 3, follows_default=True)
    assert row_under_default("api", row, 5) == PoolRow("api", 5, follows_default=True)
    assert row_under_default("api", row, None) is None
    assert row_under_default("api", row, 3) is row


def test_an_explicit_limit_never_changes_with_the_default():
    row = PoolRow("api", 9)
    assert row_under_default("api", row, 2) is row
    assert row_under_default("api", row, None) is row


def test_the_tick_gives_demanded_pools_the_default_and_leaves_the_rest():
    rows = {"old": PoolRow("old", 1, True), "mine": PoolRow("mine", 7)}

    after = rows_at_tick(rows, 4, ["new", "mine"])

    assert after == {
        "old": PoolRow("old", 1, True),  # not demanded: changed by an edit, not a tick
        "mine": PoolRow("mine", 7),
        "new": PoolRow("new", 4, True),
    }


def test_a_new_default_moves_every_row_that_follows_it():
    rows = {"a": PoolRow("a", 1, True), "b": PoolRow("b", 7)}

    assert rows_after_default_change(rows, 2) == {"a": PoolRow("a", 2, True), "b": rows["b"]}
    assert rows_after_default_change(rows, None) == {"b": rows["b"]}


def test_the_queue_sees_one_state_per_row_with_its_entries_and_holders():
    rows = {"api": PoolRow("api", 2)}
    usage = {"api": PoolUsage(3, ("r1", "r2")), "unlimited": PoolUsage(5, ("r3",))}

    assert pool_states(rows, usage) == {
        "api": PoolState(key="api", limit=2, pending=3, holders=("r1", "r2"))
    }


@pytest.mark.parametrize(
    "status", [RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING, RunStatus.SUSPENDED]
)
def test_a_whole_run_in_progress_is_not_freed_by_hand(status):
    refusal = free_run_refusal("abc", status)
    assert refusal is not None and "terminate it first" in refusal


@pytest.mark.parametrize(
    "status", [RunStatus.QUEUED, RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED]
)
def test_a_run_not_in_progress_is_freed_by_hand(status):
    assert free_run_refusal("abc", status) is None
