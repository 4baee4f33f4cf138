"""The benchmark workload, shared by concurrency-ui's benchmarks and the Dagster driver.

Pure Python with no project import, so the Dagster virtual environment can load it too:
both systems get exactly the same queued runs (tags, priorities, pool demands), the same
ten tag limits and the same five pool limits.
"""

from __future__ import annotations

import random
from typing import Any

SEED = 20240613

# Ten tag limits of the three kinds (key, key=value, per unique value), limits >= 1 so a
# drained queue always empties.
TAG_LIMITS: list[dict[str, Any]] = [
    {"key": "database", "value": "redshift", "limit": 3},
    {"key": "database", "value": "snowflake", "limit": 5},
    {"key": "database", "value": "bigquery", "limit": 4},
    {"key": "team", "value": {"applyLimitPerUniqueValue": True}, "limit": 2},
    {"key": "customer", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    {"key": "env", "value": "prod", "limit": 12},
    {"key": "backfill", "limit": 4},
    {"key": "region", "limit": 10},
    {"key": "source", "value": "sensor", "limit": 6},
    {"key": "dagster/partition_set", "value": {"applyLimitPerUniqueValue": True}, "limit": 3},
]

# Five pools with a limit (op granularity: the queue checks root steps against them).
POOLS: dict[str, int] = {"redshift": 2, "snowflake": 3, "api": 1, "gpu": 1, "s3": 4}

# Runs launched by one tick in the tick benchmarks: max_concurrent_runs, with nothing active.
LAUNCH_PER_TICK = 20

JOBS = ["redshift_etl", "snowflake_sync", "api_ingest", "orders_pipeline", "quick"]


def instance_document(max_concurrent_runs: int = LAUNCH_PER_TICK) -> dict[str, Any]:
    """The `dagster.yaml` both systems load (pools are set through each system's own API)."""
    return {
        "run_queue": {
            "max_concurrent_runs": max_concurrent_runs,
            "tag_concurrency_limits": [dict(limit) for limit in TAG_LIMITS],
        }
    }


def make_runs(n: int, seed: int = SEED, start: int = 0) -> list[dict[str, Any]]:
    """`n` queued runs: {"job", "tags", "priority", "pool_summary"} (summary may be None).

    Tags look like a real deployment's: most runs carry a database, a team and an env,
    some a customer, region, backfill or sensor source; one in ten has a priority tag.
    About 70% use a pool with a limit at a root step, some also have a root step outside
    any pool (so they start whatever the pool says).
    """
    rng = random.Random(seed + start)
    pool_keys = list(POOLS)
    runs = []
    for i in range(start, start + n):
        tags: dict[str, str] = {
            "team": f"team-{rng.randrange(12)}",
            "env": rng.choice(("prod", "prod", "staging", "dev")),
            "owner": f"user{rng.randrange(200)}@example.com",
        }
        roll = rng.random()
        if roll < 0.75:
            tags["database"] = rng.choice(("redshift", "snowflake", "bigquery", "postgres"))
        if rng.random() < 0.3:
            tags["customer"] = f"customer-{rng.randrange(400)}"
        if rng.random() < 0.4:
            tags["region"] = rng.choice(("eu-west-1", "us-east-1", "ap-south-1"))
        if rng.random() < 0.1:
            tags["backfill"] = f"bf-{rng.randrange(30)}"
            tags["dagster/partition_set"] = f"daily_{rng.randrange(8)}"
        if rng.random() < 0.2:
            tags["source"] = rng.choice(("sensor", "schedule"))
        priority = 0
        if rng.random() < 0.1:
            priority = rng.choice((-5, 1, 5, 10))
            tags["dagster/priority"] = str(priority)
        summary = None
        if rng.random() < 0.7:
            first = rng.choice(pool_keys)
            roots = {first: rng.choice((1, 1, 2))}
            all_pools = {first}
            if rng.random() < 0.2:
                second = rng.choice(pool_keys)
                roots[second] = roots.get(second, 0) + 1
                all_pools.add(second)
            if rng.random() < 0.3:
                all_pools.add(rng.choice(pool_keys))
            summary = {
                "root_pool_counts": roots,
                "all_pools": sorted(all_pools),
                "has_unconstrained_root": rng.random() < 0.15,
            }
        runs.append(
            {
                "job": JOBS[i % len(JOBS)],
                "tags": tags,
                "priority": priority,
                "pool_summary": summary,
            }
        )
    return runs


def stats(samples: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements (the figures every table shows)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "n": n}


def p95(samples: list[float]) -> float:
    """The 95th percentile (nearest rank) of latency samples, beside the median."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def interval_overlap(intervals: list[tuple[int, int]]) -> int:
    """Largest number of [start, end] intervals open at one instant (end before start on ties)."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best
