"""`manage.py pools list | set KEY LIMIT | delete KEY | free --run ID [--step KEY]`."""

from __future__ import annotations

import pytest
from django.utils import timezone

from queueing.engine.grammar import INTEGER_RULE as NUMBER
from queueing.engine.grammar import KEY_RULE
from queueing.models import AuditEntry, Pool, PoolClaim
from queueing.services import runs

from .conftest import failed, ok, snapshot

RANGE = "a limit is between 0 and 1000"


def test_set_creates_then_changes_a_limit_and_audits_both(db):
    assert ok("pools", "set", "redshift", "2").out.strip() == "redshift: 2"
    assert ok("pools", "set", "redshift", "0", "--json").json == {"key": "redshift", "limit": 0}

    assert Pool.objects.get(key="redshift").limit == 0
    assert list(
        AuditEntry.objects.order_by("id").values_list(
            "actor", "action", "target", "old_value", "new_value"
        )
    ) == [
        ("cli", "pool.set_limit", "redshift", None, 2),
        ("cli", "pool.set_limit", "redshift", 2, 0),
    ]


@pytest.mark.parametrize(
    ("limit", "line"),
    [
        (
            "-2",
            "limit: cannot have a negative number of slots (got -2): a limit is between 0 and 1000",
        ),
        (
            "1001",
            "limit: cannot have more than 1000 slots (got 1001): a limit is between 0 and 1000",
        ),
        ("abc", f"limit: 'abc' is not a whole number: {NUMBER}; {RANGE}"),
        ("true", f"limit: 'true' is not a whole number: {NUMBER}; {RANGE}"),
        ("2.5", f"limit: '2.5' is not a whole number: {NUMBER}; {RANGE}"),
        ("", f"limit: '' is not a whole number: {NUMBER}; {RANGE}"),
        ("1_0", f"limit: '1_0' is not a whole number: {NUMBER}; {RANGE}"),
        ("\u0663", f"limit: '\u0663' is not a whole number: {NUMBER}; {RANGE}"),
    ],
)
def test_set_refuses_a_bad_limit_with_one_line(db, limit, line):
    Pool.objects.create(key="redshift", limit=3)
    check = snapshot()

    result = failed("pools", "set", "redshift", limit)

    assert result.error_lines == [line]
    check()


def test_set_refuses_an_empty_key(unchanged):
    result = failed("pools", "set", " ", "3")

    assert result.error_lines == [f"key: ' ' has spaces at one end: {KEY_RULE}"]
    unchanged()


def test_list_shows_held_and_waiting_slots(db):
    Pool.objects.create(key="redshift", limit=2)
    Pool.objects.create(key="api", limit=1, from_default=True)
    run = runs.submit("api_ingest", actor="test")
    now = timezone.now()
    PoolClaim.objects.create(
        pool_key="api", run=run, step_key="fetch_customers", enqueued_at=now, claimed_at=now
    )
    PoolClaim.objects.create(pool_key="api", run=run, step_key="fetch_invoices", enqueued_at=now)

    lines = ok("pools", "list").out.splitlines()
    data = ok("pools", "list", "--json").json

    # Every pool code uses is listed, limited or not, in words that never read as
    # more holders than slots.
    assert "api                      1 of 1 slot held; 1 step waiting (default limit)" in lines
    assert "redshift                 0 of 2 slots held" in lines
    assert "snowflake                no limit: 0 steps running in it" in lines
    rows = {d["key"]: d for d in data}
    assert (rows["api"]["limit"], rows["api"]["held"], rows["api"]["waiting"]) == (1, 1, 1)
    assert rows["redshift"]["limit"] == 2 and rows["snowflake"]["limit"] is None


def test_list_without_limits_shows_the_pools_code_uses_as_unlimited(db):
    lines = ok("pools", "list").out.splitlines()
    assert "redshift                 no limit: 0 steps running in it" in lines
    assert all("no limit" in line for line in lines)


def test_delete_removes_the_limit(db):
    Pool.objects.create(key="redshift", limit=2)

    assert ok("pools", "delete", "redshift").out.strip() == "deleted redshift"

    assert not Pool.objects.exists()
    assert AuditEntry.objects.get().action == "pool.delete"


def test_delete_an_unknown_pool_exits_1(unchanged):
    assert failed("pools", "delete", "nope").error_lines == ["pool 'nope' does not exist"]
    unchanged()


@pytest.fixture
def claimed(db):
    run = runs.submit("api_ingest", actor="test")
    now = timezone.now()
    for step in ("fetch_customers", "fetch_invoices"):
        PoolClaim.objects.create(
            pool_key="api", run=run, step_key=step, enqueued_at=now, claimed_at=now
        )
    return run


def test_free_releases_every_slot_of_a_run(claimed):
    assert (
        ok("pools", "free", "--run", claimed.run_id).out.strip()
        == "freed 2 slot(s) or waiting entries"
    )

    assert not PoolClaim.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target) == ("cli", "pool.free_slots", claimed.run_id)


def test_free_one_step(claimed):
    data = ok("pools", "free", "--run", claimed.run_id, "--step", "fetch_invoices", "--json").json

    assert data == {"freed": 1}
    assert list(PoolClaim.objects.values_list("step_key", flat=True)) == ["fetch_customers"]


def test_free_refuses_a_step_the_run_does_not_have(claimed):
    check = snapshot()

    result = failed("pools", "free", "--run", claimed.run_id, "--step", "nope")

    # The same path and words as the API and the dashboard (issue 12).
    assert result.error_lines == [f"step_key: run {claimed.run_id} has no step 'nope'"]
    check()


def test_free_an_unknown_run_exits_1(unchanged):
    assert failed("pools", "free", "--run", "nope").error_lines == ["run 'nope' does not exist"]
    unchanged()
