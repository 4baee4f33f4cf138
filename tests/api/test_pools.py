"""Contract of /api/pools/ and /api/pools/{key}/: list, create, update the limit, delete."""

from __future__ import annotations

import pytest
from django.utils import timezone

from queueing.models import AuditEntry, Pool, PoolClaim, Run

from .conftest import errors_of, snapshot


def test_list_shows_every_pool_limited_used_by_code_or_claimed(viewer_client):
    Pool.objects.create(key="redshift", limit=2)
    Pool.objects.create(key="api", limit=5, from_default=True)
    Pool.objects.create(key="redshfit", limit=1)  # a typo: no code uses it
    run = Run.objects.create(job_name="quick", location_name="x")
    now = timezone.now()
    PoolClaim.objects.create(
        pool_key="redshift", run=run, step_key="a", enqueued_at=now, claimed_at=now
    )
    PoolClaim.objects.create(pool_key="redshift", run=run, step_key="b", enqueued_at=now)

    response = viewer_client.get("/api/pools/")

    assert response.status_code == 200
    pools = {p["key"]: p for p in response.json()}
    assert pools["redshift"] | {"jobs": None} == {
        "key": "redshift",
        "limit": 2,
        "from_default": False,
        "closed": False,
        "held": 1,
        "waiting": 1,
        "jobs": None,
        "unused": False,
    }
    assert {"location": "queueing.demo.definitions", "job": "redshift_etl"} in pools["redshift"][
        "jobs"
    ]
    assert pools["api"]["from_default"] is True
    # A pool the demo code uses without a limit is listed, unlimited.
    assert pools["snowflake"]["limit"] is None
    assert pools["snowflake"]["jobs"]
    # A limit no code uses is flagged.
    assert pools["redshfit"]["unused"] is True
    assert pools["redshift"]["unused"] is False


def test_the_pool_report_shows_holders_waiters_in_order_history_and_waits(
    viewer_client, admin_client
):
    admin_client.put("/api/pools/redshift/", {"limit": 1}, format="json")
    admin_client.put("/api/pools/redshift/", {"limit": 0}, format="json")
    holder = Run.objects.create(job_name="redshift_etl", location_name="x", status="STARTED")
    low = Run.objects.create(job_name="redshift_etl", location_name="x", status="STARTED")
    high = Run.objects.create(job_name="redshift_etl", location_name="x", status="STARTED")
    now = timezone.now()
    PoolClaim.objects.create(
        pool_key="redshift", run=holder, step_key="load", enqueued_at=now, claimed_at=now
    )
    PoolClaim.objects.create(pool_key="redshift", run=low, step_key="load", enqueued_at=now)
    PoolClaim.objects.create(
        pool_key="redshift", run=high, step_key="load", priority=5, enqueued_at=now
    )

    report = viewer_client.get("/api/pools/redshift/").json()

    assert report["closed"] is True
    assert report["limit_text"] == "closed (limit 0)"
    assert report["usage_text"].startswith("closed (limit 0): no step may start")
    assert [h["run_id"] for h in report["holders"]] == [holder.run_id]
    # Waiters in the order they will get slots: priority first.
    assert [w["run_id"] for w in report["waiters"]] == [high.run_id, low.run_id]
    assert [(e["old"], e["new"]) for e in report["history"]] == [(1, 0), (None, 1)]
    assert report["last_hour"]["at_cap_share"] >= 0
    assert report["granularity"] == "op"


def test_a_pool_code_uses_without_a_limit_has_a_report(viewer_client):
    report = viewer_client.get("/api/pools/snowflake/").json()

    assert report["limit"] is None
    assert report["limit_text"] == "no limit"
    assert report["jobs"]


