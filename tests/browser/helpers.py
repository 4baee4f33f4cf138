"""Steps several browser tests share."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from queueing.models import Run


def type_into(page: Page, label: str, text: str) -> None:
    """Replace a field's text and release a key, as the launchpad validates on keyup."""
    field = page.get_by_label(label, exact=True)
    field.fill(text)
    field.press("End")


def launch_from_launchpad(page: Page, job: str, run_config: str, **tags: str) -> Run:
    """Launch `job` through the launchpad form; return the run the browser lands on."""
    page.goto(f"/launchpad/?job={job}")
    type_into(page, "Run config (YAML)", run_config)
    for number, (key, value) in enumerate(tags.items(), start=1):
        page.get_by_label(f"Tag key {number}", exact=True).fill(key)
        page.get_by_label(f"Tag value {number}", exact=True).fill(value)
    expect(page.locator("#launch-summary")).to_have_text("Valid: ready to launch.")
    page.get_by_role("button", name="Launch run").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]+/$"))
    run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    return Run.objects.get(run_id=run_id)
