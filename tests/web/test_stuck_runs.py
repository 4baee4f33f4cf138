"""Stuck inside a run: every ready step waiting past the threshold and none running is
flagged on the In progress tab, the run page and by the doctor, with the rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.doctor import diagnose
from queueing.models import Pool, PoolClaim, Run, Step
from queueing.services import doctor

from .conftest import html


@pytest.fixture
def stuck_run(submit) -> Run:
    """A started run of api_ingest whose ready steps wait 4 min on the closed pool api."""
    Pool.objects.create(key="api", limit=0)
    run = submit("api_ingest")
    long_ago = timezone.now() - timedelta(minutes=4)
    Run.objects.filter(pk=run.pk).update(
        status="STARTED", launched_at=long_ago, started_at=long_ago, heartbeat_at=timezone.now()
    )
    steps = list(run.steps.filter(pool="api"))
    for step in steps:
        Step.objects.filter(pk=step.pk).update(status=Step.Status.WAITING)
        PoolClaim.objects.create(
            pool_key="api", run=run, step_key=step.step_key, enqueued_at=long_ago
        )
    run.waiting_keys = [s.step_key for s in steps]
    return run


def _stuck_words(run: Run) -> str:
    return f"{len(run.waiting_keys)} steps waiting on pool api (closed) for 4 min"


def test_the_in_progress_tab_flags_a_run_stuck_inside_with_the_rule(as_viewer, stuck_run):
    page = html(as_viewer.get("/runs/?tab=in_progress"))
    assert "Stuck:" in page
    assert _stuck_words(stuck_run) in page


def test_the_run_page_flags_it_too(as_viewer, stuck_run):
    page = html(as_viewer.get(f"/runs/{stuck_run.run_id}/"))
    assert _stuck_words(stuck_run) in page


def test_a_running_step_means_not_stuck(as_viewer, stuck_run):
    Step.objects.filter(run=stuck_run, step_key=stuck_run.waiting_keys[0]).update(
        status=Step.Status.RUNNING
    )
    assert "Stuck:" not in html(as_viewer.get("/runs/?tab=in_progress"))


def test_the_doctor_has_the_same_check(stuck_run):
    findings = {f.check: f for f in diagnose(doctor.gather())}
    found = findings["stuck_in_runs"]
    assert found.status == "problem"
    assert found.evidence == (
        f"run {stuck_run.run_id[:8]} (api_ingest): {_stuck_words(stuck_run)}",
    )
