"""Configuration: effective YAML with sources, import (check, preview, apply), export."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from queueing.models import AuditEntry
from queueing.services.config import current_config, sources

from .conftest import HTMX, XSS, html

PAGE = reverse("configuration")
IMPORT = reverse("configuration-import")
GOOD = "run_queue:\n  max_concurrent_runs: 7\n  tag_concurrency_limits:\n    - key: database\n      limit: 2\nstorage:\n  sqlite: {}\n"


def test_the_page_shows_the_yaml_and_each_settings_source(as_viewer):
    page = html(as_viewer.get(PAGE))
    assert "max_concurrent_runs" in page and "default" in page
    assert reverse("configuration-export") in page
    assert "Importing a configuration needs the admin role" in page and "<textarea" not in page


def test_importing_shows_the_changes_first_and_saves_nothing(as_admin):
    response = as_admin.post(IMPORT, {"text": GOOD})
    page = html(response)
    assert response.status_code == 200
    assert "changes 2 settings" in page and "database (any value): 2" in page
    assert "Ignored sections" in page and "storage" in page
    assert 'name="apply" value="1"' in page
    assert current_config().queue.max_concurrent_runs == 10


def test_applying_an_import_saves_it_marks_sources_and_audits(as_admin):
    response = as_admin.post(IMPORT, {"text": GOOD, "apply": "1"})
    assert response.status_code == 302 and response["Location"] == PAGE
    assert current_config().queue.max_concurrent_runs == 7
    assert sources()["max_concurrent_runs"] == "imported"
    assert AuditEntry.objects.get(action="config.import").actor == "admin-user"
    page = html(as_admin.get(PAGE))
    assert "imported" in page and "max_concurrent_runs: 7" in page


def test_an_htmx_apply_reloads_the_whole_page(as_admin):
    response = as_admin.post(IMPORT, {"text": GOOD, "apply": "1"}, **HTMX)
    assert response["HX-Redirect"] == PAGE


def test_an_invalid_file_shows_every_error_with_its_path(as_admin):
    text = "run_queue:\n  max_concurrent_runs: -5\n  nope: 1\n"
    response = as_admin.post(IMPORT, {"text": text, "apply": "1"})
    page = html(response)
    assert response.status_code == 400
    assert "run_queue.max_concurrent_runs" in page and "run_queue.nope" in page
    assert "nothing was changed" in page
    assert current_config().queue.max_concurrent_runs == 10


def test_a_yaml_syntax_error_names_its_line(as_admin):
    page = html(as_admin.post(IMPORT, {"text": "run_queue:\n  max: [1\n"}, **HTMX))
    assert "line 3" in page
    assert '<section id="config-import">' in page and "<html" not in page


def test_a_file_can_be_uploaded(as_admin):
    upload = SimpleUploadedFile("dagster.yaml", GOOD.encode(), content_type="application/yaml")
    page = html(as_admin.post(IMPORT, {"file": upload}))
    assert "changes 2 settings" in page


def test_an_empty_import_is_refused(as_admin):
    response = as_admin.post(IMPORT, {"text": "  "})
    assert response.status_code == 400 and "paste a dagster.yaml" in html(response)


def test_export_downloads_a_dagster_yaml(as_viewer, as_admin):
    as_admin.post(IMPORT, {"text": GOOD, "apply": "1"})
    response = as_viewer.get(reverse("configuration-export"))
    assert response["Content-Disposition"] == 'attachment; filename="dagster.yaml"'
    assert "max_concurrent_runs: 7" in response.content.decode()


def test_imported_text_is_escaped_in_the_errors(as_admin):
    page = html(as_admin.post(IMPORT, {"text": f"run_queue:\n  {XSS}: 1\n"}))
    assert XSS not in page
