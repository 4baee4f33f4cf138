"""Logging in through the form, as a person would."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_it_sends_an_anonymous_visitor_to_login_and_back_to_the_page_asked_for(
    anonymous_page, make_user
):
    make_user("viewer", username="vera")
    page = anonymous_page
    page.goto("/runs/?tab=finished")
    expect(page).to_have_url(re.compile(r"/login/\?next="))

    page.get_by_label("Username").fill("vera")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/runs/\?tab=finished$"))
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.locator("header")).to_contain_text("vera")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
