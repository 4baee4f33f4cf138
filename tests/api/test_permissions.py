"""Who may do what: every write endpoint x anonymous / viewer / operator / admin."""

from __future__ import annotations

import pytest

from queueing.models import Pool, Run
from queueing.services import runs

from .conftest import snapshot

ANON = "anonymous"
# Anonymous requests are refused before any view code runs; DRF answers 403 because the
# first authenticator (session) sends no WWW-Authenticate challenge.
REFUSED = {401, 403}


def queued_run() -> Run:
    return runs.submit("api_ingest", actor="test")


# (name, method, url template, body, the least role allowed, status on success)
WRITES = [
    ("submit", "post", "/api/runs/", {"job": "quick"}, "operator", 201),
    ("terminate", "post", "/api/runs/{run}/terminate/", {}, "operator", 200),
    ("priority", "post", "/api/runs/{run}/priority/", {"priority": 4}, "operator", 200),
    ("free_slots", "post", "/api/runs/{run}/free_slots/", {}, "admin", 200),
    ("pool_create", "post", "/api/pools/", {"key": "new", "limit": 1}, "admin", 201),
    ("pool_put", "put", "/api/pools/redshift/", {"limit": 1}, "admin", 200),
    ("pool_patch", "patch", "/api/pools/redshift/", {"limit": 1}, "admin", 200),
    ("pool_delete", "delete", "/api/pools/redshift/", None, "admin", 204),
    (
        "config",
        "put",
        "/api/config/",
        {"yaml": "run_queue:\n  max_concurrent_runs: 3\n"},
        "admin",
        200,
    ),
]
RANK = {ANON: 0, "viewer": 1, "operator": 2, "admin": 3}


def expected(role: str, least: str, ok: int) -> set[int]:
    if role == ANON:
        return REFUSED
    return {ok} if RANK[role] >= RANK[least] else {403}


@pytest.mark.parametrize("role", [ANON, "viewer", "operator", "admin"])
@pytest.mark.parametrize(
    ("name", "method", "url", "body", "least", "ok"), WRITES, ids=[w[0] for w in WRITES]
)
def test_write_permission_matrix(clients, role, name, method, url, body, least, ok):
    run = queued_run()
    Pool.objects.create(key="redshift", limit=3)
    check = snapshot()

    kwargs = {"format": "json"} if body is not None else {}
    args = (body,) if body is not None else ()
    response = getattr(clients[role], method)(url.format(run=run.run_id), *args, **kwargs)

    assert response.status_code in expected(role, least, ok), (name, role, response.content)
    if response.status_code in REFUSED:
        check()
        if role != ANON:
            assert "role" in response.json()["detail"]


READS = [
    "/api/runs/",
    "/api/runs/{run}/",
    "/api/pools/",
    "/api/pools/redshift/",
    "/api/config/",
    "/api/daemons/",
    "/api/jobs/",
    "/api/audit/",
    "/api/schema/",
]


@pytest.mark.parametrize("url", READS)
def test_every_logged_in_role_may_read_and_anonymous_may_not(clients, url):
    run = queued_run()
    Pool.objects.create(key="redshift", limit=3)
    url = url.format(run=run.run_id)

    assert clients[ANON].get(url).status_code in REFUSED
    for role in ("viewer", "operator", "admin"):
        assert clients[role].get(url).status_code == 200, (role, url)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_audit_log_cannot_be_written_by_anyone(clients, method):
    runs.set_priority(queued_run().run_id, 2, actor="test")
    check = snapshot()

    for role in (ANON, "viewer", "operator", "admin"):
        response = getattr(clients[role], method)("/api/audit/", {}, format="json")
        assert response.status_code in ({405} if role != ANON else REFUSED), role
    check()


def test_token_endpoints_need_a_logged_in_user(clients):
    assert clients[ANON].post("/api/token/").status_code in REFUSED
    assert clients[ANON].delete("/api/token/").status_code in REFUSED
    assert clients["viewer"].post("/api/token/").status_code == 200


def test_a_superuser_without_a_role_group_may_do_everything(db):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))

    assert client.post("/api/pools/", {"key": "x", "limit": 1}, format="json").status_code == 201
    assert client.post("/api/runs/", {"job": "quick"}, format="json").status_code == 201


def test_roles_are_created_by_migrate_with_their_permissions(db):
    from django.contrib.auth.models import Group

    perms = {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["viewer", "operator", "admin"])
    }

    assert perms == {
        "viewer": [],
        "operator": ["launch_run"],
        "admin": ["change_limits", "launch_run"],
    }
