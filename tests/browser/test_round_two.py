"""Issue 14's last points in the browser: the simulator's diff against today, the held-by
runs of a backfill as links; each page also passes axe (light and dark)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from queueing.models import Run
from queueing.services import backfills, pools, run_queue, runs
from tests.services.helpers import load_config

from .helpers import axe_light_and_dark

pytestmark = pytest.mark.browser


def test_the_simulator_shows_the_diff_against_today_and_keeps_its_inputs(axe_page):
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    pools.set_limit("api", 0, actor="test")
    first, second = runs.submit("quick", actor="t"), runs.submit("quick", actor="t")
    held = runs.submit("api_ingest", actor="t")
    page = axe_page

    page.goto("/troubleshooting/")
    form = page.locator("#what-if form")
    form.get_by_label("max_concurrent_runs").fill("3")
    form.get_by_label("Pool", exact=True).fill("api")
    form.get_by_label("Pool limit").fill("1")
    form.get_by_role("button", name="Simulate").click()

    table = page.locator("#simulation-changes")
    expect(table).to_be_visible()
    # Today `first` starts and the rest wait; with the change all three start.
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(second.run_id[:8])
    expect(rows.nth(0)).to_contain_text("waits: max_concurrent_runs: 1 of 1")
    expect(rows.nth(1)).to_contain_text(held.run_id[:8])
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("starts")
    assert first.run_id[:8] not in table.inner_text()
    # The inputs are kept after Simulate.
    expect(form.get_by_label("max_concurrent_runs")).to_have_value("3")
    expect(form.get_by_label("Pool", exact=True)).to_have_value("api")
    expect(form.get_by_label("Pool limit")).to_have_value("1")
    assert axe_light_and_dark(page, "troubleshooting with a simulation") == []
    rows.nth(1).get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/runs/{held.run_id}/$"))


def test_the_backfill_page_links_the_runs_that_hold_its_queued_runs(axe_page):
    load_config(
        {"run_queue": {"tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 1}]}}
    )
    backfill = backfills.launch(
        "daily_sales_job", partitions=["2024-01-01", "2024-01-02"], actor="t"
    )
    run_queue.tick()
    holder = Run.objects.get(backfill=backfill, status="STARTING").run_id
    page = axe_page

    page.goto(f"/backfills/{backfill.backfill_id}/")

    section = page.locator("section.explain")
    expect(section).to_contain_text("What holds its queued runs")
    link = section.get_by_role("link", name=holder[:8])
    expect(link).to_have_attribute("href", f"/runs/{holder}/")
    assert axe_light_and_dark(page, "backfill page") == []
    link.click()
    expect(page.locator("main h1")).to_contain_text(holder)