def test_create_sets_a_limit_and_audits_it(admin_client):
    response = admin_client.post("/api/pools/", {"key": "redshift", "limit": 3}, format="json")

    assert response.status_code == 201
    assert response.json()["limit"] == 3
    assert Pool.objects.get(key="redshift").limit == 3
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target, entry.old_value, entry.new_value) == (
        "admin-user",
        "pool.set_limit",
        "redshift",
        None,
        3,
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_changes_the_limit_and_audits_old_and_new(admin_client, method):
    Pool.objects.create(key="redshift", limit=3, from_default=True)

    response = getattr(admin_client, method)("/api/pools/redshift/", {"limit": 0}, format="json")

    assert response.status_code == 200
    pool = Pool.objects.get(key="redshift")
    # An explicit limit no longer follows the default.
    assert (pool.limit, pool.from_default) == (0, False)
    entry = AuditEntry.objects.get()
    assert (entry.old_value, entry.new_value) == (3, 0)


def test_update_of_a_pool_without_a_limit_creates_it(admin_client):
    response = admin_client.put("/api/pools/snowflake/", {"limit": 1000}, format="json")

    assert response.status_code == 200
    assert Pool.objects.get(key="snowflake").limit == 1000


def test_delete_makes_the_pool_unlimited_and_audits_it(admin_client):
    Pool.objects.create(key="redshift", limit=3)

    response = admin_client.delete("/api/pools/redshift/")

    assert response.status_code == 204
    assert not Pool.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target, entry.old_value, entry.new_value) == (
        "pool.delete",
        "redshift",
        3,
        None,
    )


def test_delete_or_get_an_unknown_pool_is_404(admin_client, unchanged):
    assert admin_client.delete("/api/pools/nope/").status_code == 404
    assert admin_client.get("/api/pools/nope/").status_code == 404
    unchanged()


@pytest.mark.parametrize(
    ("limit", "words"),
    [
        (-2, "negative"),
        (1001, "more than 1000"),
        ("abc", "expected an integer"),
        ("5", "expected an integer"),
        (True, "expected an integer"),
        (2.5, "expected an integer"),
        (None, "expected an integer"),
        ([1], "expected an integer"),
        # Refused while the body is read: no column holds a number beyond 64 bits.
        (10**40, "outside the 64-bit range"),
    ],
)
def test_an_invalid_limit_is_refused_and_nothing_changes(admin_client, limit, words):
    Pool.objects.create(key="redshift", limit=3)
    check = snapshot()

    for response in (
        admin_client.post("/api/pools/", {"key": "redshift", "limit": limit}, format="json"),
        admin_client.post("/api/pools/", {"key": "new", "limit": limit}, format="json"),
        admin_client.put("/api/pools/redshift/", {"limit": limit}, format="json"),
        admin_client.patch("/api/pools/new/", {"limit": limit}, format="json"),
    ):
        errors = errors_of(response)
        assert len(errors) == 1
        assert errors[0][0] == "limit"
        assert words in errors[0][1]
        if limit != 10**40:
            assert "1000" in errors[0][1]  # the message states the allowed range
    check()


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 1},
        {"key": "", "limit": 1},
        {"key": "   ", "limit": 1},
        {"key": 7, "limit": 1},
        {"key": "x" * 201, "limit": 1},
    ],
)
def test_create_refuses_a_bad_key(admin_client, unchanged, body):
    errors = errors_of(admin_client.post("/api/pools/", body, format="json"))

    assert errors[0][0] == "key"
    unchanged()


def test_create_without_a_limit_is_refused(admin_client, unchanged):
    errors = errors_of(admin_client.post("/api/pools/", {"key": "x"}, format="json"))

    assert errors == [("limit", "required: an integer between 0 and 1000")]
    unchanged()


def test_create_refuses_unknown_fields(admin_client, unchanged):
    errors = errors_of(
        admin_client.post("/api/pools/", {"key": "x", "limit": 1, "limt": 2}, format="json")
    )

    assert errors == [("limt", "unknown field: expected key, limit")]
    unchanged()


def test_a_pool_key_with_a_slash_can_be_read_updated_and_deleted(admin_client):
    admin_client.post("/api/pools/", {"key": "warehouse/load", "limit": 1}, format="json")

    assert admin_client.get("/api/pools/warehouse/load/").json()["key"] == "warehouse/load"
    assert (
        admin_client.put("/api/pools/warehouse/load/", {"limit": 2}, format="json").status_code
        == 200
    )
    assert Pool.objects.get(key="warehouse/load").limit == 2
    assert admin_client.delete("/api/pools/warehouse/load/").status_code == 204
    assert not Pool.objects.exists()
