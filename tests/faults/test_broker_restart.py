"""The Redis broker crashes for ~10 s, losing every message, while runs are queued and running.

No run is lost and none is launched or executed twice: running runs go on (they only need
the database), ticks resume when the broker is back, and a run launched while it was down
(its message could not be sent) is re-sent by run monitoring.

The test crashes its own throw-away Redis, never the shared one.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import DaemonHeartbeat, Run, TickRecord
from queueing.services import runs
from tests.services.helpers import load_config
from tests.support.workers import ROOT, child_env, wait_until

from .helpers import (
    Observer,
    RedisServer,
    all_finished,
    executions_per_run,
    free_port,
    launches_per_run,
    slots_held,
    unfinished_steps,
)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

OUTAGE_SECONDS = 10
MAX_RUNS = 4


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


def sleepy(seconds: float, priority: int = 0) -> str:
    config = {"ops": {"plain_sleep": {"config": {"seconds": seconds}}}}
    tags = {"dagster/priority": str(priority)}
    return runs.submit("sleepy", tags=tags, run_config=config, actor="test").run_id


def manual_tick(broker_url: str) -> subprocess.CompletedProcess:
    """`manage.py tick run_queue`, as an operator would run it, against `broker_url`."""
    return subprocess.run(
        [sys.executable, "manage.py", "tick", "run_queue"],
        cwd=ROOT,
        env=child_env(CELERY_BROKER_URL=broker_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_broker_crash_loses_no_run_and_launches_none_twice(processes, broker):
    load_config(
        {
            "run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": MAX_RUNS},
            "run_monitoring": {"poll_interval_seconds": 1, "start_timeout_seconds": 120},
            "concurrency_ui": {"resend_starting_after_seconds": 5},
        }
    )
    run_ids = [sleepy(3) for _ in range(12)]
    for name, queues in (("w1", "runs"), ("control", "control")):
        concurrency = 8 if queues == "runs" else 1
        processes.worker(name, queues=queues, concurrency=concurrency, CELERY_BROKER_URL=broker.url)
    processes.beat(CELERY_BROKER_URL=broker.url)
    with Observer() as observer:
        # Crash while runs execute and none waits for its message, so the runs in progress
        # finish during the outage and leave room for a launch while the broker is down.
        wait_until(
            lambda: (
                Run.objects.filter(run_id__in=run_ids, status=RunStatus.STARTED).count() >= 2
                and not Run.objects.filter(status=RunStatus.STARTING).exists()
            ),
            timeout=90,
            interval=0.05,
            message="runs executing before the crash",
        )

        broker.crash()
        crashed_at = timezone.now()
        in_flight = set(
            Run.objects.filter(
                run_id__in=run_ids, status__in=[RunStatus.STARTING, RunStatus.STARTED]
            ).values_list("run_id", flat=True)
        )
        # Launched while the broker is down: the tick commits, the send fails and is logged.
        late = sleepy(1, priority=10)
        # The runs in progress finish on the database alone, leaving room to launch.
        wait_until(lambda: all_finished(in_flight), timeout=60, message="in-flight runs to finish")
        failed = list(
            Run.objects.filter(run_id__in=in_flight, status=RunStatus.FAILURE).values_list(
                "failure_reason", "steps__error"
            )
        )
        assert not failed, (failed, processes.log("w1")[-3000:])
        tick = manual_tick(broker.url)
        assert tick.returncode == 0, tick.stdout + tick.stderr
        # Launched during the outage (by this tick, or by a tick task the control worker
        # had received just before the crash): committed as STARTING, its message unsent.
        late_run = Run.objects.get(run_id=late)
        assert late_run.status == RunStatus.STARTING, (tick.stdout, late_run.status)
        assert late_run.launched_at > crashed_at
        time.sleep(max(0.0, OUTAGE_SECONDS - (timezone.now() - crashed_at).total_seconds()))

        broker.start()
        restarted_at = timezone.now()
        wait_until(
            lambda: all_finished([*run_ids, late]),
            timeout=180,
            interval=0.5,
            message="every run to finish",
        )

    statuses = dict(Run.objects.filter(run_id__in=[*run_ids, late]).values_list("run_id", "status"))
    assert set(statuses.values()) == {RunStatus.SUCCESS}, statuses
    assert unfinished_steps([*run_ids, late]) == 0
    launches = launches_per_run()
    assert len(launches) == 13 and max(launches.values()) == 1, "a run was launched twice"
    assert max(executions_per_run().values()) == 1, "a run was executed twice"
    # The late run's message was never sent: monitoring sent it again once Redis was back.
    assert Run.objects.get(run_id=late).launch_count >= 1
    # Ticks resumed after the restart, and limits held throughout.
    assert TickRecord.objects.filter(
        daemon="run_queue", started_at__gt=restarted_at, error=""
    ).exists()
    assert DaemonHeartbeat.objects.get(daemon="run_queue").last_success_at > restarted_at
    assert observer.observed.samples > 50
    assert observer.observed.max_active <= MAX_RUNS
    assert slots_held() == 0
