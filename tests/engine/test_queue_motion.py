"""The stalled-queue rule shared by the doctor's check and the overview banner."""

from __future__ import annotations

import pytest

from queueing.engine.doctor.motion import queue_motion

WINDOW = 30.0


def motion(**overrides) -> str:
    facts = {
        "queued": 5,
        "oldest_wait": 60.0,
        "last_launch_age": None,
        "window": WINDOW,
        "max_concurrent_runs": 10,
        "active": 2,
    }
    return queue_motion(**(facts | overrides))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "stalled"),
        ({"max_concurrent_runs": -1, "active": 500}, "stalled"),
        ({"last_launch_age": WINDOW + 1}, "stalled"),
        ({"queued": 0}, "empty"),
        ({"queued": 0, "max_concurrent_runs": 0}, "empty"),
        ({"max_concurrent_runs": 0, "oldest_wait": 1.0}, "frozen"),
        ({"oldest_wait": WINDOW - 0.1}, "young"),
        ({"oldest_wait": None}, "young"),
        ({"last_launch_age": WINDOW - 0.1}, "moving"),
        ({"active": 10}, "full"),
        ({"active": 10, "oldest_wait": 1.0}, "young"),
    ],
)
def test_queue_motion(overrides, expected):
    assert motion(**overrides) == expected
