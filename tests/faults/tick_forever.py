"""`python -m tests.faults.tick_forever SECONDS`: force a run-queue tick every 200 ms.

Plays an operator running `manage.py tick run_queue` in a loop next to the beat
processes. Launches are sent to the workers as usual.
"""

from __future__ import annotations

import os
import sys
import time


def main(seconds: float) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    import django

    django.setup()
    from django.db import close_old_connections

    from queueing.services import run_queue

    deadline = time.monotonic() + seconds
    ticks = 0
    while time.monotonic() < deadline:
        close_old_connections()
        run_queue.tick(force=True)
        ticks += 1
        time.sleep(0.2)
    print(f"{ticks} ticks")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
