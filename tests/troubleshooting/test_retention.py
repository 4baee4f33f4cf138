"""Wait history and tick records are pruned by the run-monitoring tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.models import RunWait, TickRecord
from queueing.services import monitoring, run_queue, runs

from .helpers import load, submit

pytestmark = pytest.mark.django_db


def test_the_monitoring_tick_deletes_waits_older_than_the_retention_and_old_ticks():
    load(
        {
            "run_queue": {"max_concurrent_runs": 1},
            "concurrency_ui": {"wait_history_retention_days": 7},
        }
    )
    blocker = submit()
    old = submit()
    run_queue.tick(now=timezone.now() - timedelta(days=10))  # `old` starts waiting 10 days ago
    runs.transition([blocker.run_id], RunStatus.STARTING, RunStatus.STARTED)
    runs.transition([blocker.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
    run_queue.tick(now=timezone.now() - timedelta(days=9))  # ...and launches 9 days ago
    recent = submit()
    run_queue.tick()  # `recent` waits now, behind `old`
    assert RunWait.objects.filter(run=old).exists() and RunWait.objects.filter(run=recent).exists()
    assert TickRecord.objects.filter(started_at__lt=timezone.now() - timedelta(days=1)).count() == 2

    monitoring.tick()

    assert not RunWait.objects.filter(run=old).exists()
    assert RunWait.objects.filter(run=recent, ended_at__isnull=True).exists()
    assert not TickRecord.objects.filter(
        started_at__lt=timezone.now() - timedelta(hours=24)
    ).exists()
    assert TickRecord.objects.filter(daemon="run_queue").count() == 1


def test_an_open_wait_of_a_run_still_queued_is_kept_whatever_its_age():
    load(
        {
            "run_queue": {"max_concurrent_runs": 0},
            "concurrency_ui": {"wait_history_retention_days": 1},
        }
    )
    waiting = submit()
    run_queue.tick(now=timezone.now() - timedelta(days=5))

    monitoring.tick()

    assert RunWait.objects.filter(run=waiting, ended_at__isnull=True).count() == 1


def test_a_retention_of_zero_keeps_the_wait_history_forever():
    load(
        {
            "run_queue": {"max_concurrent_runs": 1},
            "concurrency_ui": {"wait_history_retention_days": 0},
        }
    )
    blocker = submit()
    old = submit()
    run_queue.tick(now=timezone.now() - timedelta(days=400))
    runs.transition([blocker.run_id], RunStatus.STARTING, RunStatus.CANCELING)
    runs.transition([blocker.run_id], RunStatus.CANCELING, RunStatus.CANCELED)
    run_queue.tick(now=timezone.now() - timedelta(days=399))

    monitoring.tick()

    assert RunWait.objects.filter(run=old).count() == 1
