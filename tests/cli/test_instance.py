"""`manage.py instance check PATH | load PATH [--dry-run] | show`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from queueing.models import AuditEntry, DeploymentSettings
from queueing.services import config as config_service

from .conftest import failed, ok, snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "instance"


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "dagster.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_load_applies_the_file_and_lists_the_changes(db, write):
    path = write("run_queue:\n  max_concurrent_runs: 2\n")

    result = ok("instance", "load", path)

    assert result.out.splitlines() == [
        "  max_concurrent_runs: 10 -> 2",
        f"{path}: loaded; 1 setting(s) changed",
    ]
    assert config_service.current_config().queue.max_concurrent_runs == 2
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action) == ("cli", "config.import")


def test_load_dry_run_changes_nothing(unchanged, write):
    path = write("run_queue:\n  max_concurrent_runs: 2\n")

    result = ok("instance", "load", path, "--dry-run", "--json")

    assert result.json["changes"] == {"max_concurrent_runs": {"old": 10, "new": 2}}
    assert result.json["dry_run"] is True
    unchanged()


def test_check_says_valid_without_changing_anything(unchanged, write):
    path = write((FIXTURES / "valid_concurrency.yaml").read_text())

    assert ok("instance", "check", path).out.strip() == f"{path}: valid"
    assert ok("instance", "check", path, "--json").json == {
        "path": path,
        "valid": True,
        "ignored_sections": [],
        "warnings": [],
    }
    unchanged()


@pytest.mark.parametrize("action", ["check", "load"])
def test_an_invalid_file_exits_1_with_one_line_per_problem(unchanged, write, action):
    path = write(
        "run_queue:\n  max_concurrent_runs: -2\n  dequeue_interval_seconds: '5'\n  max_runs: 3\n"
    )

    result = failed("instance", action, path)

    assert result.error_lines == [
        "run_queue.max_concurrent_runs: -2 is invalid: use -1 for no limit or a number >= 0",
        "run_queue.dequeue_interval_seconds: expected an integer, got string '5'",
        "run_queue.max_runs: unknown key 'max_runs'; allowed keys: block_op_concurrency_limited_runs, "
        "dequeue_interval_seconds, dequeue_num_workers, dequeue_use_threads, max_concurrent_runs, "
        "max_user_code_failure_retries, tag_concurrency_limits, user_code_failure_retry_delay",
    ]
    unchanged()


@pytest.mark.parametrize(
    ("fixture", "first_line"),
    [
        ("invalid_yaml_syntax.yaml", "<file>: invalid YAML at line 6, column 1"),
        ("invalid_both_coordinators.yaml", "run_queue"),
        ("invalid_conflict.yaml", "concurrency"),
        ("invalid_run_granularity_without_blocking.yaml", "concurrency.pools.granularity"),
    ],
)
def test_invalid_fixtures_are_refused_naming_the_path(unchanged, fixture, first_line):
    result = failed("instance", "load", str(FIXTURES / fixture))

    assert result.error_lines[0].startswith(first_line), result.err
    for line in result.error_lines:
        assert ": " in line
    unchanged()


def test_a_file_with_many_errors_reports_every_one(unchanged):
    result = failed("instance", "load", str(FIXTURES / "invalid_many_errors.yaml"))

    assert len(result.error_lines) >= 10
    assert "concurrency.pools.default_limit: 1001 is out of range" in result.err
    assert "run_monitoring.poll_interval_seconds: 0 is invalid: it must be >= 1" in result.err
    unchanged()


def test_a_string_where_a_number_belongs_is_refused(unchanged, write):
    result = failed("instance", "load", write('run_queue:\n  max_concurrent_runs: "5"\n'))

    assert result.error_lines == [
        "run_queue.max_concurrent_runs: expected an integer, got string '5'"
    ]
    unchanged()


def test_unused_sections_are_reported_as_ignored_not_rejected(db, write):
    path = write(
        "storage:\n  sqlite: {}\ncompute_logs:\n  module: x\nrun_queue:\n  max_concurrent_runs: 4\n"
    )

    result = ok("instance", "load", path)

    assert result.err.splitlines() == [
        "storage: ignored (not used by concurrency-ui)",
        "compute_logs: ignored (not used by concurrency-ui)",
    ]
    assert config_service.current_config().queue.max_concurrent_runs == 4
    # Kept verbatim, so `show` gives them back.
    assert yaml.safe_load(ok("instance", "show").out)["storage"] == {"sqlite": {}}


def test_a_10_mb_file_is_refused_before_reading(unchanged, write):
    path = write("# padding\n" * (1024 * 1024))

    assert failed("instance", "load", path).error_lines == [
        f"{path}: file is larger than 1048576 bytes (INPUT_MAX_BYTES)"
    ]
    unchanged()


def test_a_missing_or_binary_file_is_refused(unchanged, tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")

    assert failed("instance", "check", str(tmp_path / "nope.yaml")).error_lines == [
        f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
    ]
    assert failed("instance", "load", str(binary)).error_lines == [
        f"{binary}: file is not a UTF-8 text file"
    ]
    unchanged()


@pytest.mark.parametrize(
    "fixture",
    [
        "valid_concurrency.yaml",
        "valid_run_queue.yaml",
        "valid_legacy_run_coordinator.yaml",
        "valid_empty.yaml",
    ],
)
def test_show_then_load_changes_nothing(db, write, fixture, monkeypatch):
    monkeypatch.setenv("DAGSTER_MAX_CONCURRENT_RUNS", "7")
    ok("instance", "load", str(FIXTURES / fixture))
    config_service.update_document(
        lambda doc: doc.setdefault("run_monitoring", {}).update(poll_interval_seconds=45),
        actor="test",
        source="browser",
    )
    shown = ok("instance", "show").out
    check = snapshot()
    row = DeploymentSettings.objects.get(pk=1)

    result = ok("instance", "load", write(shown))

    assert result.out.splitlines()[-1].endswith(": loaded; 0 setting(s) changed")
    assert ok("instance", "show").out == shown
    row.refresh_from_db()
    assert config_service.current_config() == config_service.config_from_row(row)
    check()


def test_show_json_is_the_document(db, write):
    ok("instance", "load", write("run_queue:\n  max_concurrent_runs: 3\n"))

    assert ok("instance", "show", "--json").json == {"run_queue": {"max_concurrent_runs": 3}}
    assert ok("instance", "--json", "show").json == {"run_queue": {"max_concurrent_runs": 3}}
