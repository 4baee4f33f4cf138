"""The Troubleshooting page, the slot release, /metrics, /api/doctor/, /api/simulate/,
the pools and configuration API dry runs, and `manage.py doctor`."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from queueing.engine.doctor import CHECKS
from queueing.engine.types import RunStatus
from queueing.models import AuditEntry, Pool, PoolClaim, Run
from queueing.services import config, pools, run_queue, runs

from .helpers import load, submit

pytestmark = [pytest.mark.django_db]


def _client(role: str, api: bool = False) -> Client:
    user = User.objects.create_user(f"{role}-user", password="pw-for-tests")
    user.groups.add(Group.objects.get(name=role))
    client = APIClient() if api else Client()
    client.force_login(user)
    return client


def _leaking_run() -> Run:
    """A FAILURE run still holding two `api` slots, as a killed worker leaves it."""
    pools.set_limit("api", 2, actor="test")
    run = submit("api_ingest")
    run_queue.tick()
    runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
    for step in run.steps.filter(pool="api").order_by("plan_index")[:2]:
        assert pools.try_claim(run, step.step_key, "api", step.priority, None).claimed
    runs.transition([run.run_id], RunStatus.STARTED, RunStatus.FAILURE)
    load({"run_monitoring": {"free_slots_after_run_end_seconds": 0}})  # leaks at once
    return run


def test_the_page_shows_every_check_and_offers_the_release_to_admins_only(workers):
    run = _leaking_run()

    admin_page = _client("admin").get("/troubleshooting/").content.decode()
    viewer_page = _client("viewer").get("/troubleshooting/").content.decode()

    for check in CHECKS:
        assert f'id="check-{check}"' in admin_page
    assert "1 finished run(s) still hold pool slots" in admin_page
    assert f'action="/troubleshooting/release/{run.run_id}/"' in admin_page
    assert f'action="/troubleshooting/release/{run.run_id}/"' not in viewer_page
    assert "needs the admin role" in viewer_page


def test_htmx_gets_only_the_findings_fragment(workers):
    response = _client("viewer").get("/troubleshooting/", HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="doctor"')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_anonymous_users_are_sent_to_the_login_page():
    response = Client().get("/troubleshooting/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_admin_releases_a_leaked_runs_slots_with_one_audited_click(workers):
    run = _leaking_run()

    response = _client("admin").post(f"/troubleshooting/release/{run.run_id}/", follow=True)

    assert response.status_code == 200
    assert f"Released 2 pool entries of run {run.run_id}." in response.content.decode()
    assert not PoolClaim.objects.filter(run=run).exists()
    entry = AuditEntry.objects.get(action="pool.free_slots")
    assert (entry.actor, entry.target) == ("admin-user", run.run_id)
    assert sorted(entry.old_value) == ["api:fetch_customers", "api:fetch_invoices"]


def test_a_viewer_cannot_release_slots(workers):
    run = _leaking_run()

    response = _client("viewer").post(f"/troubleshooting/release/{run.run_id}/")

    assert response.status_code == 403
    assert PoolClaim.objects.filter(run=run).count() == 2


def test_releasing_the_slots_of_a_running_run_is_refused(workers):
    pools.set_limit("api", 2, actor="test")
    run = submit("api_ingest")
    run_queue.tick()
    runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
    step = run.steps.filter(pool="api").first()
    pools.try_claim(run, step.step_key, "api", 0, None)

    response = _client("admin").post(f"/troubleshooting/release/{run.run_id}/", follow=True)

    assert "terminate it first" in response.content.decode()
    assert PoolClaim.objects.filter(run=run).count() == 1


def test_the_what_if_form_shows_what_a_higher_limit_would_launch(workers):
    load({"run_queue": {"max_concurrent_runs": 1}})
    for _ in range(3):
        submit()

    viewer = _client("viewer")
    page = viewer.get("/troubleshooting/?max_concurrent_runs=3").content.decode()

    assert "launches <strong>1</strong> run now" in page
    assert "it would launch <strong>3</strong>" in page
    assert config.current_config().queue.max_concurrent_runs == 1

    refused = viewer.get("/troubleshooting/?max_concurrent_runs=-7").content.decode()
    assert "max_concurrent_runs: -7 is invalid" in refused


def test_metrics_are_open_in_development_and_need_the_token_when_one_is_set(settings):
    submit()
    open_answer = Client().get("/metrics")
    assert open_answer.status_code == 200
    assert 'concurrency_ui_runs{status="QUEUED"} 1.0' in open_answer.content.decode()

    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_api_doctor_reports_the_worst_status_and_every_finding(workers):
    load({"run_queue": {"max_concurrent_runs": 0}})

    body = _client("viewer", api=True).get("/api/doctor/").json()

    assert body["status"] == "problem"
    assert [f["check"] for f in body["findings"]] == list(CHECKS)
    frozen = next(f for f in body["findings"] if f["check"] == "max_concurrent_runs")
    assert frozen["status"] == "problem" and frozen["fix"]
    assert APIClient().get("/api/doctor/").status_code in (401, 403)


def test_api_simulate_predicts_without_saving_and_refuses_bad_input():
    load({"run_queue": {"max_concurrent_runs": 1}})
    queued = [submit().run_id for _ in range(3)]
    client = _client("viewer", api=True)

    body = client.post(
        "/api/simulate/", {"settings": {"max_concurrent_runs": 2}}, format="json"
    ).json()

    assert body["launch_now"] == queued[:1]
    assert body["launch"] == queued[:2]
    assert body["newly_launched"] == queued[1:2]
    assert body["waiting"][queued[2]]["rule"] == "max_concurrent_runs"
    assert body["changes_total"] == 1
    assert body["changes"][0]["run_id"] == queued[1]
    assert body["changes"][0]["today"]["rule"] == "max_concurrent_runs"
    assert body["changes"][0]["proposed"] is None
    assert config.current_config().queue.max_concurrent_runs == 1

    bad = client.post("/api/simulate/", {"settings": {"max_concurrent_runs": "x"}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "max_concurrent_runs"
    unknown = client.post("/api/simulate/", {"limits": {}}, format="json")
    assert unknown.status_code == 400


def test_the_page_shows_the_diff_against_today_and_keeps_the_inputs():
    pools.set_limit("api", 0, actor="test")
    held = submit("api_ingest")

    page = _client("viewer").get("/troubleshooting/?pool=api&pool_limit=1").content.decode()

    row = page.split(f'href="/runs/{held.run_id}/"')[1].split("</tr>")[0]
    assert "waits: pool api is closed" in row and "<strong>starts</strong>" in row
    assert 'name="pool" value="api"' in page and 'name="pool_limit" min="0" value="1"' in page
    assert Pool.objects.get(key="api").limit == 0


def test_a_pool_dry_run_answers_with_the_prediction_and_saves_nothing():
    pools.set_limit("api", 0, actor="test")
    waiting = submit("api_ingest")
    admin = _client("admin", api=True)
    audit = AuditEntry.objects.count()

    body = admin.put("/api/pools/api/?dry_run=1", {"limit": 2}, format="json").json()

    assert body["launch_now"] == [] and body["launch"] == [waiting.run_id]
    assert Pool.objects.get(key="api").limit == 0
    assert AuditEntry.objects.count() == audit

    created = admin.post("/api/pools/?dry_run=1", {"key": "api", "limit": 1}, format="json")
    assert created.status_code == 200 and created.json()["launch"] == [waiting.run_id]
    assert Pool.objects.get(key="api").limit == 0


def test_a_configuration_dry_run_includes_the_prediction():
    load({"run_queue": {"max_concurrent_runs": 0}})
    waiting = submit()

    body = (
        _client("admin", api=True)
        .put(
            "/api/config/?dry_run=1",
            {"yaml": "run_queue:\n  max_concurrent_runs: 4\n"},
            format="json",
        )
        .json()
    )

    assert body["dry_run"] is True
    assert body["simulation"]["launch"] == [waiting.run_id]
    assert config.current_config().queue.max_concurrent_runs == 0


def test_the_doctor_command_exits_1_on_a_problem_and_0_once_fixed(workers, capsys):
    load({"run_queue": {"max_concurrent_runs": 0}})
    run_queue.tick()
    from queueing.services import monitoring

    monitoring.tick()

    with pytest.raises(SystemExit) as exited:
        call_command("doctor")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "[PROBLEM] max_concurrent_runs is 0: the queue launches nothing" in out

    load({"run_queue": {"max_concurrent_runs": 5}})
    run_queue.tick()
    monitoring.tick()
    call_command("doctor", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == 0
    assert {f["check"]: f["status"] for f in report["findings"]}["max_concurrent_runs"] == "ok"


def test_the_api_schema_documents_the_doctor_and_the_simulator_without_warnings(tmp_path):
    import yaml

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    paths = yaml.safe_load(target.read_text())["paths"]
    assert "get" in paths["/api/doctor/"] and "post" in paths["/api/simulate/"]
    assert "400" in paths["/api/simulate/"]["post"]["responses"]
