"""`python -m tests.support.tick_loop SECONDS [finish]`: tick the run queue in a loop.

With `finish`, also plays the part of instant workers: every STARTING run is moved to
STARTED then SUCCESS, so the queue drains while ticks from several processes race.
"""

from __future__ import annotations

import os
import sys
import time


def main(seconds: float, finish: bool) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    from queueing.engine.types import RunStatus
    from queueing.models import Run
    from queueing.services import run_queue, runs

    run_queue.send_launches = lambda ids: None  # no broker in this test: we finish runs here
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run_queue.tick()
        if finish:
            starting = list(
                Run.objects.filter(status=RunStatus.STARTING).values_list("run_id", flat=True)[:5]
            )
            started = runs.transition(starting, RunStatus.STARTING, RunStatus.STARTED)
            time.sleep(0.02)
            runs.transition(started, RunStatus.STARTED, RunStatus.SUCCESS)
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "finish"))
