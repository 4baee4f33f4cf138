"""Launching a run from the launchpad: errors next to the field, then a valid launch."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from queueing.engine.types import RunStatus
from queueing.models import Run

from .helpers import launch_from_launchpad, type_into

pytestmark = pytest.mark.browser

BROKEN_YAML = "ops:\n  plain_sleep:\n    config: {seconds: 4\n"
VALID_YAML = "ops:\n  plain_sleep:\n    config:\n      seconds: 4\n"


def test_it_shows_a_yaml_error_next_to_the_field_as_you_type_and_on_launch(page):
    page.goto("/launchpad/?job=sleepy")
    expect(page.get_by_label("Run config (YAML)")).to_have_value(re.compile("execution:"))

    type_into(page, "Run config (YAML)", BROKEN_YAML)
    errors = page.locator("#errors-run_config")
    expect(errors).to_contain_text("invalid YAML at line 4")
    expect(page.locator("#launch-summary")).to_have_text("Fix the problems above to launch.")

    page.get_by_role("button", name="Launch run").click()  # the server refuses it too
    expect(page.locator("#errors-run_config")).to_contain_text("invalid YAML at line 4")
    expect(page.get_by_label("Run config (YAML)")).to_have_value(BROKEN_YAML)
    assert not Run.objects.exists()

    type_into(page, "Run config (YAML)", "ops:\n  no_such_step: {}\n")
    expect(errors).to_contain_text("no_such_step")

    run = launch_from_launchpad(page, "sleepy", VALID_YAML, team="analytics")
    expect(page.get_by_role("status")).to_contain_text(f"run {run.run_id[:8]} is queued")
    expect(page.locator(".run-header .status")).to_have_text("QUEUED")
    assert run.status == RunStatus.QUEUED
    assert run.tags["team"] == "analytics"
    assert run.run_config["ops"]["plain_sleep"]["config"] == {"seconds": 4}
