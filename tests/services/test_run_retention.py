"""concurrency_ui.run_retention_days: finished runs and their rows go in batches; nothing
else does, and 0 (the default) keeps everything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queueing.engine.types import RunStatus
from queueing.errors import InvalidInput
from queueing.models import AuditEntry, Run, RunEvent, RunWait, Step
from queueing.services import config, monitoring, retention, runs
from queueing.services.config import current_config

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db


def _ended(days_ago: float, status: RunStatus = RunStatus.SUCCESS) -> Run:
    run = submit()
    RunWait.objects.create(run=run, rule="r", message="m", started_at=timezone.now())
    ended = timezone.now() - timedelta(days=days_ago)
    Run.objects.filter(pk=run.pk).update(status=status, ended_at=ended)
    return run


def test_runs_are_kept_forever_by_default():
    assert current_config().extra.run_retention_days == 0
    _ended(5000)
    assert retention.prune_runs(current_config(), timezone.now()) == 0
    assert Run.objects.count() == 1


def test_finished_runs_past_the_retention_go_with_their_rows_and_nothing_else_does():
    load_config({"concurrency_ui": {"run_retention_days": 7}})
    old = [
        _ended(8, status) for status in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED)
    ]
    recent = _ended(6)
    queued = submit()
    Run.objects.filter(pk=queued.pk).update(created_at=timezone.now() - timedelta(days=30))
    in_progress = submit()
    runs.transition([in_progress.run_id], RunStatus.QUEUED, RunStatus.STARTING)
    audit_before = AuditEntry.objects.count()

    assert retention.prune_runs(current_config(), timezone.now()) == 3

    assert set(Run.objects.values_list("pk", flat=True)) == {recent.pk, queued.pk, in_progress.pk}
    gone = [r.pk for r in old]
    for model in (Step, RunEvent, RunWait):
        assert not model.objects.filter(run_id__in=gone).exists()
        assert model.objects.filter(run_id=recent.pk).exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_long_history_is_pruned_in_bounded_batches_over_several_ticks(monkeypatch):
    monkeypatch.setattr(retention, "RUN_PRUNE_BATCH", 2)
    monkeypatch.setattr(retention, "RUN_PRUNE_BATCHES", 2)
    load_config({"concurrency_ui": {"run_retention_days": 1}})
    for _ in range(7):
        _ended(3)
    assert retention.prune_runs(current_config(), timezone.now()) == 4
    assert retention.prune_runs(current_config(), timezone.now()) == 3
    assert not Run.objects.exists()


def test_the_monitoring_tick_prunes(monkeypatch):
    load_config({"concurrency_ui": {"run_retention_days": 2}})
    _ended(3)
    monitoring.tick(force=True)
    assert not Run.objects.exists()


@pytest.mark.parametrize("value", [-1, 36_501, "7 days"])
def test_a_bad_retention_is_refused_naming_the_setting(value):
    with pytest.raises(InvalidInput) as refused:
        config.edit_settings({"run_retention_days": value}, actor="test")
    assert "run_retention_days" in str(refused.value.errors[0].path)
    assert current_config().extra.run_retention_days == 0
