"""Bad code and bad plans at the service level: an error for that location or that run,
never a crash of the server, the tick or the worker.

`tests/definitions/` covers the definition errors themselves (import failures, asset
cycles, pool conflicts); these tests cover what the services do with them.
"""

from __future__ import annotations

import pytest

from queueing import locations
from queueing.engine.types import RunStatus
from queueing.errors import InvalidInput
from queueing.models import Run, RunEvent, Step
from queueing.services import execution, run_queue, runs
from tests.services.helpers import load_config
from tests.support.workers import wait_until

from .helpers import all_finished

BROKEN = "tests.definitions.locations.raises_on_import"
CYCLE = "tests.definitions.locations.asset_cycle"
POOLS = "tests.definitions.locations.pool_conflict"


@pytest.fixture
def broken_workspace(monkeypatch):
    """The demo location between three broken ones, as this process's workspace."""
    monkeypatch.setattr(locations, "_workspace", None)
    monkeypatch.setenv("CODE_LOCATIONS", f"{BROKEN},queueing.demo.definitions,{CYCLE},{POOLS}")
    yield locations.get_workspace()
    locations.reload_workspace()


@pytest.mark.django_db
def test_broken_locations_are_errors_while_the_good_one_serves_submit_and_tick(
    broken_workspace, monkeypatch
):
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)
    errors = {location.name: location.error for location in broken_workspace.errors()}

    assert set(errors) == {BROKEN, CYCLE, POOLS}
    assert "this location is broken at import" in errors[BROKEN]
    assert "dependency cycle" in errors[CYCLE]
    assert "conflicts with the concurrency key tag" in errors[POOLS]
    run = runs.submit("quick", actor="test")
    with pytest.raises(InvalidInput) as refused:
        runs.submit("uses_two_pools", actor="test")  # its location did not load
    assert "unknown job 'uses_two_pools'" in str(refused.value)
    assert run_queue.tick().launched == (run.run_id,)
    assert Run.objects.count() == 1


def corrupt_and_launch(run: Run, mutate) -> None:
    plan = run.plan
    mutate(plan["steps"])
    Run.objects.filter(pk=run.pk).update(plan=plan)
    runs.transition([run.run_id], RunStatus.QUEUED, RunStatus.STARTING, "launched by the test")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(
            lambda steps: steps[0]["deps"].append(steps[-1]["key"]),
            "dependency cycle: extract_orders -> transform_orders -> load_orders -> extract_orders",
            id="cycle",
        ),
        pytest.param(
            lambda steps: steps[1].update(key=steps[0]["key"]),
            "duplicate step key 'extract_orders'",
            id="duplicate-step-key",
        ),
        pytest.param(
            lambda steps: steps[2].update(deps=["no_such_step"]),
            "no_such_step",
            id="unknown-dependency",
        ),
    ],
)
def test_a_run_whose_stored_plan_is_invalid_fails_with_the_reason_and_runs_nothing(mutate, reason):
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    run = runs.submit("redshift_etl", actor="test")
    corrupt_and_launch(run, mutate)

    outcome = execution.execute_run(run.run_id)  # the worker's task; must not raise

    run.refresh_from_db()
    assert outcome == RunStatus.FAILURE
    assert run.status == RunStatus.FAILURE
    assert "executor error" in run.failure_reason and reason in run.failure_reason
    assert not RunEvent.objects.filter(run=run, kind="step_start").exists()
    assert not Step.objects.filter(run=run, status=Step.Status.RUNNING).exists()
    # The capacity it held is free: the next run launches.
    nxt = runs.submit("quick", actor="test")
    assert run_queue.tick().launched == (nxt.run_id,)


@pytest.mark.celery_worker
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_locations_lost_a_job_fails_that_run_and_keeps_working(processes):
    load_config(
        {
            "run_queue": {"dequeue_interval_seconds": 1},
            "run_monitoring": {"poll_interval_seconds": 1},
        }
    )
    lost = runs.submit("sleepy", actor="test")  # defined in tests.support.jobs only
    fine = runs.submit("quick", actor="test")
    # The worker's code locations: one that fails to import, and the demo (no `sleepy`).
    env = {"CODE_LOCATIONS": f"{BROKEN},queueing.demo.definitions"}
    for name, queues in (("w1", "runs"), ("control", "control")):
        processes.worker(name, queues=queues, concurrency=2, **env)
    processes.beat(**env)

    wait_until(
        lambda: all_finished([lost.run_id, fine.run_id]), timeout=90, message="both runs to finish"
    )

    lost.refresh_from_db()
    assert lost.status == RunStatus.FAILURE
    step = lost.steps.get()
    assert step.status == Step.Status.FAILURE
    assert "job 'sleepy' is no longer defined in any code location" in step.error
    assert Run.objects.get(pk=fine.pk).status == RunStatus.SUCCESS
    assert processes.procs["w1"].poll() is None, "the worker must survive"
