"""/api/backfills/: launch, list, show, cancel, re-run failed; roles like launching runs."""

from __future__ import annotations

from queueing.engine.types import RunStatus
from queueing.models import Backfill, Run


def test_operators_launch_a_backfill_and_everyone_reads_it(operator_client, viewer_client):
    response = operator_client.post(
        "/api/backfills/",
        {"job": "daily_sleepy", "from": "2024-01-01", "to": "2024-01-10", "tags": {"t": "1"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["partitions"] == 10 and data["counts"] == {"QUEUED": 10}
    backfill_id = data["backfill_id"]
    assert Run.objects.filter(backfill__backfill_id=backfill_id).count() == 10

    listed = viewer_client.get("/api/backfills/").json()
    assert [b["backfill_id"] for b in listed] == [backfill_id]
    detail = viewer_client.get(f"/api/backfills/{backfill_id}/").json()
    assert detail["partition_keys"][0] == "2024-01-01"
    assert {r["status"] for r in detail["runs"]} == {"QUEUED"}

    forbidden = viewer_client.post(f"/api/backfills/{backfill_id}/cancel/")
    assert forbidden.status_code == 403
    canceled = operator_client.post(f"/api/backfills/{backfill_id}/cancel/").json()
    assert canceled["status"] == "CANCELED" and canceled["counts"] == {"CANCELED": 10}
    again = operator_client.post(f"/api/backfills/{backfill_id}/cancel/")
    assert again.status_code == 409

    rerun = operator_client.post(f"/api/backfills/{backfill_id}/rerun_failed/")
    assert rerun.status_code == 201 and rerun.json()["rerun_of"] == backfill_id


def test_viewers_cannot_launch(viewer_client):
    response = viewer_client.post(
        "/api/backfills/", {"job": "daily_sleepy", "all": True}, format="json"
    )
    assert response.status_code == 403
    assert not Backfill.objects.exists()


def test_bad_bodies_answer_400_naming_the_field(operator_client):
    cases = [
        ({"job": "daily_sleepy"}, "partitions"),
        ({"job": "daily_sleepy", "partitions": ["1999-01-01"]}, "partitions"),
        ({"job": "daily_sleepy", "from": "2024-01-01"}, "to"),
        ({"job": "daily_sleepy", "partitions": "2024-01-01"}, "partitions"),
        ({"job": "daily_sleepy", "all": "yes"}, "all"),
        ({"job": "daily_sleepy", "all": True, "extra": 1}, "extra"),
        ({"job": "quick", "all": True}, "job"),
        (
            {"job": "daily_sleepy", "all": True, "tags": {"dagster/partition": "x"}},
            "tags.dagster/partition",
        ),
    ]
    for body, path in cases:
        response = operator_client.post("/api/backfills/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["errors"][0]["path"] == path, (body, response.json())
    assert not Run.objects.exists() and not Backfill.objects.exists()
    assert operator_client.get("/api/backfills/nope/").status_code == 404


def test_a_partitioned_run_is_submitted_with_its_partition_tag(operator_client):
    response = operator_client.post(
        "/api/runs/",
        {"job": "daily_sleepy", "tags": {"dagster/partition": "2024-02-01"}},
        format="json",
    )
    assert response.status_code == 201
    assert Run.objects.get().status == RunStatus.QUEUED
    missing = operator_client.post("/api/runs/", {"job": "daily_sleepy"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["path"] == "tags.dagster/partition"
