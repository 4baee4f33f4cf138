"""The runs tabs: live updates from real workers, terminating, and inert tag values."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from queueing.engine.types import RunStatus
from queueing.models import Run
from queueing.services import runs
from tests.services.helpers import load_config

from .helpers import launch_from_launchpad

pytestmark = pytest.mark.browser

# Long enough that a table polling every 3 s sees the run in progress at least once.
SLEEPY_CONFIG = "ops:\n  plain_sleep:\n    config:\n      seconds: 5\n"


def _row(page, run: Run):
    return page.locator("#runs-table tbody tr", has_text=run.run_id[:8])


def test_it_moves_a_launched_run_from_queued_to_in_progress_to_finished_without_reload(
    page, processes
):
    # Frozen queue first, so the run is surely seen queued before anything launches.
    load_config({"run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 0}})
    processes.worker()
    processes.beat()
    run = launch_from_launchpad(page, "sleepy", SLEEPY_CONFIG)

    tabs = {}
    for tab in ("queued", "in_progress", "finished"):
        tab_page = page.context.new_page()
        tab_page.goto(f"/runs/?tab={tab}")
        tabs[tab] = tab_page
    expect(_row(tabs["queued"], run)).to_be_visible()
    expect(_row(tabs["in_progress"], run)).to_have_count(0)
    expect(_row(tabs["finished"], run)).to_have_count(0)
    navigations: list[str] = []  # htmx swaps only: none of the tabs may load a page again
    for tab_page in tabs.values():
        tab_page.on("framenavigated", lambda frame: navigations.append(frame.url))

    load_config({"run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 5}})

    in_progress = _row(tabs["in_progress"], run)
    expect(in_progress).to_be_visible(timeout=30_000)
    expect(in_progress.locator(".status")).to_have_text(re.compile("^(STARTING|STARTED)$"))
    expect(_row(tabs["queued"], run)).to_have_count(0)
    finished = _row(tabs["finished"], run)
    expect(finished).to_be_visible(timeout=30_000)
    expect(finished.locator(".status")).to_have_text("SUCCESS")
    expect(in_progress).to_have_count(0)
    # The run's own page followed along too.
    expect(page.locator(".run-header .status")).to_have_text("SUCCESS")
    assert navigations == []
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCESS


def test_it_terminates_a_queued_run_after_the_confirm_dialog(page):
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    kept = runs.submit("quick", actor="test")
    doomed = runs.submit("quick", actor="test")
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto("/runs/?tab=queued")
    expect(_row(page, doomed)).to_contain_text("max_concurrent_runs")
    _row(page, doomed).get_by_role("button", name="Terminate").click()

    expect(page.get_by_role("status")).to_contain_text(f"Run {doomed.run_id[:8]} is now CANCELED")
    expect(_row(page, doomed)).to_have_count(0)
    expect(_row(page, kept)).to_be_visible()
    assert dialogs == [f"Terminate run {doomed.run_id[:8]} of quick?"]
    doomed.refresh_from_db()
    kept.refresh_from_db()
    assert (doomed.status, kept.status) == (RunStatus.CANCELED, RunStatus.QUEUED)


def test_it_shows_a_script_in_a_tag_value_as_text_without_running_it(page):
    payload = "<script>window.__pwned = true; alert('xss')</script>"
    run = runs.submit("quick", tags={"note": payload}, actor="test")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    for url in ("/runs/?tab=queued", f"/runs/{run.run_id}/"):
        page.goto(url)
        expect(page.get_by_text(payload).first).to_be_visible()
        assert page.evaluate("window.__pwned") is None
    page.wait_for_timeout(300)  # a dialog opened by a late script would show up by now
    assert dialogs == []
