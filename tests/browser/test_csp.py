"""The Content-Security-Policy forbids inline script and style, and the pages still work
(issue 12): htmx polls, swaps and validates with no violation reported by Chromium."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from queueing.models import DaemonHeartbeat
from queueing.services import run_queue, runs

pytestmark = pytest.mark.browser


def test_every_response_carries_the_policy(page):
    response = page.goto("/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_an_injected_inline_script_does_not_run(page, js_errors):
    page.goto("/")

    ran = page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.__injected = true';
            document.head.appendChild(script);
            return window.__injected === true;
        }"""
    )

    assert ran is False
    assert any("inline script" in e and "blocked" in e for e in js_errors), js_errors
    js_errors.clear()


def test_htmx_pages_work_without_a_violation(page, js_errors):
    runs.submit("quick", actor="test")
    run_queue.tick()

    page.goto("/launchpad/?job=quick")
    field = page.get_by_label("Run config (YAML)", exact=True)
    field.fill("ops: [")
    field.press("End")  # validate-as-you-type posts through htmx
    expect(page.locator("#errors-run_config")).to_contain_text("invalid YAML")
    page.goto("/runs/?tab=queued")
    page.wait_for_timeout(3500)  # one poll of the table
    page.goto("/deployment/concurrency/")
    page.goto("/")
    # htmx inserted no <style> of its own: its indicator rules come from app.css.
    assert page.evaluate("document.querySelectorAll('head style').length") == 0
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False

    assert js_errors == []


def test_a_poll_waits_while_a_traceback_is_open_then_resumes(page, js_errors):
    """`data-poll-pause` replaces the eval-based hx-trigger filter the policy forbids."""
    run_queue.tick()
    DaemonHeartbeat.objects.filter(daemon="run_queue").update(
        errors=[{"at": timezone.now().isoformat(), "message": "E: x", "traceback": "Traceback"}]
    )
    page.goto("/deployment/daemons/")
    mark = "document.querySelector('#daemon-health').dataset.mark"

    page.locator("#daemon-health summary").first.click()
    page.evaluate(f"{mark} = 'kept'")
    page.wait_for_timeout(6000)  # more than one 5 s poll interval
    assert page.evaluate(mark) == "kept"  # not swapped while the traceback is open

    page.locator("#daemon-health summary").first.click()  # close it
    page.wait_for_function(f"() => {mark} === undefined", timeout=12_000)
    assert js_errors == []
