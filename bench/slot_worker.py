"""Slot benchmark processes: a claim/free loop, or an observer counting holders.

`slot_worker.py cycle POOL FOLDER SECONDS OUT RUN_ID`: once every process is ready (a
`ready-*` file each in FOLDER; the parent then writes FOLDER/go with the monotonic start
time), for SECONDS claim a slot of POOL for a new step, then free it (a blocked step waits
for the pool's notification, as the executor does); writes one line per cycle, "<claimed ns> <freed ns>" (CLOCK_MONOTONIC is shared by
every process of the machine, so the intervals of all workers can be merged).
`slot_worker.py observe POOL FOLDER SECONDS OUT`: count the holders of POOL in the
database in a loop for the same window; writes {"samples", "max_holders", "over_limit"}.

POOL may be a demand, `bench_w=2` (2 slots of one pool) or `bench_w=1,bench_api=1` (one
slot of each of two pools at once): the observer then sums the held slots of each pool.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_go(folder: str, name: str) -> float:
    """Say this process is ready, then sleep until the common start time."""
    Path(folder, f"ready-{name}").touch()
    go = Path(folder, "go")
    while not go.exists() or not go.read_text():
        time.sleep(0.01)
    start_at = float(go.read_text())
    time.sleep(max(0.0, start_at - time.monotonic()))
    return start_at


def demand_of(spec: str) -> dict[str, int]:
    """`bench_slots` -> {"bench_slots": 1}; `a=2,b=1` -> {"a": 2, "b": 1}."""
    demand = {}
    for item in spec.split(","):
        key, _, slots = item.partition("=")
        demand[key] = int(slots or 1)
    return demand


def cycle(pool: str, folder: str, seconds: float, out: str, run_id: str) -> None:
    from queueing.models import Run
    from queueing.services import pools

    run = Run.objects.get(run_id=run_id)
    demand = demand_of(pool)
    lines = []
    start_at = wait_go(folder, run_id)
    deadline = start_at + seconds
    step = 0
    # A blocked step waits for a free's notification, as the executor does (execution.py).
    wakeup = pools.PoolWakeup()
    while time.monotonic() < deadline:
        step_key = f"s{step}"
        if not pools.try_claim(run, step_key, demand, 0, None).claimed:
            wakeup.wait(0.05)
            continue
        claimed = time.monotonic_ns()
        freed = time.monotonic_ns()
        pools.free_step(run, step_key)
        lines.append(f"{claimed} {freed}\n")
        step += 1
    wakeup.close()
    # A step still waiting when time ran out leaves an entry: drop it.
    pools.free_run(run)
    with open(out, "w") as fh:
        fh.writelines(lines)


def observe(pool: str, folder: str, seconds: float, out: str) -> None:
    from django.db import connection

    from queueing.models import Pool, PoolClaim

    keys = sorted(demand_of(pool))
    limits = dict(Pool.objects.filter(key__in=keys).values_list("key", "limit"))
    table = PoolClaim._meta.db_table
    sql = (
        f"SELECT pool_key, COALESCE(SUM(slots), 0) FROM {table}"
        " WHERE pool_key = ANY(%s) AND claimed_at IS NOT NULL GROUP BY pool_key"
    )
    samples = over = highest = 0
    start_at = wait_go(folder, "observer")
    deadline = start_at + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # One statement reads one snapshot, so a count above the limit is real.
            cursor.execute(sql, [keys])
            held = dict(cursor.fetchall())
            samples += 1
            highest = max([highest, *held.values()])
            if any(held.get(key, 0) > limit for key, limit in limits.items()):
                over += 1
            # Polling flat out would take a core of two from the processes measured.
            time.sleep(0.002)
    with open(out, "w") as fh:
        json.dump({"samples": samples, "max_holders": highest, "over_limit": over}, fh)


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    mode, pool, folder, seconds, out = argv[:5]
    if mode == "cycle":
        cycle(pool, folder, float(seconds), out, argv[5])
    else:
        observe(pool, folder, float(seconds), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
