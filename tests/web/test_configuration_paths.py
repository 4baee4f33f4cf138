"""The Configuration page names each setting by its YAML path under the block the deployment
uses, and says where its value comes from in words (file import, dashboard edit by whom,
default)."""

from __future__ import annotations

from queueing.services import config as config_service

from .conftest import html


def test_an_edit_in_the_browser_shows_the_run_queue_path_and_who_made_it(as_admin):
    config_service.load_yaml("run_queue:\n  max_concurrent_runs: 3\n", actor="carol")
    config_service.edit_settings({"max_concurrent_runs": 2}, "alice", source="browser")

    page = html(as_admin.get("/deployment/configuration/"))

    assert "<code>run_queue.max_concurrent_runs</code>" in page
    assert "concurrency.runs.max_concurrent_runs" not in page
    assert "dashboard edit by alice" in page
    assert "<code>run_monitoring.enabled</code>" in page  # not an internal name
    assert "monitoring.enabled</code>" not in page.replace("run_monitoring.enabled</code>", "")


def test_an_imported_value_says_file_import_and_untouched_ones_default(as_admin):
    config_service.load_yaml("run_queue:\n  max_concurrent_runs: 3\n", actor="carol")
    page = html(as_admin.get("/deployment/configuration/"))
    assert "file import by carol" in page
    assert ">default<" in page
