"""Time at cap and wait percentiles per limit, from the stored wait history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.models import RunWait
from queueing.services import metrics, runs

pytestmark = pytest.mark.django_db


def _wait(run, rule, start, end):
    RunWait.objects.create(run=run, rule=rule, message=rule, started_at=start, ended_at=end)


def test_overlapping_waits_count_once_toward_time_at_cap_and_percentiles_use_each_wait():
    now = timezone.now()
    a, b, c = (runs.submit("quick", actor="test") for _ in range(3))
    # Two overlapping waits on the tag: 0-600 s and 300-900 s after `base`.
    base = now - timedelta(minutes=50)
    _wait(a, "tag:database=redshift", base, base + timedelta(seconds=600))
    _wait(b, "tag:database=redshift", base + timedelta(seconds=300), base + timedelta(seconds=900))
    _wait(c, "pool:api", base, base + timedelta(seconds=60))
    # A wait that ended before the window is ignored.
    _wait(c, "pool:api", now - timedelta(hours=3), now - timedelta(hours=2))

    stats = {(s.rule, s.subject): s for s in metrics.limit_history(now)}

    tag = stats[("tag", "database=redshift")]
    assert tag.at_cap_seconds == pytest.approx(900, abs=1)
    assert tag.waits == 2
    assert tag.p50_wait_seconds == pytest.approx(600, abs=1)
    pool = stats[("pool", "api")]
    assert pool.at_cap_seconds == pytest.approx(60, abs=1)
    assert pool.waits == 1
    assert list(stats)[0] == ("tag", "database=redshift")  # longest at cap first


def test_troubleshooting_page_shows_the_limit_history(admin_client):
    now = timezone.now()
    run = runs.submit("quick", actor="test")
    _wait(run, "pool:redshift", now - timedelta(minutes=10), now - timedelta(minutes=5))
    response = admin_client.get("/troubleshooting/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Limits over the last hour" in body
    assert "<code>redshift</code>" in body
    assert "300 s" in body
