"""PATCH /api/config/: settings by name, through the same service as the Concurrency page
and `manage.py instance set` (services.config.edit_settings)."""

from __future__ import annotations

from queueing.models import AuditEntry, DeploymentSettings
from queueing.services import config as config_service

from .conftest import errors_of


def patch(client, body, query=""):
    return client.patch(f"/api/config/{query}", body, format="json")


def test_a_setting_changed_by_name_is_saved_audited_and_sourced_to_the_api(admin_client):
    response = patch(admin_client, {"settings": {"max_concurrent_runs": 3}})

    assert response.status_code == 200
    assert response.json()["changes"] == {"max_concurrent_runs": {"old": 10, "new": 3}}
    assert config_service.current_config().queue.max_concurrent_runs == 3
    assert config_service.sources()["max_concurrent_runs"] == "api"
    assert AuditEntry.objects.get().action == "config.update"


def test_a_refused_setting_names_the_setting_and_changes_nothing(admin_client, unchanged):
    errors = errors_of(patch(admin_client, {"settings": {"max_concurrent_runs": -2}}))

    assert errors == [
        ("max_concurrent_runs", "-2 is invalid: use -1 for no limit or a number >= 0")
    ]
    unchanged()


def test_a_dry_run_predicts_and_saves_nothing(admin_client, unchanged):
    body = patch(admin_client, {"settings": {"max_concurrent_runs": 0}}, "?dry_run=1").json()

    assert body["dry_run"] is True and body["changes"]["max_concurrent_runs"]["new"] == 0
    assert body["document"]["concurrency"]["runs"]["max_concurrent_runs"] == 0
    assert "simulation" in body
    unchanged()


def test_settings_must_be_named_and_only_admins_change_them(admin_client, operator_client):
    before = DeploymentSettings.objects.count()
    assert errors_of(patch(admin_client, {})) == [
        ("settings", "required: an object of setting name: value")
    ]
    assert errors_of(patch(admin_client, {"settings": {"colour": 1}}))[0][0] == "colour"
    assert patch(operator_client, {"settings": {"max_concurrent_runs": 3}}).status_code == 403
    assert DeploymentSettings.objects.count() == before
