"""The attached-Dagster pages in Chromium: short ids, the runs a reason names as links, the
what-if's diff against today, and no serious or critical axe violation (light and dark)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("dagster", reason="needs the dagster extra (tests/dagster)")

# The attached deployment, built as tests/dagster builds it.
from tests.dagster.conftest import deployment  # noqa: E402, F401
from tests.dagster.test_cli_and_pages import STARVED  # noqa: E402

from .helpers import axe_light_and_dark  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dagster_pages_take_short_ids_link_the_holders_and_pass_axe(request, axe_page):
    from playwright.sync_api import expect

    _, ids = request.getfixturevalue("deployment")(STARVED)
    blocked, starved = ids["queued"][0], ids["queued"][1]
    page = axe_page
    problems: list[str] = []

    def check(where: str) -> None:
        problems.extend(axe_light_and_dark(page, where))

    page.goto("/dagster/")
    # The starved run waits on the team tag its older, pool-blocked neighbour holds; the
    # gate links the holder by its whole id, the quirk note below it by the short one.
    reason = page.locator("#dagster-queued tr", has_text=starved[:8]).locator("td.reason")
    holder_links = reason.get_by_role("link", name=blocked[:8])
    expect(holder_links.first).to_have_attribute("href", f"/dagster/runs/{blocked}/")
    expect(reason.locator(".quirks").get_by_role("link", name=blocked[:8])).to_have_attribute(
        "href", f"/dagster/runs/{blocked[:8]}/"
    )
    check("/dagster/")

    page.goto(f"/dagster/runs/{starved[:10]}/")
    expect(page).to_have_url(re.compile(f"/dagster/runs/{starved}/$"))
    expect(page.locator("#gates")).to_contain_text("tag team: 1 of 1 runs")
    check("/dagster/runs/<id>/")

    page.goto("/dagster/what-if/?pool=p1&pool_limit=1")
    row = page.locator("#simulation-changes tr", has_text=blocked[:8])
    expect(row.locator("td").nth(2)).to_have_text("starts")
    check("/dagster/what-if/")
    for url in ("/dagster/pools/", "/dagster/doctor/"):
        page.goto(url)
        check(url)
    assert problems == [], "\n".join(problems)
