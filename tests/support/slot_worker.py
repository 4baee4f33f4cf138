"""A process that claims and frees slots of one pool in a loop (stress tests, benchmarks).

`python -m tests.support.slot_worker RUN_ID POOL SECONDS OUT_FILE` writes one line per
cycle: "<claimed monotonic ns> <freed monotonic ns>" measured while the slot was held.
CLOCK_MONOTONIC is shared by all processes of one machine, so intervals compare.
"""

from __future__ import annotations

import os
import sys
import time


def main(run_id: str, pool: str, seconds: float, out: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    from queueing.models import Run
    from queueing.services import pools

    run = Run.objects.get(run_id=run_id)
    deadline = time.monotonic() + seconds
    lines = []
    cycle = 0
    while time.monotonic() < deadline:
        step_key = f"s{cycle}"
        result = pools.try_claim(run, step_key, pool, 0, None)
        if not result.claimed:
            continue
        claimed = time.monotonic_ns()
        time.sleep(0.002)
        freed = time.monotonic_ns()
        pools.free_step(run, step_key)
        lines.append(f"{claimed} {freed}\n")
        cycle += 1
    # Entries left waiting when time ran out are not claims: drop them.
    pools.free_run(run)
    with open(out, "w") as fh:
        fh.writelines(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
