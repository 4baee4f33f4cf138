"""Soak: SOAK_RUNS runs (150 in CI, 2,000 with `make soak`) of a mixed demo workload
through 4 worker processes, with run limits, tag limits and pools, and limit changes by an
admin while it runs.

At the end every run is finished, every slot free, every step and audit record complete,
and an observer sampling every 100 ms never saw a limit exceeded. The figures are printed.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, Run, RunEvent, Step
from queueing.services import pools, runs
from tests.services.helpers import load_config
from tests.support.workers import wait_until

from .helpers import Observer, all_finished, executions_per_run, launches_per_run, slots_held

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

RUNS = int(os.environ.get("SOAK_RUNS", "150"))
WORKERS = 4
MAX_RUNS = 8
LIMITS = {
    ("tag", "database", None): 3,  # runs carrying a `database` tag, any value
    ("tag", "database", "redshift"): 2,
    ("tag", "team", None): 1,  # always_fails carries team=demo
    ("pool", "redshift"): 1,
    ("pool", "api"): 2,
}
# Mix: (job, share, expected status)
MIX = [
    ("quick", 8, RunStatus.SUCCESS),
    ("redshift_etl", 5, RunStatus.SUCCESS),
    ("api_ingest", 5, RunStatus.SUCCESS),
    ("always_fails", 2, RunStatus.FAILURE),
]


def workload(count: int) -> list[str]:
    wheel = [job for job, share, _ in MIX for _ in range(share)]
    return [wheel[(i * 7) % len(wheel)] for i in range(count)]


def test_soak_mixed_workload_finishes_cleanly_within_every_limit(processes):
    load_config(
        {
            "run_queue": {
                "dequeue_interval_seconds": 1,
                "max_concurrent_runs": MAX_RUNS,
                "tag_concurrency_limits": [
                    {"key": "database", "limit": LIMITS[("tag", "database", None)]},
                    {
                        "key": "database",
                        "value": "redshift",
                        "limit": LIMITS[("tag", "database", "redshift")],
                    },
                    {"key": "team", "limit": LIMITS[("tag", "team", None)]},
                ],
            },
            "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 5},
        }
    )
    pools.set_limit("redshift", LIMITS[("pool", "redshift")], actor="soak-admin")
    pools.set_limit("api", LIMITS[("pool", "api")], actor="soak-admin")
    jobs = workload(RUNS)
    run_ids = [runs.submit(job, actor="soak").run_id for job in jobs]
    expected = {job: status for job, _, status in MIX}

    for i in range(WORKERS):
        processes.worker(f"runs{i}", queues="runs", concurrency=4)
    processes.worker("control", queues="control", concurrency=1)
    processes.beat()
    started = time.monotonic()
    with Observer(tag_keys=("database", "team")) as observer:
        # Halfway, an admin tightens the api pool and re-prioritises a queued run.
        wait_until(
            lambda: (
                Run.objects.filter(status__in=[RunStatus.SUCCESS, RunStatus.FAILURE]).count()
                >= RUNS // 2
            ),
            timeout=RUNS * 3 + 120,
            interval=0.5,
            message="half of the runs to finish",
        )
        pools.set_limit("api", 1, actor="soak-admin")
        still_queued = Run.objects.filter(status=RunStatus.QUEUED).order_by("-id").first()
        if still_queued is not None:
            runs.set_priority(still_queued.run_id, 5, actor="soak-operator")
        wait_until(
            lambda: all_finished(run_ids),
            timeout=RUNS * 3 + 120,
            interval=0.5,
            message="every run to finish",
        )
        wait_until(lambda: slots_held() == 0, timeout=60, message="every slot to be freed")
    duration = time.monotonic() - started

    seen = observer.observed
    figures = ", ".join(
        f"{'/'.join(str(p) for p in key[1:] if p)} {seen.peak(*key)}/{limit}"
        for key, limit in LIMITS.items()
    )
    by_job = Counter(Run.objects.filter(run_id__in=run_ids).values_list("job_name", "status"))
    print(
        f"\nsoak: {RUNS} runs in {duration:.0f} s ({RUNS / duration:.2f} runs/s) on {WORKERS} workers; "
        f"{Step.objects.count()} steps; {seen.samples} samples; max in progress {seen.max_active}/{MAX_RUNS}; "
        f"{figures}; {dict(by_job)}"
    )

    # Every limit held at every sample.
    assert seen.samples >= duration * 5
    assert seen.max_active <= MAX_RUNS
    for key, limit in LIMITS.items():
        assert seen.peak(*key) <= limit, (key, seen.peak(*key), limit)
    assert seen.peak("pool", "redshift") == 1, "the soak never used the redshift pool"

    # Every run finished as its job should, launched and executed exactly once.
    for (job, status), count in by_job.items():
        assert status == expected[job], (job, status, count)
    assert sum(by_job.values()) == RUNS
    launches = launches_per_run()
    assert len(launches) == RUNS and set(launches.values()) == {1}
    assert len(executions_per_run()) == RUNS and set(executions_per_run().values()) == {1}
    assert slots_held() == 0

    # Step records: every step ended, with its timing, process and outcome.
    steps = Step.objects.filter(run__run_id__in=run_ids)
    assert steps.exclude(status__in=[Step.Status.SUCCESS, Step.Status.FAILURE]).count() == 0
    assert steps.filter(started_at__isnull=True).count() == 0
    assert steps.filter(ended_at__isnull=True).count() == 0
    assert steps.filter(pid__isnull=True).count() == 0
    failed = steps.filter(status=Step.Status.FAILURE)
    assert set(failed.values_list("run__job_name", flat=True)) <= {"always_fails"}
    assert all("ValueError" in error for error in failed.values_list("error", flat=True))
    assert RunEvent.objects.filter(kind="step_start").count() == steps.count()
    assert (
        RunEvent.objects.filter(kind__in=["step_success", "step_failure"]).count() == steps.count()
    )
    for kind in ("enqueued", "starting", "started"):
        assert RunEvent.objects.filter(kind=kind).count() == RUNS, kind
    assert RunEvent.objects.filter(kind__in=["success", "failure"]).count() == RUNS

    # The audit log has every change, in order, with who, what and the values.
    audit = list(
        AuditEntry.objects.filter(actor__startswith="soak")
        .order_by("id")
        .values_list("actor", "action", "target", "old_value", "new_value")
    )
    expected_audit = [
        ("soak-admin", "pool.set_limit", "redshift", None, 1),
        ("soak-admin", "pool.set_limit", "api", None, 2),
        ("soak-admin", "pool.set_limit", "api", 2, 1),
    ]
    if still_queued is not None:
        expected_audit.append(("soak-operator", "run.set_priority", still_queued.run_id, 0, 5))
    assert audit == expected_audit
