"""The stuck-inside-a-run rule: no step runs and every ready step waited past the threshold."""

from __future__ import annotations

from queueing.engine.stuck import STUCK_WAIT_SECONDS, StepWait, stuck_in_run

NOW = 10_000.0
LONG = NOW - 240


def test_a_run_whose_steps_all_wait_on_a_closed_pool_past_the_threshold_is_stuck():
    waits = [StepWait(f"s{i}", "api", LONG) for i in range(3)]
    assert stuck_in_run(0, waits, {"api": 0}, NOW) == (
        "3 steps waiting on pool api (closed) for 4 min"
    )


def test_a_running_step_or_a_recent_wait_is_not_stuck():
    waits = [StepWait("a", "api", LONG)]
    assert stuck_in_run(1, waits, {"api": 1}, NOW) == ""
    recent = [*waits, StepWait("b", "api", NOW - STUCK_WAIT_SECONDS + 1)]
    assert stuck_in_run(0, recent, {"api": 1}, NOW) == ""
    assert stuck_in_run(0, [], {}, NOW) == ""


def test_several_pools_and_in_run_limits_are_each_named():
    waits = [StepWait("a", "api", LONG), StepWait("b", "db", LONG), StepWait("c", None, LONG)]
    assert stuck_in_run(0, waits, {"api": 2}, NOW) == (
        "1 step waiting on pool api (limit 2) for 4 min; "
        "1 step waiting on pool db (no limit) for 4 min; "
        "1 step waiting on an in-run limit for 4 min"
    )
