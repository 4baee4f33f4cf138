"""Headless Debian Chromium driven by Playwright (sync API) against pytest-django's live server.

Chromium is the system one (`/usr/bin/chromium`): nothing is downloaded. Without it the
tests skip with a message; under REQUIRE_SERVICES=1 (CI) a skip fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The sync Playwright API runs an event loop in this thread, which makes Django refuse ORM
# calls here ("SynchronousOnlyOperation") although nothing is actually async.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1366, "height": 900}
PASSWORD = "browser-pass-1"
# Tables poll every 3 s: an expectation must outlast a poll interval plus a request or two.
POLL_PROOF_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=POLL_PROOF_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def make_user(transactional_db) -> Callable:
    from django.contrib.auth.models import Group, User

    def make(role: str = "admin", username: str | None = None) -> User:
        user = User.objects.create_user(username=username or f"{role}-user", password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def anonymous_page(browser, live_server) -> Iterator:
    """A fresh browser context: no cookies, the docs' viewport, short default waits."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(POLL_PROOF_TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def js_errors(anonymous_page) -> list[str]:
    """Uncaught JavaScript errors, failed requests and Content-Security-Policy violations
    (Chromium reports each on the console) of the page, as they happen."""
    errors: list[str] = []
    anonymous_page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    anonymous_page.on(
        "console",
        lambda m: (
            errors.append(f"CSP: {m.text}")
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    anonymous_page.on(
        "response",
        lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
    )
    return errors


@pytest.fixture
def page(anonymous_page, make_user, live_server):
    """A page logged in as an admin, through a session cookie (the login form has its test)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(make_user("admin"))
    anonymous_page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return anonymous_page


@pytest.fixture
def axe_page(browser, live_server, make_user) -> Iterator[Page]:
    """A logged-in admin page whose context lets the test inject axe (the product's CSP
    forbids inline scripts, as it should; the tool is not part of the product)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(make_user("admin"))
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(POLL_PROOF_TIMEOUT_MS)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    yield context.new_page()
    context.close()
