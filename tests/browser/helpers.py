"""Steps several browser tests share."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from queueing.models import Run

# axe-core, vendored for the tests only (the product never serves it).
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
BAD_IMPACTS = {"serious", "critical"}


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


def violations(page: Page, where: str) -> list[str]:
    """axe's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
    )
    return [
        f"{where}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        for v in found
        if v["impact"] in BAD_IMPACTS
    ]


def axe_light_and_dark(page: Page, where: str) -> list[str]:
    """`violations` of the page as loaded in the light, then the dark colour scheme."""
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.reload()
        problems += violations(page, f"{where} ({scheme})")
    return problems
