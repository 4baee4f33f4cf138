"""Start estimates on a real database: typical durations from finished runs, cached per tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import DaemonHeartbeat, Run
from queueing.services import estimates, run_queue

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)


def _finished(job: str, seconds: float) -> None:
    run = submit(job)
    end = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCESS, started_at=end - timedelta(seconds=seconds), ended_at=end
    )


def test_queued_runs_start_when_holders_end_after_their_jobs_median():
    load_config({"run_queue": {"max_concurrent_runs": 1, "dequeue_interval_seconds": 5}})
    for seconds in (100, 120, 900):
        _finished("quick", seconds)
    holder = submit("quick")
    run_queue.tick()
    Run.objects.filter(pk=holder.pk).update(
        status=RunStatus.STARTED, started_at=timezone.now() - timedelta(seconds=20)
    )
    first, second = submit("quick"), submit("quick")
    found = estimates.current()
    # Median 120 s, the holder ran 20 s: ~100 s, rounded up to the next 5 s tick.
    assert 95 <= found.get(first.run_id).starts_in <= 105
    assert 215 <= found.get(second.run_id).starts_in <= 225
    assert found.get(first.run_id).label.startswith("starts in about")


def test_estimates_are_cached_until_the_next_tick(monkeypatch):
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    _finished("quick", 10)
    submit("quick")
    run_queue.tick()
    calls = []
    real = estimates.compute
    monkeypatch.setattr(estimates, "compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    estimates.current()
    estimates.current()
    assert len(calls) == 1
    DaemonHeartbeat.objects.filter(daemon=DaemonHeartbeat.Daemon.RUN_QUEUE).update(
        last_tick_started=timezone.now() + timedelta(seconds=1)
    )
    estimates.current()
    assert len(calls) == 2


def test_a_blocked_run_says_what_blocks_it():
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    _finished("quick", 10)
    run = submit("quick")
    found = estimates.for_run(run.run_id)
    assert found.kind == "blocked"
    assert found.label == "blocked: max_concurrent_runs is 0: the queue launches nothing"


def test_the_first_estimate_is_kept_on_the_run_and_its_error_is_on_metrics():
    from prometheus_client.parser import text_string_to_metric_families

    from queueing.services import metrics

    load_config({"run_queue": {"max_concurrent_runs": 1, "dequeue_interval_seconds": 5}})
    _finished("quick", 60)
    holder = submit("quick")
    run_queue.tick()
    Run.objects.filter(pk=holder.pk).update(status=RunStatus.STARTED, started_at=timezone.now())
    waiting = submit("quick")
    estimates.current()
    waiting.refresh_from_db()
    assert 55 <= waiting.start_estimate_seconds <= 65
    # A later estimate does not replace the first one.
    Run.objects.filter(pk=holder.pk).update(started_at=timezone.now() - timedelta(seconds=50))
    estimates.compute(estimates.current_config())
    waiting.refresh_from_db()
    assert 55 <= waiting.start_estimate_seconds <= 65
    # It really started 100 s after its enqueue: 40 s off.
    Run.objects.filter(pk=waiting.pk).update(
        status=RunStatus.STARTED, launched_at=waiting.enqueued_at + timedelta(seconds=100)
    )
    text, _ = metrics.render(now=waiting.enqueued_at + timedelta(seconds=200))
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }
    assert found["concurrency_ui_start_estimate_runs_last_hour"] == 1
    assert 35 <= found["concurrency_ui_start_estimate_error_p50_seconds_last_hour"] <= 45
    assert 35 <= found["concurrency_ui_start_estimate_error_p90_seconds_last_hour"] <= 45
