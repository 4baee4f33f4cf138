"""`manage.py dagster …` and the Dagster pages on a real attached instance."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from queueing.models import AuditEntry

from .harness import RunSpec, Scenario, daemon_launches

# Q2 (Dagster issue 25743): the older run is pool-blocked but takes the team budget.
STARVED = Scenario(
    tag_limits=({"key": "team", "limit": 1},),
    pool_limits={"p1": 0},
    queued=(RunSpec({"team": "a"}, {"p1": 1}), RunSpec({"team": "a"}), RunSpec({"db": "x"})),
)


def run_command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("dagster", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_predict_prints_what_the_daemon_then_launches(deployment):
    instance, ids = deployment(STARVED)
    code, out, _ = run_command("predict", "--json")
    data = json.loads(out)
    assert code == 0 and data["deployment"]["storage"].startswith("SQLite in ")
    assert data["launch"] == [ids["queued"][2]]
    assert daemon_launches(instance) == data["launch"]


def test_explain_names_the_blocking_rule_its_holders_and_the_quirk(deployment):
    _, ids = deployment(STARVED)
    blocked, starved = ids["queued"][0], ids["queued"][1]
    code, out, _ = run_command("explain", starved)
    assert code == 0
    assert "waits on tag team: 1 of 1 runs, held by " + blocked[:8] in out
    assert "Dagster quirk:" in out and "Dagster issue 25743" in out
    assert "a fixed version would launch it" in out
    data = json.loads(run_command("explain", blocked, "--json")[1])
    assert data["verdict"] == "wait" and data["blocking"]["rule"] == "pool"


def test_runs_lists_the_queue_in_the_daemons_order(deployment):
    _, ids = deployment(
        Scenario(
            max_concurrent_runs=1,
            others=(RunSpec(status="STARTED_OLD"),),
            queued=(RunSpec(), RunSpec({"dagster/priority": "4"})),
        )
    )
    data = json.loads(run_command("runs", "--json")[1])
    assert [r["run_id"] for r in data["queued"]] == [ids["queued"][1], ids["queued"][0]]
    assert all(
        r["reason"] == "max_concurrent_runs: 1 of 1 runs in progress" for r in data["queued"]
    )
    assert [r["run_id"] for r in data["in_progress"]] == ids["others"]


def test_doctor_exits_1_on_a_problem(deployment):
    deployment(Scenario(max_concurrent_runs=0, queued=(RunSpec(),)))
    code, out, _ = run_command("doctor")
    assert code == 1 and "[PROBLEM] max_concurrent_runs is 0" in out


def test_without_dagster_home_the_command_says_what_to_set(settings):
    settings.DAGSTER_HOME = None
    code, _, err = run_command("predict")
    assert code == 1 and "set DAGSTER_HOME" in err


@pytest.mark.django_db
def test_changes_are_refused_unless_enabled_and_then_audited(deployment, settings):
    instance, ids = deployment(STARVED)
    storage = instance.event_log_storage
    code, _, err = run_command("set-pool", "p1", "2")
    assert code == 1 and "DAGSTER_WRITES_ENABLED" in err
    assert storage.get_concurrency_info("p1").slot_count == 0
    settings.DAGSTER_WRITES_ENABLED = True
    code, _, err = run_command("set-pool", "p1", "-1")
    assert code == 1 and "limit: cannot have a negative number of slots" in err
    assert storage.get_concurrency_info("p1").slot_count == 0 and not AuditEntry.objects.exists()
    assert run_command("set-pool", "p1", "2")[0] == 0
    assert storage.get_concurrency_info("p1").slot_count == 2
    assert run_command("delete-pool", "p1")[0] == 0
    assert "p1" not in storage.get_concurrency_keys()
    assert run_command("terminate", ids["queued"][0])[0] == 0
    assert instance.get_run_by_id(ids["queued"][0]).status.value == "CANCELED"
    code, _, err = run_command("terminate", ids["queued"][0])
    assert code == 1 and "only queued runs" in err
    assert list(
        AuditEntry.objects.order_by("id").values_list("action", "old_value", "new_value")
    ) == [
        ("dagster.pool.set", 0, 2),
        ("dagster.pool.delete", 2, None),
        ("dagster.run.terminate", "QUEUED", "CANCELED"),
    ]


def client_for(role: str) -> Client:
    user = User.objects.create_user(username=f"{role}-user", password="secret-pass-1")
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_queue_page_shows_the_deployment_the_rule_and_the_quirk(deployment):
    _, ids = deployment(STARVED)
    page = client_for("viewer").get("/dagster/").content.decode()
    from django.conf import settings

    assert settings.DAGSTER_HOME in page and "read-only" in page
    assert "pool p1 is closed (limit 0): runs using it stay queued" in page
    assert "Dagster issue 25743" in page
    assert ids["queued"][2][:8] in page and "launches at the daemon's next iteration" in page
    run_page = client_for("admin").get(f"/dagster/runs/{ids['queued'][1]}/").content.decode()
    assert "tag team: 1 of 1 runs" in run_page and "Terminate" not in run_page
    pools = client_for("operator").get("/dagster/pools/").content.decode()
    assert "limit 0" in pools and "1 queued run uses it" in pools


@pytest.fixture
def shared_prefix_ids(monkeypatch):
    """Runs of the next scenario get ids that share their first 8 characters."""
    import itertools
    import types
    import uuid

    from . import harness

    numbers = itertools.count(1)
    monkeypatch.setattr(
        harness,
        "uuid",
        types.SimpleNamespace(
            uuid4=lambda: uuid.UUID(f"abcdef12-{next(numbers):04d}-4000-8000-000000000000")
        ),
    )


@pytest.mark.django_db
def test_the_run_page_takes_a_short_id_and_lists_the_runs_an_ambiguous_one_names(
    deployment, shared_prefix_ids
):
    _, ids = deployment(STARVED)
    client = client_for("viewer")
    whole = ids["queued"][1]

    short = client.get(f"/dagster/runs/{whole[:13]}/")
    assert short.status_code == 302 and short["Location"] == f"/dagster/runs/{whole}/"
    ambiguous = client.get("/dagster/runs/abcdef12/")
    assert ambiguous.status_code == 404
    body = ambiguous.content.decode()
    assert "is the start of several run ids" in body and ids["queued"][2] in body
    # The holder named in the reason links to its run's page on the Dagster side.
    page = client.get(f"/dagster/runs/{whole}/").content.decode()
    assert f'<a href="/dagster/runs/{ids["queued"][0]}/"><code>abcdef12</code></a>' in page
    code, out, _ = run_command("explain", whole[:13])
    assert code == 0 and f"run {whole}" in out
    code, _, err = run_command("explain", "abcdef12")
    assert code != 0 and "is the start of several run ids" in err


@pytest.mark.django_db
def test_what_if_a_pool_limit_is_raised(deployment):
    _, ids = deployment(STARVED)
    page = client_for("viewer").get("/dagster/what-if/?pool=p1&pool_limit=1").content.decode()
    # The diff against today: the run held by the closed pool starts with the change.
    row = page.split(f'href="/dagster/runs/{ids["queued"][0]}/"')[1].split("</tr>")[0]
    assert "waits: pool p1 is closed" in row and "<strong>starts</strong>" in row
    bad = client_for("operator").get("/dagster/what-if/?max_concurrent_runs=x").content.decode()
    assert "max_concurrent_runs: expected an integer" in bad


@pytest.mark.django_db
def test_only_admins_change_the_deployment_and_only_when_enabled(deployment, settings):
    instance, _ = deployment(STARVED)
    storage = instance.event_log_storage
    assert (
        client_for("operator").post("/dagster/pools/set/", {"key": "p1", "limit": "3"}).status_code
        == 403
    )
    admin = client_for("admin")
    response = admin.post("/dagster/pools/set/", {"key": "p1", "limit": "3"}, follow=True)
    assert "DAGSTER_WRITES_ENABLED" in response.content.decode()
    assert storage.get_concurrency_info("p1").slot_count == 0
    settings.DAGSTER_WRITES_ENABLED = True
    response = admin.post("/dagster/pools/set/", {"key": "p1", "limit": "many"}, follow=True)
    assert "a pool limit must be an integer" in response.content.decode()
    admin.post("/dagster/pools/set/", {"key": "p1", "limit": "3"})
    assert storage.get_concurrency_info("p1").slot_count == 3
    entry = AuditEntry.objects.get()
    assert entry.actor == "admin-user" and entry.action == "dagster.pool.set"


def test_a_dagster_yaml_dagster_refuses_is_reported_not_raised(tmp_path, settings):
    from queueing import dagster_source

    (tmp_path / "dagster.yaml").write_text("run_queue:\n  max_concurrent_runs: lots\n")
    settings.DAGSTER_HOME = str(tmp_path)
    try:
        code, _, err = run_command("runs")
    finally:
        dagster_source.forget()
    assert code == 1 and "Dagster could not load" in err and "dagster.yaml" in err


def test_a_coordinator_dagster_cannot_build_predicts_nothing_and_the_doctor_says_why(deployment):
    # Dagster accepts this file but refuses it when it builds the run coordinator (Stage B).
    deployment(Scenario(max_concurrent_runs=-5, queued=(RunSpec(),)))
    assert json.loads(run_command("predict", "--json")[1])["launch"] == []
    code, out, _ = run_command("doctor")
    assert code == 1 and "[PROBLEM] Dagster cannot build its run coordinator" in out


def test_the_storage_is_described_without_its_password():
    from types import SimpleNamespace

    from queueing.dagster_source.reader import describe_storage

    def instance(class_name: str, config: str):
        data = SimpleNamespace(class_name=class_name, config_yaml=config)
        return SimpleNamespace(get_ref=lambda: SimpleNamespace(storage_data=data))

    url = "postgres_url: postgresql://dagster:s3cret@db.internal:6432/prod\n"
    assert describe_storage(instance("DagsterPostgresStorage", url), "/h") == (
        "PostgreSQL database prod on db.internal:6432"
    )
    fields = "postgres_db: {username: u, password: {env: PGPASS}, hostname: db, db_name: d}\n"
    described = describe_storage(instance("DagsterPostgresStorage", fields), "/h")
    assert described == "PostgreSQL database d on db:5432" and "PGPASS" not in described
