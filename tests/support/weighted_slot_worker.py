"""A process that claims random weighted and multi-pool demands in a loop (stress test).

`python -m tests.support.weighted_slot_worker RUN_ID SECONDS QUOTA SEED OUT_FILE`: until
SECONDS have passed and at least QUOTA claims were made, claim a random demand over the
pools of `DEMANDS` for a new step (a blocked step keeps its place in line and waits for a
free's notification, as the executor does), hold it briefly, free it. Writes one line per
claim: "<claimed ns> <freed ns> <pool>=<slots>,..." measured while the slots were held
(CLOCK_MONOTONIC is shared by the processes of one machine, so intervals compare), and a
last line "waited <longest wait for one claim, ms>".
"""

from __future__ import annotations

import os
import random
import sys
import time

# pool -> (limit, the weights a step may ask of it)
POOLS = {"warehouse": (5, (1, 2, 3)), "partner_api": (2, (1, 2)), "scratch": (3, (1, 3))}


def random_demand(rng: random.Random) -> dict[str, int]:
    keys = rng.sample(sorted(POOLS), rng.choice((1, 1, 2, 3)))
    return {key: rng.choice(POOLS[key][1]) for key in sorted(keys)}


def main(run_id: str, seconds: float, quota: int, seed: int, out: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    from queueing.models import Run
    from queueing.services import pools

    rng = random.Random(seed)
    run = Run.objects.get(run_id=run_id)
    wakeup = pools.PoolWakeup()
    deadline = time.monotonic() + seconds
    lines = []
    longest = 0.0
    cycle = 0
    while time.monotonic() < deadline or cycle < quota:
        step_key = f"s{cycle}"
        demand = random_demand(rng)
        asked = time.monotonic()
        while not pools.try_claim(run, step_key, demand, rng.choice((0, 0, 1)), None).claimed:
            wakeup.wait(0.05)
        claimed = time.monotonic_ns()
        longest = max(longest, time.monotonic() - asked)
        time.sleep(rng.choice((0.0, 0.001, 0.003)))
        freed = time.monotonic_ns()
        pools.free_step(run, step_key)
        spec = ",".join(f"{key}={slots}" for key, slots in demand.items())
        lines.append(f"{claimed} {freed} {spec}\n")
        cycle += 1
    wakeup.close()
    with open(out, "w") as fh:
        fh.writelines(lines)
        fh.write(f"waited {longest * 1000:.0f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]))
