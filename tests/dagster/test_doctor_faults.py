"""The doctor against faults made on a real Dagster instance: a stopped daemon, a leaked
slot, a frozen queue, pools without a limit row, a stalled queue, a tag limit for nothing."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from dagster._daemon.types import DaemonHeartbeat

from queueing import dagster_source
from queueing.dagster_source.doctor import diagnose
from queueing.models import AuditEntry

from .harness import RunSpec, Scenario


def finding(check: str):
    state = dagster_source.load_state()
    return next(f for f in diagnose(state) if f.check == check)


def beat(instance, age: float) -> None:
    instance.add_daemon_heartbeat(
        DaemonHeartbeat(time.time() - age, "QUEUED_RUN_COORDINATOR", "daemon-1", [])
    )


def test_a_stopped_daemon_is_a_problem_while_dagster_still_calls_it_running(deployment):
    instance, _ = deployment(Scenario(queued=(RunSpec(),)))
    assert finding("run_queue_daemon").status == "problem"  # never ran
    beat(instance, 5)
    assert finding("run_queue_daemon").status == "ok"
    beat(instance, 600)  # the daemon stopped ten minutes ago
    stopped = finding("run_queue_daemon")
    assert stopped.status == "problem" and stopped.title == "The run-queue daemon is not running"
    assert "last heartbeat 10 min ago" in stopped.evidence[0]
    assert "dagster-daemon run" in stopped.fix
    # Dagster's own status (its UI's rule) still says healthy: the doctor is why this exists.
    status = instance.get_daemon_statuses(["QUEUED_RUN_COORDINATOR"])["QUEUED_RUN_COORDINATOR"]
    assert status.healthy


@pytest.mark.django_db
def test_a_slot_leaked_by_a_finished_run_is_found_and_freed_with_an_audit_entry(
    deployment, settings
):
    instance, ids = deployment(
        Scenario(
            pool_limits={"redshift": 1},
            others=(RunSpec(roots={"redshift": 1}, status="SUCCESS"),),
            held=(("redshift", 0, "load"),),
            queued=(RunSpec(roots={"redshift": 1}),),
        )
    )
    leaked = ids["others"][0]
    leak = finding("slot_leaks")
    assert leak.status == "problem"
    assert f"run {leaked[:8]} is SUCCESS" in leak.evidence[0]
    assert [a.run_id for a in leak.actions] == [leaked]
    # The queued run waits on the slot the finished run holds.
    state = dagster_source.load_state()
    from queueing.dagster_source.queue import decision

    verdict = decision(state).verdicts[ids["queued"][0]]
    assert verdict.blocking.subject == "redshift" and verdict.blocking.holders == (leaked,)

    from queueing.dagster_source import writes
    from queueing.errors import Conflict

    with pytest.raises(Conflict, match="DAGSTER_WRITES_ENABLED"):
        writes.free_run_slots(leaked, actor="admin")
    assert instance.event_log_storage.get_concurrency_info("redshift").claimed_slots
    settings.DAGSTER_WRITES_ENABLED = True
    assert writes.free_run_slots(leaked, actor="admin") == 1
    assert not instance.event_log_storage.get_concurrency_info("redshift").claimed_slots
    entry = AuditEntry.objects.get(action="dagster.slots.free")
    assert (
        entry.actor == "admin" and leaked in entry.target and entry.old_value == ["redshift:load"]
    )
    assert finding("slot_leaks").status == "ok"


def test_max_concurrent_runs_0_is_a_problem(deployment):
    deployment(Scenario(max_concurrent_runs=0, queued=(RunSpec(),)))
    assert finding("max_concurrent_runs").status == "problem"


def test_pools_without_a_limit_row_are_named(deployment):
    deployment(Scenario(default_limit=2, queued=(RunSpec(roots={"fresh": 1}),)))
    found = finding("pools_without_row")
    assert found.status == "warning" and "pool fresh has no limit row yet" in found.evidence[0]
    assert finding("quirks").status == "warning"  # Q3 decides that run this iteration


def test_a_default_limit_of_0_that_the_daemon_never_writes_is_a_problem(deployment):
    deployment(Scenario(default_limit=0, queued=(RunSpec(roots={"fresh": 1}),)))
    assert finding("pools_without_row").status == "problem"


def test_a_queue_with_room_that_launched_nothing_for_three_intervals_is_stalled(deployment):
    instance, _ = deployment(Scenario(queued=(RunSpec(),)))
    beat(instance, 1)
    later = replace(dagster_source.load_state(), now=time.time() + 600)
    stalled = next(f for f in diagnose(later) if f.check == "stalled_queue")
    assert stalled.status == "problem"
    assert any(line.startswith("the next tick would launch 1 run(s)") for line in stalled.evidence)


def test_a_tag_limit_that_matches_no_queued_run_is_a_warning(deployment):
    deployment(
        Scenario(tag_limits=({"key": "databse", "limit": 1},), queued=(RunSpec({"db": "x"}),))
    )
    assert finding("tag_limits").status == "warning"
