"""The overview's queue banner: limits holding every run is not a stalled queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from queueing.models import Run, TickRecord
from queueing.services import run_queue, runs
from tests.services.helpers import load_config

pytestmark = pytest.mark.browser


def test_it_says_limits_hold_the_queue_when_ticks_run_but_a_tag_limit_holds_every_run(page):
    limits = [{"key": "database", "value": "redshift", "limit": 1}]
    load_config({"run_queue": {"dequeue_interval_seconds": 1, "tag_concurrency_limits": limits}})
    runs.submit("redshift_etl", actor="test")
    held = runs.submit("redshift_etl", actor="test")
    run_queue.tick()  # launches the first one
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    Run.objects.update(created_at=a_minute_ago)
    TickRecord.objects.update(started_at=a_minute_ago)
    run_queue.tick()  # a recent tick that launches nothing: the tag limit is full

    page.goto("/")
    banner = page.locator(".banner-warning")
    expect(banner).to_contain_text("Limits hold the queue: 1 run queued and room for")
    expect(banner).not_to_contain_text("not moving")

    # A run no tick has judged yet, with no tick for a minute: that is a stall.
    TickRecord.objects.update(started_at=a_minute_ago)
    Run.objects.filter(pk=held.pk).update(wait_rule="")
    page.reload()
    expect(banner).to_contain_text("The queue is not moving")
