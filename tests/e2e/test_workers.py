"""Runs executed by real Celery worker and beat processes (not eager), end to end."""

from __future__ import annotations

import signal

import pytest

from queueing.engine.types import FINISHED_STATUSES, RunStatus
from queueing.models import PoolClaim, Run, Step
from queueing.services import pools, runs
from tests.services.helpers import load_config
from tests.support.workers import wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

FAST = {
    "run_queue": {"dequeue_interval_seconds": 1},
    "run_monitoring": {"poll_interval_seconds": 1},
}


def _finished(run_ids):
    def check():
        done = Run.objects.filter(run_id__in=run_ids, status__in=list(FINISHED_STATUSES)).count()
        return done == len(run_ids)

    return check


def _max_overlap(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def test_worker_runs_jobs_to_success_and_stores_a_failing_ops_traceback(processes):
    load_config(FAST)
    ok = runs.submit("redshift_etl", actor="test")
    bad = runs.submit("always_fails", actor="test")
    processes.worker()
    processes.beat()
    wait_until(_finished([ok.run_id, bad.run_id]), timeout=90, message="both runs to finish")
    ok.refresh_from_db()
    bad.refresh_from_db()
    assert ok.status == RunStatus.SUCCESS, processes.log("w1")[-3000:]
    assert all(s.status == Step.Status.SUCCESS for s in ok.steps.all())
    assert bad.status == RunStatus.FAILURE
    failed = bad.steps.get(status=Step.Status.FAILURE)
    assert "Traceback" in failed.error and "ValueError" in failed.error
    assert "always_fails" in bad.failure_reason or failed.step_key in bad.failure_reason


def test_thirty_runs_with_max_three_never_exceed_three_in_progress(processes):
    load_config({**FAST, "run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 3}})
    run_ids = [runs.submit("quick", actor="test").run_id for _ in range(30)]
    processes.worker(concurrency=8)
    processes.beat()
    wait_until(_finished(run_ids), timeout=240, interval=0.5, message="30 runs to finish")
    finished = Run.objects.filter(run_id__in=run_ids)
    assert {r.status for r in finished} == {RunStatus.SUCCESS}
    # In progress = from the launch (STARTING) to the end.
    assert _max_overlap([(r.launched_at, r.ended_at) for r in finished]) <= 3


def test_steps_on_a_pool_of_two_never_overlap_more_than_two(processes):
    load_config(FAST)
    pools.set_limit("shared", 2, actor="test")
    config = {
        "ops": {
            "pooled_sleep": {"config": {"seconds": 0.6}},
            "pooled_sleep_b": {"config": {"seconds": 0.6}},
        }
    }
    run_ids = [runs.submit("pooled_pair", run_config=config, actor="test").run_id for _ in range(6)]
    processes.worker(concurrency=8)
    processes.beat()
    wait_until(_finished(run_ids), timeout=180, interval=0.5, message="6 runs to finish")
    assert set(Run.objects.filter(run_id__in=run_ids).values_list("status", flat=True)) == {
        RunStatus.SUCCESS
    }
    steps = Step.objects.filter(run__run_id__in=run_ids)
    assert steps.count() == 12
    assert _max_overlap([(s.started_at, s.ended_at) for s in steps]) <= 2
    assert PoolClaim.objects.count() == 0
    # Each step's wait for its slot is stored (the pool page's statistics); with six runs
    # on two slots some waited.
    waits = [s.slot_wait_seconds for s in steps]
    assert None not in waits and max(waits) > 0


def test_a_step_that_kills_its_process_fails_the_step_not_the_worker(processes):
    load_config(FAST)
    crash = runs.submit("crashes", actor="test")
    after = runs.submit("quick", actor="test")
    processes.worker()
    processes.beat()
    wait_until(_finished([crash.run_id, after.run_id]), timeout=90, message="runs to finish")
    crash.refresh_from_db()
    assert crash.status == RunStatus.FAILURE
    step = crash.steps.get(step_key="crash_hard")
    assert step.status == Step.Status.FAILURE and "exited with code 7" in step.error
    assert crash.steps.get(step_key="downstream").status == Step.Status.SKIPPED
    assert Run.objects.get(run_id=after.run_id).status == RunStatus.SUCCESS


def test_worker_killed_mid_step_fails_its_run_frees_its_slot_and_the_queue_moves_on(processes):
    load_config(
        {
            "run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 1},
            "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1},
            "concurrency_ui": {"run_heartbeat_timeout_seconds": 6},
        }
    )
    pools.set_limit("shared", 1, actor="test")
    long = runs.submit(
        "pooled_pair",
        run_config={"ops": {"pooled_sleep": {"config": {"seconds": 60}}}},
        actor="test",
    )
    later = runs.submit("quick", actor="test")
    processes.worker("doomed", queues="runs")
    processes.worker("control", queues="control", concurrency=1)
    processes.beat()
    wait_until(
        lambda: PoolClaim.objects.filter(
            run__run_id=long.run_id, claimed_at__isnull=False
        ).exists(),
        timeout=60,
        message="the long step to hold its slot",
    )
    processes.kill("doomed", signal.SIGKILL)
    processes.worker("w2", queues="runs")
    wait_until(_finished([long.run_id]), timeout=60, message="monitoring to fail the dead run")
    long.refresh_from_db()
    assert long.status == RunStatus.FAILURE
    assert "heartbeat" in long.failure_reason
    wait_until(
        lambda: not PoolClaim.objects.filter(run__run_id=long.run_id).exists(),
        timeout=30,
        message="slots freed",
    )
    wait_until(_finished([later.run_id]), timeout=60, message="queued work to continue")
    assert Run.objects.get(run_id=later.run_id).status == RunStatus.SUCCESS


def test_max_concurrent_limits_parallel_steps_inside_a_run(processes):
    load_config(FAST)
    config = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
    run = runs.submit("parallel_fanout", run_config=config, actor="test")
    processes.worker()
    processes.beat()
    wait_until(_finished([run.run_id]), timeout=120, message="the fan-out run to finish")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCESS
    shards = [s for s in run.steps.all() if s.step_key.startswith("process_shard")]
    assert len(shards) == 4
    all_steps = list(run.steps.all())
    assert _max_overlap([(s.started_at, s.ended_at) for s in all_steps]) == 2


def test_without_beat_events_alone_launch_runs_and_the_next_one_when_a_run_ends(processes):
    # No beat process: only the ticks the submits and the run ends ask for can launch these.
    load_config({"run_queue": {"dequeue_interval_seconds": 3600, "max_concurrent_runs": 1}})
    first = runs.submit("quick", actor="test")
    second = runs.submit("quick", actor="test")
    processes.worker()
    wait_until(_finished([first.run_id, second.run_id]), timeout=90, message="both runs")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == RunStatus.SUCCESS, processes.log("w1")[-3000:]
    assert second.started_at >= first.ended_at  # the limit of one held


def _slot_peak(steps, pool: str) -> int:
    """The most slots of `pool` held at one instant by these steps (their run intervals)."""
    events = []
    for s in steps:
        slots = (s.pools or {}).get(pool, 0)
        if slots and s.started_at:
            events += [(s.started_at, 1, slots), (s.ended_at, -1, slots)]
    events.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, sign, slots in events:
        current += sign * slots
        peak = max(peak, current)
    return peak


def test_demo_weighted_and_two_pool_steps_run_within_their_pools(processes):
    """The demo's warehouse_rebuild (3 warehouse slots, then 1) and partner_sync (2
    warehouse + 1 partner_api at once) through real workers: all succeed, the pools are
    never over their limits, every slot is freed."""
    load_config(FAST)
    pools.set_limit("warehouse", 4, actor="test")
    pools.set_limit("partner_api", 1, actor="test")
    run_ids = [
        runs.submit(job, actor="test").run_id for job in ["warehouse_rebuild", "partner_sync"] * 3
    ]
    processes.worker(concurrency=8)
    processes.beat()
    wait_until(_finished(run_ids), timeout=240, interval=0.5, message="6 runs to finish")
    assert set(Run.objects.filter(run_id__in=run_ids).values_list("status", flat=True)) == {
        RunStatus.SUCCESS
    }, processes.log("w1")[-3000:]
    steps = list(Step.objects.filter(run__run_id__in=run_ids))
    assert {s.step_key: s.pools for s in steps} == {
        "rebuild_marts": {"warehouse": 3},
        "refresh_dashboards": {"warehouse": 1},
        "sync_partner": {"partner_api": 1, "warehouse": 2},
    }
    assert _slot_peak(steps, "warehouse") <= 4
    assert _slot_peak(steps, "partner_api") <= 1
    assert PoolClaim.objects.count() == 0
