"""A pool's recent history in numbers: how long steps waited for its slots (p50, p95) and
how much of the time it was at its cap (some step waiting for a slot), over a window.

Pure: the waits are given as (start, seconds waited) pairs of epoch seconds, the steps
still waiting as the times they asked, and the clock as `now`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HOUR = 3600.0
DAY = 24 * HOUR


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` in 0..1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _covered(intervals: Iterable[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by the union of `intervals`."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)
    total, end = 0.0, lo
    for a, b in clipped:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


@dataclass(frozen=True)
class Bucket:
    start: float  # epoch seconds
    at_cap_share: float  # 0..1
    p95_wait: float | None
    steps: int  # steps that started in the bucket


@dataclass(frozen=True)
class WindowStats:
    seconds: float
    steps: int  # steps that got a slot in the window
    p50_wait: float | None
    p95_wait: float | None
    at_cap_share: float  # share of the window with a step waiting for a slot
    buckets: tuple[Bucket, ...] = ()


def window_stats(
    waits: Sequence[tuple[float, float]],
    waiting_since: Sequence[float],
    now: float,
    seconds: float,
    buckets: int = 0,
) -> WindowStats:
    """The stats of the last `seconds` before `now`, optionally cut into `buckets` bars.

    A step's wait is the interval [start - waited, start]; a step still waiting adds
    [asked, now]. The pool is "at cap" while any such interval covers the moment.
    """
    lo = now - seconds
    intervals = [(start - waited, start) for start, waited in waits if waited > 0]
    intervals += [(asked, now) for asked in waiting_since]
    inside = [waited for start, waited in waits if lo <= start <= now]
    bars: list[Bucket] = []
    if buckets:
        width = seconds / buckets
        for index in range(buckets):
            a = lo + index * width
            b = a + width
            here = [waited for start, waited in waits if a <= start < b]
            bars.append(
                Bucket(a, _covered(intervals, a, b) / width, percentile(here, 0.95), len(here))
            )
    return WindowStats(
        seconds=seconds,
        steps=len(inside),
        p50_wait=percentile(inside, 0.5),
        p95_wait=percentile(inside, 0.95),
        at_cap_share=_covered(intervals, lo, now) / seconds if seconds > 0 else 0.0,
        buckets=tuple(bars),
    )
