"""Two beat processes and a forced tick loop, for SOAK_SECONDS (60 by default), while real
workers execute hundreds of runs: no limit is ever exceeded, no run launched twice.

An observer samples the database every 100 ms on its own connection.
"""

from __future__ import annotations

import os
import time

import pytest

from queueing.engine.types import RunStatus
from queueing.models import Run
from queueing.services import runs
from tests.services.helpers import load_config
from tests.support.workers import wait_until

from .helpers import Observer, all_finished, executions_per_run, launches_per_run, slots_held

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
MAX_RUNS = 5
DB_LIMIT = 2  # runs tagged db=..., whatever the value
WAREHOUSE_LIMIT = 1  # runs tagged db=warehouse


def test_two_beats_and_a_tick_loop_keep_every_limit_and_launch_each_run_once(processes):
    load_config(
        {
            "run_queue": {
                "dequeue_interval_seconds": 1,
                "max_concurrent_runs": MAX_RUNS,
                "tag_concurrency_limits": [
                    {"key": "db", "limit": DB_LIMIT},
                    {"key": "db", "value": "warehouse", "limit": WAREHOUSE_LIMIT},
                ],
            },
            "run_monitoring": {"poll_interval_seconds": 1},
        }
    )
    # More than the window can drain, so the ticks race on a full queue the whole time.
    tags = [{}, {"db": "warehouse"}, {"db": "lake"}, {}, {"db": "lake"}]
    run_ids = [
        runs.submit("quick", tags=tags[i % len(tags)], actor="test").run_id
        for i in range(int(max(200, SECONDS * 4)))
    ]
    processes.worker("runs", queues="runs", concurrency=8)
    processes.worker("control", queues="control", concurrency=2)
    processes.beat("beat1")
    processes.beat("beat2")
    started = time.monotonic()
    with Observer(tag_keys=("db",)) as observer:
        processes.start("ticker", ["-m", "tests.faults.tick_forever", str(SECONDS)])
        processes.procs["ticker"].wait(SECONDS + 120)
        assert processes.procs["ticker"].returncode == 0, processes.log("ticker")[-3000:]
        # Stop launching, then let what was launched finish, still under observation.
        for name in ("beat1", "beat2"):
            processes.kill(name)
        for run_id in Run.objects.filter(status=RunStatus.QUEUED).values_list("run_id", flat=True):
            runs.terminate(run_id, actor="test")
        launched = list(Run.objects.exclude(launched_at=None).values_list("run_id", flat=True))
        wait_until(
            lambda: all_finished(launched),
            timeout=120,
            interval=0.5,
            message="launched runs to finish",
        )
    elapsed = time.monotonic() - started

    seen = observer.observed
    executed = Run.objects.filter(run_id__in=run_ids, status=RunStatus.SUCCESS).count()
    print(
        f"\ntwo beats + tick loop: {SECONDS:.0f} s window, {elapsed:.0f} s in all, {executed} runs "
        f"executed, {seen.samples} samples; max in progress {seen.max_active}/{MAX_RUNS}, "
        f"db {seen.peak('tag', 'db', None)}/{DB_LIMIT}, "
        f"db=warehouse {seen.peak('tag', 'db', 'warehouse')}/{WAREHOUSE_LIMIT}; "
        f"{processes.log('ticker').strip().splitlines()[-1]}"
    )
    assert seen.samples >= SECONDS * 5, "the observer barely sampled"
    # Throughput depends on the machine (each step is a fresh Python process); the point
    # is that the ticks raced over many launches, which a few dozen runs already show.
    assert executed >= 30, "the workers barely executed anything"
    assert seen.max_active <= MAX_RUNS
    assert seen.peak("tag", "db", None) <= DB_LIMIT
    assert seen.peak("tag", "db", "warehouse") <= WAREHOUSE_LIMIT
    launches = launches_per_run()
    assert len(launches) == len(launched) and max(launches.values()) == 1, (
        "a run was launched twice"
    )
    assert max(executions_per_run().values()) == 1, "a run was executed twice"
    assert set(Run.objects.filter(run_id__in=launched).values_list("status", flat=True)) == {
        RunStatus.SUCCESS
    }
    assert slots_held() == 0
