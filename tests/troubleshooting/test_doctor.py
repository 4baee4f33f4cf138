"""Each doctor check, against the faulty situation created for real, then fixed.

The broker is replaced (`workers` fixture) except where a test is about the broker itself;
tests/troubleshooting/test_doctor_processes.py does the same with real worker and beat
processes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.doctor import CHECKS
from queueing.engine.doctor.facts import WorkerFacts
from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, DaemonHeartbeat, PoolClaim, Run
from queueing.services import doctor, heartbeats, monitoring, pools, run_queue, runs
from queueing.services.doctor import celery_queues

from .helpers import evidence, finding, later, load, submit

pytestmark = pytest.mark.django_db


def _start(run: Run) -> None:
    runs.transition(
        [run.run_id], RunStatus.STARTING, RunStatus.STARTED, heartbeat_at=timezone.now()
    )


def test_every_check_reports_once_in_a_fixed_order(workers):
    assert [f.check for f in doctor.diagnose()] == list(CHECKS)


# --- daemons ------------------------------------------------------------------------------


def test_run_queue_daemon_that_never_ticked_is_a_problem_until_a_tick_runs(workers):
    never = finding("run_queue_daemon")
    assert never.status == "problem"
    assert "never run" in never.title
    assert "no heartbeat of the run-queue daemon" in evidence(never)

    run_queue.tick()

    running = finding("run_queue_daemon")
    assert running.status == "ok"
    assert "last heartbeat 0 s ago" in evidence(running)


def test_a_stale_run_queue_heartbeat_is_a_problem_and_a_late_one_a_warning(workers):
    load({"run_queue": {"dequeue_interval_seconds": 5}})
    run_queue.tick()

    # 5 s interval + 60 s tolerance: 20 s is late (> 3 intervals), 200 s is dead.
    late = finding("run_queue_daemon", now=later(20))
    dead = finding("run_queue_daemon", now=later(200))

    assert late.status == "warning" and "late" in late.title
    assert dead.status == "problem" and dead.title == "The run-queue daemon is not running"
    assert "last heartbeat 200 s ago" in evidence(dead) or "last heartbeat 3 min ago" in evidence(
        dead
    )
    assert "within 65 s" in evidence(dead)


def test_a_run_queue_daemon_whose_ticks_fail_is_a_warning_with_the_error(workers):
    run_queue.tick()
    heartbeats.beat_error(
        DaemonHeartbeat.Daemon.RUN_QUEUE, RuntimeError("database is locked"), timezone.now()
    )

    failing = finding("run_queue_daemon")

    assert failing.status == "warning"
    assert "recent error: RuntimeError: database is locked" in evidence(failing)


def test_monitoring_daemon_is_checked_only_while_monitoring_is_enabled(workers):
    assert finding("monitoring_daemon").status == "problem"  # enabled by default, never ran

    monitoring.tick()
    assert finding("monitoring_daemon").status == "ok"
    assert finding("monitoring_daemon", now=later(300)).status == "problem"

    load({"run_monitoring": {"enabled": False}})
    disabled = finding("monitoring_daemon", now=later(300))
    assert disabled.status == "ok" and "disabled" in disabled.title


def test_a_broker_that_does_not_answer_is_a_problem_not_a_crash(workers, monkeypatch):
    from celery import Celery

    # A real client pointed at a port nothing listens on (Celery prefers the variable).
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    workers.facts = celery_queues(Celery("dead", broker="redis://127.0.0.1:1/0"), timeout=0.5)

    broken = finding("workers")

    assert broken.status == "problem"
    assert "broker" in broken.title
    assert "broker" in evidence(broken)


def test_a_queue_without_consumer_is_a_problem_naming_the_queue(workers):
    workers.facts = WorkerFacts({"w1@host": ("control",)})

    missing = finding("workers")

    assert missing.status == "problem"
    assert missing.title == "No worker consumes the runs queue"
    assert "worker w1@host consumes control" in evidence(missing)
    assert "launched runs stay STARTING" in evidence(missing)

    workers.facts = WorkerFacts({"w1@host": ("control", "runs")})
    assert finding("workers").status == "ok"


def test_a_process_restarted_by_manage_py_dev_is_a_warning_read_from_its_state(
    workers, settings, tmp_path
):
    import json
    import time

    settings.VAR_DIR = tmp_path
    assert finding("processes").status == "ok"
    now = time.time()
    state = {
        "pid": 1,
        "host": "h",
        "started_at": now - 100,
        "updated_at": now,
        "stopped_at": None,
        "processes": [
            {
                "name": "runs",
                "running": True,
                "pid": 7,
                "started_at": now - 5,
                "restarts": 1,
                "last_exit_code": -9,
                "last_exit_at": now - 6,
                "next_restart_at": None,
            },
        ],
    }
    (tmp_path / "supervisor.json").write_text(json.dumps(state))

    restarted = finding("processes")

    assert restarted.status == "warning"
    assert "restarted 1 time(s)" in evidence(restarted) and "killed by SIGKILL" in evidence(
        restarted
    )


# --- storage ------------------------------------------------------------------------------


def test_a_daemon_writing_with_another_database_fingerprint_is_reported(workers):
    # What a daemon started with another DATABASE_URL left here before it moved away.
    DaemonHeartbeat.objects.create(
        daemon=DaemonHeartbeat.Daemon.RUN_QUEUE,
        instance_id="0123456789abcdef",
        host="daemon-host",
        pid=4242,
        last_heartbeat=timezone.now() - timedelta(minutes=10),
    )

    moved = finding("same_database")

    assert moved.status == "problem"
    assert moved.title == "The web server and the daemon use different databases"
    assert "fingerprint 0123456789abcdef" in evidence(moved)
    assert f"this server's database fingerprint is {heartbeats.instance_id()}" in evidence(moved)
    assert "daemon-host (pid 4242)" in evidence(moved)

    # Still heartbeating here: the same database under another address.
    DaemonHeartbeat.objects.filter(daemon="run_queue").update(last_heartbeat=timezone.now())
    assert finding("same_database").status == "warning"

    run_queue.tick()  # a daemon on this database overwrites the row
    assert finding("same_database").status == "ok"


# --- limits -------------------------------------------------------------------------------


def test_max_concurrent_runs_of_zero_is_a_problem_until_raised(workers):
    load({"run_queue": {"max_concurrent_runs": 0}})
    submit()
    submit()

    frozen = finding("max_concurrent_runs")

    assert frozen.status == "problem"
    assert "2 run(s) queued" in evidence(frozen)

    load({"run_queue": {"max_concurrent_runs": 3}})
    assert finding("max_concurrent_runs").status == "ok"


def test_a_queue_full_of_in_progress_runs_names_them_and_the_stuck_ones(workers):
    load({"run_queue": {"max_concurrent_runs": 2}})
    first, second, _third = submit(), submit(), submit()
    run_queue.tick()

    full = finding("in_progress")
    assert full.status == "warning" and full.title == "The queue is full of in-progress runs"
    assert "2 of 2 runs in progress, 1 queued" in evidence(full)
    assert "the queue has been full for" in evidence(full)

    # Two minutes later nobody picked the launches up: STARTING that long looks stuck.
    stuck = finding("in_progress", now=later(120))
    assert stuck.status == "problem"
    assert f"run {first.run_id[:8]} (quick) STARTING" in evidence(stuck)
    assert "looks stuck: STARTING for 2 min" in evidence(stuck)

    for run in (first, second):
        _start(run)
        runs.transition([run.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
    run_queue.tick()
    assert finding("in_progress").status == "ok"


def test_a_started_run_whose_worker_stopped_heartbeating_looks_stuck(workers):
    run = submit()
    run_queue.tick()
    _start(run)

    assert finding("in_progress").status == "ok"
    stuck = finding("in_progress", now=later(180))
    assert stuck.status == "warning"
    assert "worker's last heartbeat was 3 min ago" in evidence(stuck)


def _holding_api_slots() -> Run:
    run = submit("api_ingest")
    run_queue.tick()
    _start(run)
    for step in run.steps.filter(pool="api"):
        assert pools.try_claim(run, step.step_key, "api", step.priority, None).claimed
    return run


def test_slots_of_a_finished_run_are_a_leak_with_a_one_click_release(workers):
    pools.set_limit("api", 3, actor="test")
    run = _holding_api_slots()
    # The run ends without its executor freeing the slots (a killed worker would).
    runs.transition([run.run_id], RunStatus.STARTED, RunStatus.FAILURE)

    soon = finding("slot_leaks")
    assert soon.status == "warning" and "monitoring frees it within" in evidence(soon)

    leak = finding("slot_leaks", now=later(300))
    assert leak.status == "problem"
    assert f"run {run.run_id[:8]} is FAILURE, ended 5 min ago but holds 3 slot(s)" in evidence(leak)
    assert "api:fetch_customers" in evidence(leak)
    assert [(a.kind, a.run_id) for a in leak.actions] == [("release_slots", run.run_id)]

    assert doctor.release_slots(run.run_id, actor="admin-user") == 3

    assert not PoolClaim.objects.filter(run=run).exists()
    entry = AuditEntry.objects.get(action="pool.free_slots")
    assert entry.actor == "admin-user" and entry.target == run.run_id
    assert finding("slot_leaks", now=later(300)).status == "ok"


def test_without_slot_release_a_finished_runs_slots_leak_at_once(workers):
    load({"run_monitoring": {"free_slots_after_run_end_seconds": 0}})
    pools.set_limit("api", 3, actor="test")
    run = _holding_api_slots()
    runs.transition([run.run_id], RunStatus.STARTED, RunStatus.SUCCESS)

    assert finding("slot_leaks").status == "problem"


def test_the_release_refuses_a_run_still_in_progress(workers):
    from queueing.errors import Conflict

    pools.set_limit("api", 3, actor="test")
    run = _holding_api_slots()

    with pytest.raises(Conflict):
        doctor.release_slots(run.run_id, actor="admin-user")
    assert PoolClaim.objects.filter(run=run).count() == 3


def test_a_pool_with_limit_zero_that_queued_runs_need_is_a_problem(workers):
    pools.set_limit("api", 0, actor="test")
    submit("api_ingest")

    closed = finding("pools")
    assert closed.status == "problem"
    assert "pool api is closed (limit 0): 1 queued run(s) use it" in evidence(closed)

    pools.set_limit("api", 2, actor="test")
    assert finding("pools").status == "ok"


def test_a_pool_with_limit_zero_nobody_uses_is_a_warning(workers):
    pools.set_limit("unused", 0, actor="test")
    assert finding("pools").status == "warning"


def test_pools_never_configured_while_the_default_limit_is_zero_are_a_problem(workers):
    load({"concurrency": {"pools": {"default_limit": 0}}})
    submit("redshift_etl")

    before_tick = finding("pools")
    assert before_tick.status == "problem"
    assert "pool redshift has no limit of its own; default_limit 0 closes it" in evidence(
        before_tick
    )

    run_queue.tick()  # the tick gives the pool its default (Q3)
    after_tick = finding("pools")
    assert "pool redshift is closed (limit 0, from default_limit)" in evidence(after_tick)

    load({"concurrency": {"pools": {"default_limit": 2}}})
    assert finding("pools").status == "ok"


def test_a_tag_limit_of_zero_that_blocks_queued_runs_is_a_problem(workers):
    limits = [{"key": "database", "value": "redshift", "limit": 0}]
    load({"run_queue": {"tag_concurrency_limits": limits}})
    submit("redshift_etl")

    blocked = finding("tag_limits")
    assert blocked.status == "problem"
    assert (
        "tag limit database=redshift ≤ 0 blocks every run carrying it: 1 queued run(s) do"
        in evidence(blocked)
    )

    load({"run_queue": {"tag_concurrency_limits": [{**limits[0], "limit": 1}]}})
    assert finding("tag_limits").status == "ok"


def test_a_tag_limit_no_run_can_match_is_a_warning_with_a_suggestion(workers):
    load({"run_queue": {"tag_concurrency_limits": [{"key": "databse", "limit": 1}]}})
    submit("redshift_etl")

    typo = finding("tag_limits")
    assert typo.status == "warning"
    assert "matches none of the 1 queued runs and no job sets databse" in evidence(typo)
    assert "did you mean 'database'?" in evidence(typo)

    load({"run_queue": {"tag_concurrency_limits": [{"key": "database", "limit": 1}]}})
    assert finding("tag_limits").status == "ok"


def test_a_tag_limit_on_an_op_tag_is_a_warning(workers):
    limits = [{"key": "dagster/concurrency_key", "limit": 1}]
    load({"run_queue": {"tag_concurrency_limits": limits}})
    submit("redshift_etl")

    op_tag = finding("tag_limits")
    assert op_tag.status == "warning"
    assert "appears only as an op tag" in evidence(op_tag)


# --- waiting ------------------------------------------------------------------------------


def test_a_run_waiting_five_times_the_median_of_its_priority_is_starved(workers):
    load({"run_queue": {"tag_concurrency_limits": [{"key": "database", "limit": 0}]}})
    # History: five runs of priority 0 that each waited 10 s before their launch.
    history = [submit() for _ in range(5)]
    run_queue.tick(now=later(10))
    for run in history:
        _start(run)
        runs.transition([run.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
    starving = submit("redshift_etl")
    run_queue.tick()

    starved = finding("starved_runs", now=later(600))
    assert starved.status == "warning"
    line = evidence(starved)
    assert f"run {starving.run_id[:8]} (redshift_etl, priority 0) has waited 10 min" in line
    assert "median wait of 10 s over 5 recent launches" in line
    assert "held by tag database: limit is 0" in line

    load({"run_queue": {"tag_concurrency_limits": [{"key": "database", "limit": 1}]}})
    run_queue.tick()
    assert finding("starved_runs", now=later(600)).status == "ok"


def test_launchable_runs_that_nothing_launched_for_three_ticks_are_a_problem(workers):
    load({"run_queue": {"dequeue_interval_seconds": 5}})
    waiting = submit()

    assert finding("stalled_queue").status == "ok"  # just submitted
    stalled = finding("stalled_queue", now=later(60))
    assert stalled.status == "problem"
    assert "the next tick would launch 1 run(s): " + waiting.run_id[:8] in evidence(stalled)
    assert "no run was ever launched" in evidence(stalled)

    run_queue.tick()
    assert finding("stalled_queue", now=later(10)).status == "ok"


def test_a_queue_with_capacity_held_entirely_by_limits_is_a_warning_naming_them(workers):
    limits = [{"key": "database", "value": "redshift", "limit": 1}]
    load({"run_queue": {"dequeue_interval_seconds": 5, "tag_concurrency_limits": limits}})
    submit("redshift_etl")
    submit("redshift_etl")
    run_queue.tick()

    held = finding("stalled_queue", now=later(60))

    assert held.status == "warning"
    assert "1 run(s) held by tag database=redshift: 1 of 1 runs" in evidence(held)


def test_configuration_warnings_are_reported_with_their_setting(workers):
    load({"run_monitoring": {"start_timeout_seconds": 0}})

    warned = finding("configuration")

    assert warned.status == "warning"
    assert evidence(warned).startswith(
        "run_monitoring.start_timeout_seconds: start timeout is disabled"
    )

    load({"run_monitoring": {"start_timeout_seconds": 120}})
    assert finding("configuration").status == "ok"
