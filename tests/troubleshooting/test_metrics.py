"""/metrics content: the queue, tags, pools, daemons and time at cap, read at scrape time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from queueing.engine.types import RunStatus
from queueing.services import metrics, pools, run_queue, runs

from .helpers import load, submit

pytestmark = pytest.mark.django_db


def _samples(now=None) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.render(now)
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_queue_depth_by_status_by_configured_tag_and_by_pool():
    limits = [
        {"key": "database", "value": "redshift", "limit": 1},
        {"key": "team", "value": {"applyLimitPerUniqueValue": True}, "limit": 2},
        {"key": "database", "limit": 5},
    ]
    load({"run_queue": {"max_concurrent_runs": 0, "tag_concurrency_limits": limits}})
    submit("redshift_etl", team="a")
    submit("redshift_etl", team="b")
    submit("api_ingest", team="a")

    s = _samples()

    assert s[("concurrency_ui_runs", (("status", "QUEUED"),))] == 3
    assert s[("concurrency_ui_runs", (("status", "STARTED"),))] == 0
    assert (
        s[("concurrency_ui_queued_runs_by_tag", (("key", "database"), ("value", "redshift")))] == 2
    )
    assert s[("concurrency_ui_queued_runs_by_tag", (("key", "database"), ("value", "*")))] == 2
    assert s[("concurrency_ui_queued_runs_by_tag", (("key", "team"), ("value", "a")))] == 2
    assert s[("concurrency_ui_queued_runs_by_tag", (("key", "team"), ("value", "b")))] == 1
    assert s[("concurrency_ui_tag_limit", (("key", "database"), ("value", "redshift")))] == 1
    assert s[("concurrency_ui_queued_runs_by_pool", (("pool", "redshift"),))] == 2
    assert s[("concurrency_ui_queued_runs_by_pool", (("pool", "api"),))] == 1
    assert s[("concurrency_ui_max_concurrent_runs", ())] == 0


def test_slots_in_use_and_waiting_per_pool():
    pools.set_limit("api", 1, actor="test")
    run = submit("api_ingest")
    run_queue.tick()
    runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
    results = [
        pools.try_claim(run, step.step_key, "api", step.priority, None).claimed
        for step in run.steps.filter(pool="api")
    ]
    assert results.count(True) == 1

    s = _samples()

    assert s[("concurrency_ui_pool_limit", (("pool", "api"),))] == 1
    assert s[("concurrency_ui_pool_slots_in_use", (("pool", "api"),))] == 1
    assert s[("concurrency_ui_pool_steps_waiting", (("pool", "api"),))] == 2


def test_tick_duration_launches_health_and_oldest_queued_age():
    load({"run_queue": {"max_concurrent_runs": 2}})
    for _ in range(3):
        submit()
    run_queue.tick()

    s = _samples(now=timezone.now() + timedelta(seconds=30))

    assert s[("concurrency_ui_tick_launched_runs", ())] == 2
    assert s[("concurrency_ui_runs_launched_last_hour", ())] == 2
    assert s[("concurrency_ui_ticks_last_hour", (("daemon", "run_queue"),))] == 1
    assert s[("concurrency_ui_tick_duration_seconds", (("daemon", "run_queue"),))] > 0
    assert s[("concurrency_ui_daemon_healthy", (("daemon", "run_queue"),))] == 1
    assert s[("concurrency_ui_daemon_healthy", (("daemon", "run_monitoring"),))] == 0
    assert 30 <= s[("concurrency_ui_oldest_queued_run_age_seconds", ())] < 40


def test_time_at_cap_counts_overlapping_waits_on_one_limit_once():
    load({"run_queue": {"max_concurrent_runs": 1}})
    for _ in range(3):
        submit()
    start = timezone.now()
    run_queue.tick(now=start)  # one launches; two wait on max_concurrent_runs from `start`

    s = _samples(now=start + timedelta(seconds=120))

    key = (("rule", "max_concurrent_runs"), ("subject", "max_concurrent_runs"))
    assert s[("concurrency_ui_limit_at_cap_seconds_last_hour", key)] == pytest.approx(120, abs=1)
    assert s[("concurrency_ui_limit_waiting_runs", key)] == 2


def test_fair_share_reports_each_values_queued_running_and_recent_launches():
    load(
        {
            "run_queue": {"max_concurrent_runs": 2},
            "concurrency_ui": {"fair_share": {"key": "team", "weights": {"growth": 3, "ops": 2}}},
        }
    )
    for _ in range(3):
        submit("quick", team="data")
    submit("quick", team="growth")
    submit("quick")  # no team: its own group
    old = submit("quick", team="data")
    long_ago = timezone.now() - timedelta(hours=2)
    from queueing.models import Run

    Run.objects.filter(pk=old.pk).update(
        status=RunStatus.SUCCESS, launched_at=long_ago, ended_at=long_ago
    )
    run_queue.tick()  # fair share launches data's first run and growth's

    s = _samples()

    def value(name, team):
        return s[(f"concurrency_ui_fair_share_{name}", (("key", "team"), ("value", team)))]

    assert [value("queued_runs", t) for t in ("data", "growth", "(no value)")] == [2, 0, 1]
    assert [value("running_runs", t) for t in ("data", "growth", "(no value)")] == [1, 1, 0]
    # The run launched two hours ago is outside the window.
    assert [value("runs_launched_last_hour", t) for t in ("data", "growth")] == [1, 1]
    assert value("weight", "growth") == 3
    # A weighted value no run carries is listed, with zeros.
    assert (value("queued_runs", "ops"), value("weight", "ops")) == (0, 2)


def test_without_fair_share_there_are_no_fair_share_metrics():
    load({"run_queue": {"max_concurrent_runs": 2}})
    submit("quick", team="data")
    assert not any(name.startswith("concurrency_ui_fair_share") for name, _ in _samples())
