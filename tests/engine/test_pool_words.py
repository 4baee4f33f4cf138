"""The one home of the words about pools: "closed" for limit 0, counts that never read as
more holders than slots, and a step told when its own run holds the slot it waits for."""

from __future__ import annotations

from queueing.engine.pool_words import (
    dequeue_count_words,
    limit_words,
    step_wait_words,
    usage_words,
)
from queueing.engine.types import Gate

RUN = "cf24483e-0000-4000-8000-000000000001"
OTHER = "7d072e5e-0000-4000-8000-000000000002"


def test_a_pool_at_limit_zero_is_called_closed():
    assert limit_words(0) == "closed (limit 0)"
    assert limit_words(0, from_default=True) == "closed (limit 0) (default)"
    assert usage_words(0, 0, 3) == "closed (limit 0): no step may start; 3 steps waiting"
    assert limit_words(None) == "no limit"
    assert limit_words(4, from_default=True) == "limit 4 (default)"


def test_usage_never_reads_as_more_holders_than_slots():
    assert usage_words(1, 1, 5) == "1 of 1 slot held; 5 steps waiting"
    # The limit was lowered under its holders: said in words, never "3 of 2".
    text = usage_words(2, 3, 0)
    assert "3 of 2" not in text
    assert text.startswith("all 2 slots held, and 1 more step(s) that started before")


def test_the_dequeue_count_counts_against_slots_instead_of_reading_as_holders():
    gate = Gate(
        rule="pool", subject="api", count=6, limit=1, passed=False, kind="op", holders=(RUN,)
    )
    assert "6 of 1" not in gate.message
    assert gate.message.startswith(
        "pool api is full: 6 steps of started runs (holding or waiting) count against its 1 slot"
    )
    assert "cf24483e" in gate.message


def test_a_closed_pool_gate_says_closed_on_the_queue():
    gate = Gate(rule="pool", subject="api", count=0, limit=0, passed=False, kind="op")
    assert gate.message == "pool api is closed (limit 0): runs using it stay queued"
    assert dequeue_count_words("api", 0, 1, buffer=1) != gate.message  # a buffer opens it


def test_a_step_waiting_on_a_slot_its_own_run_holds_says_so():
    text = step_wait_words("api", 1, 1, [RUN], own_run=RUN)
    assert text == "waiting for pool api: 1 of 1 slot held by 1 other step of this run"
    assert "cf24483e" not in text
    mixed = step_wait_words("api", 2, 2, [RUN, OTHER], own_run=RUN, ahead=1)
    assert mixed == (
        "waiting for pool api: 2 of 2 slots held by 1 other step of this run and runs 7d072e5e;"
        " 1 step ahead in line"
    )


def test_a_step_waiting_on_a_closed_pool_says_closed():
    assert step_wait_words("api", 0, 0, []) == (
        "waiting for pool api: closed (limit 0), no step may start"
    )
