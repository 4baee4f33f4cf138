"""Whether a queue that launched nothing lately is stalled: the one rule the doctor's
`stalled_queue` check and the Overview's banner both ask."""

from __future__ import annotations

from .facts import STALLED_INTERVALS


def queue_motion(
    *,
    queued: int,
    oldest_wait: float | None,
    last_launch_age: float | None,
    window: float,
    max_concurrent_runs: int,
    active: int,
) -> str:
    """Whether a queue that launched nothing for `window` seconds is stalled, as one word.

    "empty" (nothing queued), "frozen" (max_concurrent_runs is 0), "young" (no run has
    waited `window` yet), "moving" (a launch within `window`), "full" (max_concurrent_runs
    reached: runs wait for in-progress ones), else "stalled": capacity is free and old
    runs wait, yet nothing launched. The doctor's check and the overview's banner both
    ask this; they differ only in how they then explain a stall.
    """
    if queued == 0:
        return "empty"
    if max_concurrent_runs == 0:
        return "frozen"
    if oldest_wait is None or oldest_wait < window:
        return "young"
    if last_launch_age is not None and last_launch_age < window:
        return "moving"
    if max_concurrent_runs > 0 and active >= max_concurrent_runs:
        return "full"
    return "stalled"


MOTION_TITLES = {
    "empty": "Nothing waits in the queue",
    "frozen": "max_concurrent_runs is 0: the queue launches nothing (see the configuration check)",
    "young": f"No run has waited {STALLED_INTERVALS} tick intervals yet",
    "moving": "The queue is moving",
    "full": "No capacity: runs wait for in-progress runs (see the in-progress check)",
}
