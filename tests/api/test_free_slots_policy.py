"""One policy for freeing slots by hand (services.pools.free_run): a whole run in progress
is refused from the API, the command line and the Concurrency page alike, as the doctor's
release refuses it; one step's slot may always be freed."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, PoolClaim, Run
from queueing.services import runs

from .test_runs import submit


def started_run_holding(operator_client) -> Run:
    run = Run.objects.get(run_id=submit(operator_client, "api_ingest")["run_id"])
    Run.objects.filter(pk=run.pk).update(status=RunStatus.STARTED)
    now = timezone.now()
    for step in ("fetch_customers", "fetch_invoices"):
        PoolClaim.objects.create(
            pool_key="api", run=run, step_key=step, enqueued_at=now, claimed_at=now
        )
    return run


def test_the_api_refuses_to_free_a_whole_run_in_progress(admin_client, operator_client):
    run = started_run_holding(operator_client)

    response = admin_client.post(f"/api/runs/{run.run_id}/free_slots/", {}, format="json")

    assert response.status_code == 409
    assert "terminate it first" in response.json()["detail"]
    assert PoolClaim.objects.filter(run=run).count() == 2
    assert not AuditEntry.objects.filter(action="pool.free_slots").exists()


def test_one_step_of_a_run_in_progress_may_be_freed(admin_client, operator_client):
    run = started_run_holding(operator_client)

    response = admin_client.post(
        f"/api/runs/{run.run_id}/free_slots/", {"step_key": "fetch_invoices"}, format="json"
    )

    assert response.json() == {"freed": 1}
    assert list(PoolClaim.objects.values_list("step_key", flat=True)) == ["fetch_customers"]


def test_the_command_line_and_the_page_refuse_it_too(admin_client, operator_client):
    run = started_run_holding(operator_client)
    err = io.StringIO()
    try:
        call_command("pools", "free", "--run", run.run_id, stdout=io.StringIO(), stderr=err)
    except SystemExit as exc:
        assert exc.code == 1
    assert "terminate it first" in err.getvalue()

    page = admin_client.post(
        reverse("free-slots"), {"run_id": run.run_id, "confirmed": "1"}, follow=True
    )
    assert "terminate it first" in page.content.decode()
    assert PoolClaim.objects.filter(run=run).count() == 2


def test_a_finished_run_is_freed_by_hand(admin_client, operator_client):
    run = started_run_holding(operator_client)
    runs.transition([run.run_id], RunStatus.STARTED, RunStatus.FAILURE)

    response = admin_client.post(f"/api/runs/{run.run_id}/free_slots/", {}, format="json")

    assert response.json() == {"freed": 2}
