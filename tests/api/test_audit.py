"""/api/audit/: every limit change, slot release, priority change and import, newest first."""

from __future__ import annotations

from queueing.models import AuditEntry, Pool
from queueing.services import runs

from .conftest import errors_of


def test_the_audit_log_lists_changes_made_through_the_api_newest_first(
    admin_client, operator_client, viewer_client
):
    run_id = runs.submit("quick", actor="test").run_id
    admin_client.post("/api/pools/", {"key": "redshift", "limit": 2}, format="json")
    admin_client.put("/api/pools/redshift/", {"limit": 4}, format="json")
    operator_client.post(f"/api/runs/{run_id}/priority/", {"priority": 9}, format="json")
    admin_client.put(
        "/api/config/", {"yaml": "run_queue:\n  max_concurrent_runs: 3\n"}, format="json"
    )
    admin_client.post(f"/api/runs/{run_id}/free_slots/", {}, format="json")
    admin_client.delete("/api/pools/redshift/")

    entries = viewer_client.get("/api/audit/").json()

    assert [(e["actor"], e["action"], e["target"], e["old"], e["new"]) for e in entries] == [
        ("admin-user", "pool.delete", "redshift", 4, None),
        ("admin-user", "pool.free_slots", run_id, [], []),
        (
            "admin-user",
            "config.import",
            "deployment",
            {"max_concurrent_runs": 10},
            {"max_concurrent_runs": 3},
        ),
        ("operator-user", "run.set_priority", run_id, 0, 9),
        ("admin-user", "pool.set_limit", "redshift", 2, 4),
        ("admin-user", "pool.set_limit", "redshift", None, 2),
    ]


def test_refused_changes_write_no_audit_entry(admin_client, operator_client):
    run_id = runs.submit("quick", actor="test").run_id
    Pool.objects.create(key="redshift", limit=2)

    admin_client.post("/api/pools/", {"key": "redshift", "limit": -2}, format="json")
    admin_client.put("/api/pools/redshift/", {"limit": "abc"}, format="json")
    operator_client.post(f"/api/runs/{run_id}/priority/", {"priority": 2**31}, format="json")
    admin_client.put(
        "/api/config/", {"yaml": 'run_queue:\n  max_concurrent_runs: "5"\n'}, format="json"
    )
    admin_client.post(f"/api/runs/{run_id}/free_slots/", {}, format="json")  # allowed, audited
    operator_client.post(f"/api/runs/{run_id}/free_slots/", {}, format="json")  # no role

    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["pool.free_slots"]


def test_the_audit_log_is_limited(admin_client):
    for limit in range(5):
        admin_client.post("/api/pools/", {"key": "p", "limit": limit}, format="json")

    entries = admin_client.get("/api/audit/?limit=2").json()

    assert [e["new"] for e in entries] == [4, 3]
    assert errors_of(admin_client.get("/api/audit/?limit=x"))[0][0] == "limit"
