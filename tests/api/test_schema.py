"""/api/schema/ is a valid OpenAPI document that lists every path and describes the answers."""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
from django.core.management import call_command
from django.urls import URLPattern
from drf_spectacular.validation import validate_schema

from queueing.api.urls import urlpatterns
from queueing.models import Pool, Run
from queueing.services import backfills, run_queue, runs
from queueing.services import config as config_service


@pytest.fixture
def schema(viewer_client) -> dict:
    response = viewer_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def api_paths() -> set[str]:
    """Every route of queueing.api.urls, in OpenAPI spelling (`/api/runs/{run_id}/`)."""
    paths = set()
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        paths.add(f"/api/{route}")
    return paths


def test_the_schema_is_valid_openapi_and_lists_every_path(schema):
    validate_schema(schema)

    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == api_paths() - {"/api/schema/"}


def test_the_schema_generates_without_warnings(tmp_path):
    # Warnings mean an endpoint is missing from the schema or described by a guess.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_every_operation_has_a_unique_id_and_documents_errors(schema):
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("put", "post", "patch") and path != "/api/token/":
                assert "400" in operation["responses"], (method, path)
            # Setting a pool's limit creates its row: only run lookups and pool reads 404.
            if path.startswith("/api/runs/{") or (
                path == "/api/pools/{key}/" and method in ("get", "delete")
            ):
                assert "404" in operation["responses"], (method, path)
    errors = schema["components"]["schemas"]["Errors"]
    assert errors["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/Error"}


def test_write_operations_accept_json_only(schema):
    for item in schema["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"]


# --- answers match the schema ----------------------------------------------------------


def strict(node):
    """OpenAPI 3.0 -> JSON Schema: `nullable` as a type, and no undocumented keys."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        elif "allOf" in node or "$ref" in node:
            node = {"anyOf": [node, {"type": "null"}]}
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    return node


def check_answer(schema: dict, path: str, method: str, response) -> None:
    operation = schema["paths"][path][method]
    documented = operation["responses"][str(response.status_code)]
    body_schema = documented["content"]["application/json"]["schema"]
    document = strict(copy.deepcopy(schema))
    document.update(strict(body_schema))
    jsonschema.validate(response.json(), document)


@pytest.fixture
def busy(operator_client, admin_client):
    """A queue with a launched run, a waiting one, a pool with a claim and an audit trail."""
    config_service.load_yaml(
        "run_queue:\n  max_concurrent_runs: 1\n"
        "  tag_concurrency_limits:\n    - key: database\n      limit: 1\n",
        actor="test",
    )
    Pool.objects.create(key="redshift", limit=1)
    launched = runs.submit("redshift_etl", actor="test")
    waiting = runs.submit("redshift_etl", tags={"team": "a"}, actor="test")
    run_queue.tick()
    run_queue.tick()
    backfill = backfills.launch("odd_partitions_fail", partitions=["p1", "p2"], actor="test")
    return {
        "launched": launched.run_id,
        "waiting": waiting.run_id,
        "backfill": backfill.backfill_id,
    }


def test_read_answers_match_the_schema(schema, viewer_client, busy):
    reads = [
        ("/api/runs/", "/api/runs/"),
        ("/api/runs/?status=QUEUED", "/api/runs/"),
        (f"/api/runs/{busy['waiting']}/", "/api/runs/{run_id}/"),
        (f"/api/runs/{busy['launched']}/", "/api/runs/{run_id}/"),
        ("/api/pools/", "/api/pools/"),
        ("/api/pools/redshift/", "/api/pools/{key}/"),
        ("/api/config/", "/api/config/"),
        ("/api/daemons/", "/api/daemons/"),
        ("/api/jobs/", "/api/jobs/"),
        ("/api/audit/", "/api/audit/"),
        ("/api/backfills/", "/api/backfills/"),
        ("/api/schedules/", "/api/schedules/"),
        ("/api/sensors/", "/api/sensors/"),
        ("/api/sensors/my_cool_sensor/", "/api/sensors/{name}/"),
        (f"/api/backfills/{busy['backfill']}/", "/api/backfills/{backfill_id}/"),
    ]
    for url, path in reads:
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        check_answer(schema, path, "get", response)


def test_write_and_error_answers_match_the_schema(schema, operator_client, admin_client, busy):
    waiting = busy["waiting"]
    writes = [
        (operator_client.post("/api/runs/", {"job": "quick"}, format="json"), "/api/runs/", "post"),
        (operator_client.post("/api/runs/", {"job": "nope"}, format="json"), "/api/runs/", "post"),
        (
            operator_client.post(f"/api/runs/{waiting}/priority/", {"priority": 1}, format="json"),
            "/api/runs/{run_id}/priority/",
            "post",
        ),
        (
            admin_client.post(f"/api/runs/{waiting}/free_slots/", {}, format="json"),
            "/api/runs/{run_id}/free_slots/",
            "post",
        ),
        (
            operator_client.post(f"/api/runs/{waiting}/terminate/", {}, format="json"),
            "/api/runs/{run_id}/terminate/",
            "post",
        ),
        (
            operator_client.post(f"/api/runs/{waiting}/terminate/", {}, format="json"),
            "/api/runs/{run_id}/terminate/",
            "post",
        ),
        (operator_client.get("/api/runs/nope/"), "/api/runs/{run_id}/", "get"),
        (
            operator_client.post(
                "/api/backfills/",
                {"job": "daily_sleepy", "partitions": ["2024-01-01"]},
                format="json",
            ),
            "/api/backfills/",
            "post",
        ),
        (
            operator_client.post("/api/backfills/", {"job": "daily_sleepy"}, format="json"),
            "/api/backfills/",
            "post",
        ),
        (
            operator_client.post(f"/api/backfills/{busy['backfill']}/cancel/"),
            "/api/backfills/{backfill_id}/cancel/",
            "post",
        ),
        (
            operator_client.post(f"/api/backfills/{busy['backfill']}/rerun_failed/"),
            "/api/backfills/{backfill_id}/rerun_failed/",
            "post",
        ),
        (operator_client.get("/api/backfills/nope/"), "/api/backfills/{backfill_id}/", "get"),
        (
            operator_client.post("/api/schedules/every_minute/start/"),
            "/api/schedules/{name}/start/",
            "post",
        ),
        (
            operator_client.post("/api/schedules/every_minute/start/"),
            "/api/schedules/{name}/start/",
            "post",
        ),
        (operator_client.post("/api/sensors/nope/stop/"), "/api/sensors/{name}/stop/", "post"),
        (
            admin_client.put("/api/pools/api/", {"limit": 2}, format="json"),
            "/api/pools/{key}/",
            "put",
        ),
        (
            admin_client.post("/api/pools/", {"key": "a", "limit": 2}, format="json"),
            "/api/pools/",
            "post",
        ),
        (
            admin_client.put("/api/config/?dry_run=1", {"yaml": "run_queue: {}\n"}, format="json"),
            "/api/config/",
            "put",
        ),
        (
            admin_client.put("/api/config/", {"yaml": "run_queue: 1\n"}, format="json"),
            "/api/config/",
            "put",
        ),
        (admin_client.post("/api/token/"), "/api/token/", "post"),
    ]
    for response, path, method in writes:
        check_answer(schema, path, method, response)
    assert Run.objects.get(run_id=waiting).status == "CANCELED"
