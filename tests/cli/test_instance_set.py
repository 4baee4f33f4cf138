"""`manage.py instance set NAME=VALUE...`: settings by name, as the Concurrency page and
`PATCH /api/config/` change them (services.config.edit_settings)."""

from __future__ import annotations

from queueing.engine.types import TagLimit
from queueing.models import AuditEntry
from queueing.services import config as config_service

from .conftest import failed, ok


def test_set_changes_settings_read_as_yaml_and_audits_them(db):
    result = ok(
        "instance",
        "set",
        "max_concurrent_runs=4",
        "tag_limits=[{key: team, limit: 1}]",
        "monitoring.enabled=false",
    )

    config = config_service.current_config()
    assert config.queue.max_concurrent_runs == 4
    assert config.queue.tag_limits == (TagLimit("team", 1),)
    assert config.monitoring.enabled is False
    assert result.out.strip().endswith("changed 3 setting(s)")
    assert config_service.sources()["max_concurrent_runs"] == "cli"
    assert AuditEntry.objects.get().actor == "cli"


def test_set_refuses_each_bad_setting_by_name_and_changes_nothing(unchanged):
    result = failed("instance", "set", "max_concurrent_runs=-2", "no_such=1")

    assert result.error_lines[0] == (
        "max_concurrent_runs: -2 is invalid: use -1 for no limit or a number >= 0"
    )
    assert result.error_lines[1].startswith("no_such: unknown setting")
    unchanged()


def test_set_dry_run_saves_nothing(unchanged):
    data = ok("instance", "set", "max_concurrent_runs=2", "--dry-run", "--json").json

    assert data == {"dry_run": True, "changes": {"max_concurrent_runs": {"old": 10, "new": 2}}}
    unchanged()


def test_set_needs_name_equals_value(unchanged):
    assert failed("instance", "set", "max_concurrent_runs").error_lines == [
        "max_concurrent_runs: expected NAME=VALUE"
    ]
    unchanged()
