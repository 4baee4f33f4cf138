"""Editing a pool limit in place on the Concurrency page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from queueing.models import AuditEntry, Pool
from queueing.services import pools

pytestmark = pytest.mark.browser


def test_it_saves_a_pool_limit_edited_in_place_and_lists_the_change_in_history(page):
    pool = pools.set_limit("redshift", 2, actor="setup")
    page.goto("/deployment/concurrency/")
    row = page.locator(f"#pool-{pool.pk}")
    history = page.locator("#history")
    expect(history).not_to_contain_text("admin-user")
    url_before = page.url

    row.get_by_title("Edit the limit of redshift").click()
    limit = page.get_by_label("Limit of redshift")
    expect(limit).to_have_value("2")
    limit.fill("5")
    page.locator(f"#pool-{pool.pk}").get_by_role("button", name="Save").click()

    row = page.locator(f"#pool-{pool.pk}")
    expect(row.get_by_title("Edit the limit of redshift")).to_have_text("5")
    expect(page.get_by_role("status")).to_contain_text("Pool redshift: limit 5.")
    entry = history.locator("tbody tr", has_text="admin-user")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("pool.set_limit redshift")
    cells = entry.locator("td")
    expect(cells.nth(3)).to_have_text("2")  # old
    expect(cells.nth(5)).to_have_text("5")  # new
    assert page.url == url_before  # swapped in place, no navigation

    pool.refresh_from_db()
    assert pool.limit == 5
    assert AuditEntry.objects.filter(actor="admin-user", target="redshift").exists()


def test_it_keeps_the_row_open_with_the_error_when_the_limit_is_refused(page):
    pool = pools.set_limit("api", 3, actor="setup")
    page.goto("/deployment/concurrency/")
    page.locator(f"#pool-{pool.pk}").get_by_title("Edit the limit of api").click()
    limit = page.get_by_label("Limit of api")
    # The browser's own min/max check would stop the form before the server sees it.
    limit.evaluate("input => { input.removeAttribute('min'); input.removeAttribute('max'); }")
    limit.fill("-4")
    page.locator(f"#pool-{pool.pk}").get_by_role("button", name="Save").click()

    expect(page.locator(f"#pool-limit-{pool.pk}-errors")).to_be_visible()
    expect(page.get_by_label("Limit of api")).to_have_attribute("aria-invalid", "true")
    assert Pool.objects.get(pk=pool.pk).limit == 3


# Text width of the option shown, against the room the select leaves it (padding includes
# the arrow): what the eye sees cut off.
_OPTION_FITS = """select => {
    const style = getComputedStyle(select);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return [...select.options].map(o => [o.text, Math.ceil(context.measureText(o.text).width), room]);
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_tag_limit_kind_shows_whole_on_desktop_and_phone(page, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/deployment/concurrency/")
    kind = page.locator("select[name=tag-kind]")

    for text, needed, room in kind.evaluate(_OPTION_FITS):
        assert needed <= room, f"{text!r} needs {needed} px, the select leaves {room} px"
    # And the form never scrolls sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
