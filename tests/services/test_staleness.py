"""Run monitoring cancels runs queued longer than their bound, on a real database: the
reason names the rule, the change is audited, and a run launched meanwhile is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, Run, RunEvent, RunWait
from queueing.services import doctor, monitoring, run_queue, staleness

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db

BOUNDS = {
    "run_queue": {"max_concurrent_runs": 0},
    "concurrency_ui": {
        "max_queued_seconds": 3600,
        "max_queued_seconds_by_tag": [{"key": "team", "value": "growth", "seconds": 600}],
    },
}


def _age(run: Run, seconds: float) -> None:
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - timedelta(seconds=seconds))


def test_monitoring_cancels_runs_queued_longer_than_their_bound_and_names_the_rule():
    load_config(BOUNDS)
    growth_old, growth_young, plain_old, plain_young = (
        submit(team="growth"),
        submit(team="growth"),
        submit(),
        submit(team="data"),
    )
    _age(growth_old, 601)
    _age(growth_young, 500)
    _age(plain_old, 3601)
    _age(plain_young, 3000)
    result = monitoring.tick()
    assert {a.run_id for a in result.actions} == {growth_old.run_id, plain_old.run_id}

    for run in (growth_old, growth_young, plain_old, plain_young):
        run.refresh_from_db()
    assert growth_old.status == plain_old.status == RunStatus.CANCELED
    assert growth_young.status == plain_young.status == RunStatus.QUEUED
    assert "concurrency_ui.max_queued_seconds_by_tag[0] (team=growth): 600 s" in (
        growth_old.failure_reason
    )
    assert "concurrency_ui.max_queued_seconds: 3600 s" in plain_old.failure_reason
    assert growth_old.ended_at is not None

    entry = AuditEntry.objects.get(action="run.queue_timeout", target=growth_old.run_id)
    assert entry.actor == "run_monitoring"
    assert entry.new_value["rule"] == "concurrency_ui.max_queued_seconds_by_tag[0]"
    assert entry.new_value["seconds"] == 600
    assert RunEvent.objects.filter(run=growth_old, kind="queue_timeout").count() == 1
    # A second tick finds nothing more to do: the run is canceled once, audited once.
    assert monitoring.tick().actions == ()
    assert AuditEntry.objects.filter(action="run.queue_timeout").count() == 2


def test_the_open_wait_history_of_a_canceled_run_is_closed(monkeypatch):
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)
    load_config(BOUNDS)
    run = submit()
    run_queue.tick()
    assert RunWait.objects.filter(run=run, ended_at__isnull=True).count() == 1
    _age(run, 4000)
    monitoring.tick()
    assert RunWait.objects.filter(run=run, ended_at__isnull=True).count() == 0


def test_a_run_launched_before_the_cancel_is_left_alone(monkeypatch):
    load_config(BOUNDS)
    run = submit()
    _age(run, 4000)
    now = timezone.now()
    config = monitoring.current_config()
    # The tick launched it between monitoring's read and its update.
    real_transition = staleness.runs.transition

    def launched_first(*args, **kwargs):
        Run.objects.filter(pk=run.pk).update(status=RunStatus.STARTING)
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(staleness.runs, "transition", launched_first)
    assert staleness.cancel_overdue(config, now) == ()
    run.refresh_from_db()
    assert run.status == RunStatus.STARTING
    assert not AuditEntry.objects.filter(action="run.queue_timeout").exists()


def test_without_bounds_nothing_is_canceled():
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    run = submit()
    _age(run, 10**7)
    monitoring.tick()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_with_monitoring_off_no_bound_is_enforced():
    load_config({**BOUNDS, "run_monitoring": {"enabled": False}})
    run = submit()
    _age(run, 4000)
    monitoring.tick()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_the_doctor_names_runs_near_the_bound_and_jobs_that_keep_timing_out(monkeypatch):
    monkeypatch.setattr(
        doctor, "celery_queues", lambda app=None, timeout=1.0: doctor.WorkerFacts({})
    )
    load_config(BOUNDS)
    for _ in range(3):
        _age(submit("quick"), 4000)
    monitoring.tick()
    near = submit("quick")
    _age(near, 3300)
    (finding,) = [f for f in doctor.diagnose() if f.check == "queue_age"]
    assert finding.status == "warning"
    text = "\n".join(finding.evidence)
    assert "job quick: 3 runs canceled" in text
    assert near.run_id[:8] in text
