"""A pool's wait percentiles and time at cap, from step waits and the steps still waiting."""

from __future__ import annotations

import pytest

from queueing.engine.pool_stats import HOUR, percentile, window_stats

NOW = 1_000_000.0


def test_percentiles_are_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0


def test_time_at_cap_is_the_union_of_waits_and_counts_steps_still_waiting():
    waits = [
        (NOW - 1800, 600.0),  # waited from -2400 to -1800
        (NOW - 2000, 300.0),  # -2300..-2000, inside the first: not counted twice
        (NOW - 100, 0.0),  # got its slot at once
    ]
    stats = window_stats(waits, waiting_since=[NOW - 360], now=NOW, seconds=HOUR)
    assert stats.steps == 3
    assert stats.p50_wait == 300.0
    assert stats.p95_wait == 600.0
    assert stats.at_cap_share == pytest.approx((600 + 360) / 3600)


def test_waits_before_the_window_count_only_their_part_inside():
    stats = window_stats([(NOW - HOUR + 60, 120.0)], [], NOW, HOUR)
    assert stats.at_cap_share == pytest.approx(60 / 3600)


def test_day_buckets_cover_each_hour():
    stats = window_stats([(NOW - 30, 30.0)], [], NOW, 24 * HOUR, buckets=24)
    assert len(stats.buckets) == 24
    assert stats.buckets[-1].steps == 1
    assert stats.buckets[-1].p95_wait == 30.0
    assert stats.buckets[-1].at_cap_share == pytest.approx(30 / 3600)
    assert all(b.at_cap_share == 0 for b in stats.buckets[:-1])
