"""Every page renders with its styles and scripts, without errors or sideways scrolling."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from queueing.services import pools, run_queue, runs
from tests.services.helpers import load_config

pytestmark = pytest.mark.browser


def _pages(run_id: str) -> list[str]:
    pages = [
        "/",
        "/runs/?tab=queued",
        "/runs/?tab=in_progress",
        "/runs/?tab=finished",
        f"/runs/{run_id}/",
        "/launchpad/?job=redshift_etl",
        "/deployment/concurrency/",
        "/deployment/configuration/",
        "/deployment/daemons/",
    ]
    try:  # written by another engineer; checked once it is wired up
        pages.append(reverse("troubleshooting"))
    except NoReverseMatch:
        pass
    return pages


def test_every_page_loads_styled_without_errors_or_horizontal_overflow(page, js_errors):
    limits = [{"key": "database", "value": "redshift", "limit": 1}]
    load_config({"run_queue": {"tag_concurrency_limits": limits}})
    pools.set_limit("redshift", 1, actor="test")
    runs.submit("redshift_etl", actor="test")
    held = runs.submit("redshift_etl", tags={"note": "a-very-long-value-" * 8}, actor="test")
    run_queue.tick()

    for url in _pages(held.run_id):
        page.goto(url)
        expect(page.locator("main h1")).to_be_visible()
        # Pico and app.css applied (the first paints the body, the second the top bar) and
        # htmx loaded.
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.topbar')).borderBottomStyle")
            == "solid"
        ), url
        assert page.evaluate("typeof window.htmx") == "object", url
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{url} scrolls sideways by {overflow}px"
    assert js_errors == []
