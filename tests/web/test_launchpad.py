"""Launchpad: job list with location errors, scaffolded run config, live validation, launch."""

from __future__ import annotations

import pytest
import yaml
from django.urls import reverse

from queueing import locations
from queueing.models import Run

from .conftest import XSS, html

LAUNCHPAD = reverse("launchpad")
VALIDATE = reverse("launchpad-validate")


def launch_data(job: str = "redshift_etl", config: str = "", **extra):
    return {"job": job, "run_config": config, "tag_key": ["", ""], "tag_value": ["", ""], **extra}


def test_it_lists_jobs_of_every_location_and_scaffolds_the_run_config(as_viewer):
    response = as_viewer.get(LAUNCHPAD, {"job": "redshift_etl"})
    page = html(response)
    for job in ["redshift_etl", "quick", "orders_pipeline"]:
        assert f'value="{job}"' in page
    config = yaml.safe_load(response.context["form"]["run_config"].value())
    assert config["execution"] == {
        "config": {"multiprocess": {"max_concurrent": 4, "tag_concurrency_limits": []}}
    }
    assert config["ops"]["load_orders"]["config"]["table"] == "analytics.orders"


def test_htmx_job_change_returns_only_the_editor(as_operator):
    response = as_operator.get(LAUNCHPAD, {"job": "quick"}, HTTP_HX_REQUEST="true")
    page = html(response)
    assert '<div id="launch-editor">' in page and "<html" not in page
    assert 'name="job" value="quick"' in page


def test_a_location_that_failed_to_load_is_shown(as_viewer, monkeypatch):
    broken = locations.Workspace(
        [
            *locations.get_workspace().locations,
            locations.LoadedLocation(name="team.broken", defs=None, error=f"ImportError: {XSS}"),
        ]
    )
    monkeypatch.setattr(locations, "_workspace", broken)
    page = html(as_viewer.get(LAUNCHPAD))
    assert "team.broken" in page and "failed to load" in page
    assert XSS not in page and "ImportError: &lt;script&gt;" in page


def test_a_viewer_sees_the_config_but_no_launch_form(as_viewer):
    page = html(as_viewer.get(LAUNCHPAD))
    assert "Launch run" not in page and "needs the operator" in page


def test_validation_reports_the_line_and_column_of_a_yaml_syntax_error(as_operator):
    response = as_operator.post(VALIDATE, launch_data(config="ops:\n  load_orders: [1, 2\n"))
    page = html(response)
    assert 'id="errors-run_config"' in page and 'hx-swap-oob="true"' in page
    assert "invalid YAML at line 3, column 1" in page
    assert "Fix the problems" in page


@pytest.mark.parametrize(
    ("field", "data", "message"),
    [
        ("run_config", launch_data(config="ops:\n  nope: {}\n"), "no step with this key"),
        (
            "run_config",
            launch_data(
                config="execution:\n  config:\n    multiprocess:\n      max_concurrent: -2\n"
            ),
            "is invalid",
        ),
        ("run_config", launch_data(config="- a list\n"), "must be a mapping"),
        ("priority", launch_data(priority="high"), "is not a whole number"),
        ("priority", launch_data(priority="1_0"), "is not a whole number"),
        ("priority", launch_data(priority="\u0663"), "is not a whole number"),
        ("run_config", launch_data(config="ops: 2001-12-14\n"), "expected a mapping of step"),
        ("run_config", launch_data(config="ops: !!binary aGk=\n"), "!!binary is not accepted"),
        ("run_config", launch_data(config="ops: .inf\n"), ".inf is not a finite number"),
        ("priority", launch_data(priority="3000000000"), "out of range"),
        ("tags", launch_data(tag_key=["a", "a"], tag_value=["1", "2"]), "given twice"),
        ("job", launch_data(job="no_such_job"), "unknown job"),
    ],
)
def test_validation_puts_each_error_next_to_its_field(as_operator, field, data, message):
    page = html(as_operator.post(VALIDATE, data))
    start = page.index(f'id="errors-{field}"')
    assert message in page[start : page.index("</div>", start)]


def test_valid_input_says_ready(as_operator):
    page = html(as_operator.post(VALIDATE, launch_data(priority="4")))
    assert "ready to launch" in page


def test_launch_submits_the_run_and_redirects_to_its_page(as_operator):
    data = launch_data(
        config="ops:\n  load_orders:\n    config:\n      table: t.x\n",
        priority="9",
        tag_key=["team", ""],
        tag_value=["data", ""],
    )
    response = as_operator.post(LAUNCHPAD, data)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("run-detail", args=[run.run_id])
    assert (run.job_name, run.status, run.priority) == ("redshift_etl", "QUEUED", 9)
    assert run.tags == {
        "database": "redshift",
        "team": "data",
        "dagster/priority": "9",
        "dagster/code_location": "queueing.demo.definitions",
    }
    assert run.run_config["ops"]["load_orders"]["config"]["table"] == "t.x"
    assert "submitted by operator-user" in run.events.get().message


def test_an_invalid_launch_stores_nothing_and_shows_the_errors(as_operator):
    response = as_operator.post(LAUNCHPAD, launch_data(config="ops: [", priority="x"))
    assert response.status_code == 400
    page = html(response)
    assert "invalid YAML" in page and "is not a whole number" in page
    assert not Run.objects.exists()


def test_add_row_keeps_the_input_and_adds_a_tag_row(as_operator):
    data = launch_data(tag_key=["team", ""], tag_value=["data", ""], add_row="1")
    response = as_operator.post(LAUNCHPAD, data)
    assert response.status_code == 200 and not Run.objects.exists()
    assert html(response).count('name="tag_key"') == 4
    assert 'value="team"' in html(response)


def test_tag_values_typed_by_the_user_are_escaped(as_operator):
    page = html(
        as_operator.post(LAUNCHPAD, launch_data(tag_key=[XSS], tag_value=[XSS], add_row="1"))
    )
    assert XSS not in page and "&lt;script&gt;" in page


def test_a_history_restore_gets_the_whole_page(as_viewer):
    response = as_viewer.get(
        LAUNCHPAD, {"job": "quick"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in html(response) and 'id="launch-editor"' in html(response)


def test_the_steps_show_their_pools_and_weights(as_viewer):
    import re

    def text(response) -> str:
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html(response)))

    page = text(as_viewer.get(LAUNCHPAD, {"job": "partner_sync"}))
    assert "(pool partner_api, pool warehouse ×2)" in page
    weighted = text(as_viewer.get(LAUNCHPAD, {"job": "warehouse_rebuild"}))
    assert "(pool warehouse ×3)" in weighted and "(pool warehouse)" in weighted
