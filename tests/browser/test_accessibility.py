"""Usable by everyone: axe-core (vendored for the tests only, tests/browser/vendor) finds no
serious or critical violation on any page, in light and dark, nor in fragments htmx swaps
in; no page scrolls sideways at 390 px; a skip link, visible focus, a theme toggle, and the
product's own 404 page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from queueing.models import Pool, PoolClaim, Run, Step
from queueing.services import pools, run_queue, runs
from tests.services.helpers import load_config

from .conftest import POLL_PROOF_TIMEOUT_MS
from .helpers import violations

pytestmark = pytest.mark.browser

MOBILE = {"width": 390, "height": 844}


@pytest.fixture
def world(transactional_db) -> dict[str, str]:
    """Queued, waiting and stuck runs, a closed pool and a pool at its limit."""
    load_config({"run_queue": {"max_concurrent_runs": 2}})
    pools.set_limit("redshift", 1, actor="test")
    pools.set_limit("api", 0, actor="test")
    first = runs.submit("redshift_etl", actor="test")
    runs.submit("redshift_etl", tags={"note": "a-very-long-value-" * 6}, actor="test")
    waiting = runs.submit("redshift_etl", actor="test")
    run_queue.tick()
    stuck = runs.submit("api_ingest", actor="test")
    long_ago = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=stuck.pk).update(status="STARTED", started_at=long_ago)
    for step in stuck.steps.filter(pool="api"):
        Step.objects.filter(pk=step.pk).update(status=Step.Status.WAITING)
        PoolClaim.objects.create(
            pool_key="api", run=stuck, step_key=step.step_key, enqueued_at=long_ago
        )
    return {"first": first.run_id, "waiting": waiting.run_id, "stuck": stuck.run_id}


def _pages(world: dict[str, str]) -> list[str]:
    return [
        "/",
        "/runs/?tab=queued",
        "/runs/?tab=in_progress",
        "/runs/?tab=finished",
        f"/runs/{world['waiting']}/",
        f"/runs/{world['stuck']}/",
        "/pools/redshift/",
        "/pools/api/",
        "/launchpad/?job=redshift_etl",
        "/deployment/concurrency/",
        "/deployment/configuration/",
        "/deployment/daemons/",
        "/troubleshooting/",
        "/backfills/",
        "/automation/",
        "/runs/00000000-no-such-run/",
    ]


def test_no_page_has_a_serious_or_critical_axe_violation_light_or_dark(axe_page, world):
    problems: list[str] = []
    for scheme in ("light", "dark"):
        axe_page.emulate_media(color_scheme=scheme)
        for url in _pages(world):
            axe_page.goto(url)
            problems += violations(axe_page, f"{url} ({scheme})")
    assert problems == []


def test_fragments_swapped_in_by_htmx_have_no_serious_violation(axe_page, world):
    problems: list[str] = []
    # Polled fragments: wait for a swap, then check what was swapped in.
    for url, target in [
        ("/runs/?tab=queued", "#runs-table"),
        (f"/runs/{world['stuck']}/", "#run-live"),
        ("/pools/redshift/", "#pool-live"),
    ]:
        axe_page.goto(url)
        axe_page.evaluate(
            """() => { window.__swapped = false;
                document.body.addEventListener("htmx:afterSwap", () => { window.__swapped = true; }); }"""
        )
        axe_page.wait_for_function("window.__swapped === true", timeout=POLL_PROOF_TIMEOUT_MS)
        expect(axe_page.locator(target)).to_be_visible()
        problems += violations(axe_page, f"{url} after a poll")
    # An action's fragment: the in-place pool limit editor.
    axe_page.goto("/deployment/concurrency/")
    pk = Pool.objects.get(key="redshift").pk
    axe_page.locator(f"#pool-{pk} a.editable").click()
    expect(axe_page.locator(f"#pool-{pk} input[name=limit]")).to_be_visible()
    problems += violations(axe_page, "pool limit editor")
    assert problems == []


def test_no_page_scrolls_sideways_at_390_px_and_the_menu_stays_on_screen(axe_page, world):
    axe_page.set_viewport_size(MOBILE)
    for url in _pages(world):
        axe_page.goto(url)
        overflow = axe_page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 390 px"
        for name in ("Deployment", "Log out"):
            box = axe_page.get_by_text(name, exact=True).first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (url, name)


def test_a_skip_link_and_visible_focus_on_the_nav(axe_page, world):
    axe_page.goto("/runs/?tab=queued")
    axe_page.keyboard.press("Tab")
    skip = axe_page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    axe_page.keyboard.press("Enter")
    assert axe_page.evaluate("document.activeElement.id") == "main"
    # Tab to the first nav link: the focus ring is drawn.
    axe_page.goto("/")
    for _ in range(3):
        axe_page.keyboard.press("Tab")
    outline = axe_page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline


def test_dark_mode_follows_the_system_and_the_toggle_overrides_it(axe_page, world):
    axe_page.emulate_media(color_scheme="dark")
    axe_page.goto("/")
    background = "getComputedStyle(document.documentElement).backgroundColor"
    dark = axe_page.evaluate(background)
    axe_page.emulate_media(color_scheme="light")
    light = axe_page.evaluate(background)
    assert dark != light
    toggle = axe_page.locator("[data-theme-toggle]")
    expect(toggle).to_have_text("Theme: auto")
    toggle.click()  # auto -> light
    toggle.click()  # light -> dark, although the system is light
    expect(toggle).to_have_text("Theme: dark")
    assert axe_page.evaluate(background) == dark
    axe_page.reload()  # the choice is kept
    expect(axe_page.locator("html")).to_have_attribute("data-theme", "dark")


def test_an_unknown_run_gets_the_products_404_page(axe_page, world):
    response = axe_page.goto("/runs/00000000-no-such-run/")
    assert response is not None and response.status == 404
    expect(axe_page.locator("main h1")).to_have_text("Not found")
    expect(axe_page.locator(".topbar")).to_be_visible()


def test_the_queued_tabs_rule_filters_are_accessible_and_filter_in_place(
    axe_page, transactional_db
):
    """Issue 18's filters and columns: fair share's turn, the queue-age bound, what holds a
    run; chosen in the form, the filtered table comes back, light and dark, without a
    serious axe violation."""
    load_config(
        {
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": 2,
                    "tag_concurrency_limits": [
                        {"key": "dagster/backfill", "value": {"maxUniqueValues": 1}}
                    ],
                }
            },
            "concurrency_ui": {"fair_share": {"key": "team"}, "max_queued_seconds": 3600},
        }
    )
    runs.submit("quick", tags={"team": "data", "dagster/backfill": "b1"}, actor="test")
    capped = runs.submit("quick", tags={"team": "data", "dagster/backfill": "b2"}, actor="test")
    for _ in range(3):
        runs.submit("quick", tags={"team": "growth"}, actor="test")
    old = timezone.now() - timedelta(minutes=55)
    Run.objects.filter(pk=capped.pk).update(enqueued_at=old)
    run_queue.tick()

    problems: list[str] = []
    for scheme in ("light", "dark"):
        axe_page.emulate_media(color_scheme=scheme)
        axe_page.goto("/runs/?tab=queued")
        expect(axe_page.get_by_role("columnheader", name="Turn (team)")).to_be_visible()
        problems += violations(axe_page, f"Queued tab with rule columns ({scheme})")
    axe_page.get_by_label("Held by").select_option("max_queued_seconds")
    axe_page.get_by_role("button", name="Filter").click()
    expect(axe_page.locator("#runs-table tbody tr")).to_have_count(1)
    expect(axe_page.locator("#runs-table tbody")).to_contain_text("canceled in")
    axe_page.get_by_label("Fair share: team").select_option("growth")
    axe_page.get_by_role("button", name="Filter").click()
    expect(axe_page.locator("#runs-table")).to_contain_text("No runs match these filters")
    problems += violations(axe_page, "Queued tab filtered to nothing")
    assert problems == []
