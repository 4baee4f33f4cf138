"""Contract of /api/config/: read, replace (same validation and errors as the CLI), dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from queueing.models import AuditEntry, Pool
from queueing.services import config as config_service

from .conftest import errors_of, snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "instance"


def put(client, body, query=""):
    return client.put(f"/api/config/{query}", body, format="json")


def test_get_shows_the_effective_configuration_as_document_and_yaml(viewer_client):
    config_service.load_yaml("run_queue:\n  max_concurrent_runs: 3\n", actor="test")

    body = viewer_client.get("/api/config/").json()

    assert body["document"]["run_queue"]["max_concurrent_runs"] == 3
    assert yaml.safe_load(body["yaml"]) == body["document"]
    assert body["sources"]["max_concurrent_runs"] == "imported"
    assert body["sources"]["dequeue_interval_seconds"] == "default"


def test_put_yaml_replaces_the_configuration_and_audits_the_change(admin_client):
    response = put(admin_client, {"yaml": "run_queue:\n  max_concurrent_runs: 2\n"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changes"] == {"max_concurrent_runs": {"old": 10, "new": 2}}
    assert body["dry_run"] is False
    assert config_service.current_config().queue.max_concurrent_runs == 2
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target) == (
        "admin-user",
        "config.import",
        "deployment",
    )
    assert (entry.old_value, entry.new_value) == (
        {"max_concurrent_runs": 10},
        {"max_concurrent_runs": 2},
    )


def test_put_document_is_the_same_as_put_yaml(admin_client):
    response = put(admin_client, {"document": {"concurrency": {"pools": {"default_limit": 4}}}})

    assert response.status_code == 200, response.content
    assert config_service.current_config().default_pool_limit == 4


def test_dry_run_shows_the_change_without_saving(admin_client):
    check = snapshot()

    response = put(admin_client, {"yaml": "run_queue:\n  max_concurrent_runs: 2\n"}, "?dry_run=1")

    body = response.json()
    assert response.status_code == 200
    assert body["dry_run"] is True
    assert body["changes"] == {"max_concurrent_runs": {"old": 10, "new": 2}}
    assert body["document"]["run_queue"]["max_concurrent_runs"] == 2
    check()
    assert config_service.current_config().queue.max_concurrent_runs == 10


def test_unused_sections_are_reported_as_ignored_not_rejected(admin_client, monkeypatch):
    monkeypatch.setenv("DAGSTER_MAX_CONCURRENT_RUNS", "7")
    monkeypatch.setenv("DAGSTER_DEQUEUE_WORKERS", "2")
    text = (FIXTURES / "valid_full_deployment.yaml").read_text()

    response = put(admin_client, {"yaml": text})

    assert response.status_code == 200, response.content
    assert response.json()["ignored_sections"] == [
        "storage",
        "compute_logs",
        "local_artifact_storage",
        "run_launcher",
        "scheduler",
        "telemetry",
        "retention",
        "sensors",
        "schedules",
        "code_servers",
    ]
    assert config_service.current_config().queue.max_concurrent_runs == 7
    # Kept verbatim, so exporting gives the file back.
    assert response.json()["document"]["storage"] == yaml.safe_load(text)["storage"]


def test_the_exported_yaml_loads_back_without_any_change(admin_client):
    put(admin_client, {"yaml": (FIXTURES / "valid_concurrency.yaml").read_text()})
    exported = admin_client.get("/api/config/").json()
    check = snapshot()

    response = put(admin_client, {"yaml": exported["yaml"]}, "?dry_run=1")

    assert response.json()["changes"] == {}
    assert response.json()["document"] == exported["document"]
    check()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "run_queue:\n  max_concurrent_runs: -2\n",
            [
                (
                    "run_queue.max_concurrent_runs",
                    "-2 is invalid: use -1 for no limit or a number >= 0",
                )
            ],
        ),
        (
            'run_queue:\n  max_concurrent_runs: "5"\n',
            [("run_queue.max_concurrent_runs", "expected an integer, got string '5'")],
        ),
        ("run_queue: [\n", [("<file>", "invalid YAML at line 2, column 1")]),
        ("- a\n- b\n", [("<file>", "the top level must be a mapping")]),
        ("run_queue:\n  max_runs: 3\n", [("run_queue.max_runs", "unknown key 'max_runs'")]),
        (
            "concurrency:\n  pools:\n    default_limit: 1001\n",
            [("concurrency.pools.default_limit", "between 0 and 1000")],
        ),
    ],
)
def test_an_invalid_file_is_refused_with_every_error_and_nothing_changes(
    admin_client, text, expected
):
    config_service.load_yaml("run_queue:\n  max_concurrent_runs: 3\n", actor="test")
    check = snapshot()

    errors = errors_of(put(admin_client, {"yaml": text}))

    assert len(errors) == len(expected)
    for (path, message), (want_path, want_words) in zip(errors, expected, strict=True):
        assert path == want_path
        assert want_words in message
    check()


def test_a_file_with_many_errors_reports_each_one_with_its_path(admin_client, unchanged):
    errors = errors_of(
        put(admin_client, {"yaml": (FIXTURES / "invalid_many_errors.yaml").read_text()})
    )

    paths = [p for p, _ in errors]
    assert "run_queue.max_concurrent_runs" in paths
    assert "run_queue.dequeue_interval_seconds" in paths
    assert "run_queue.tag_concurrency_limits[1].limit" in paths
    assert "concurrency.pools.default_limit" in paths
    assert "run_monitoring.enabled" in paths
    assert len(errors) >= 10
    unchanged()


def test_a_10_mb_file_is_refused(admin_client, unchanged):
    text = "# padding\n" * (1024 * 1024)

    errors = errors_of(put(admin_client, {"yaml": text}))

    assert errors[0][0] in ("yaml", "body")
    assert "larger than" in errors[0][1]
    unchanged()


def test_a_file_just_over_1_mb_is_refused_naming_the_field(admin_client, unchanged):
    text = "#" * (1024 * 1024 + 1)

    # The body around it is over INPUT_MAX_BYTES too: the parser refuses it unread.
    assert errors_of(put(admin_client, {"yaml": text})) == [
        ("body", "larger than the limit of 1048576 bytes (INPUT_MAX_BYTES)")
    ]
    unchanged()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "body"),
        ({"yaml": "", "document": {}}, "body"),
        ({"yaml": 5}, "yaml"),
        ({"document": "run_queue: {}"}, "document"),
    ],
)
def test_put_needs_exactly_one_of_yaml_or_document(admin_client, unchanged, body, path):
    errors = errors_of(put(admin_client, body))

    assert errors[0][0] == path
    unchanged()


def test_lowering_the_default_pool_limit_changes_pools_that_follow_it(admin_client):
    put(admin_client, {"yaml": "concurrency:\n  pools:\n    default_limit: 4\n"})
    Pool.objects.create(key="api", limit=4, from_default=True)
    Pool.objects.create(key="redshift", limit=9)

    put(admin_client, {"yaml": "concurrency:\n  pools:\n    default_limit: 1\n"})

    assert dict(Pool.objects.values_list("key", "limit")) == {"api": 1, "redshift": 9}


@pytest.mark.parametrize("flag", ["True", "yes", "1"])
def test_dry_run_accepts_the_usual_spellings_of_true(admin_client, flag):
    check = snapshot()

    response = put(
        admin_client, {"yaml": "run_queue:\n  max_concurrent_runs: 2\n"}, f"?dry_run={flag}"
    )

    assert response.json()["dry_run"] is True
    check()


def test_a_misspelt_dry_run_is_refused_rather_than_applied(admin_client, unchanged):
    response = put(
        admin_client, {"yaml": "run_queue:\n  max_concurrent_runs: 2\n"}, "?dry_run=maybe"
    )

    assert errors_of(response) == [("dry_run", "'maybe' is not a boolean: use 1/true or 0/false")]
    unchanged()


def test_put_refuses_unknown_fields(admin_client, unchanged):
    errors = errors_of(put(admin_client, {"yaml": "run_queue: {}\n", "dryrun": True}))

    assert errors == [("dryrun", "unknown field: expected yaml, document")]
    unchanged()
