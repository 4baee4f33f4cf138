"""Distinct-values tag limits on a real database: the tick launches what the engine decides
and stores the waiting reason naming the rule."""

from __future__ import annotations

import pytest

from queueing.engine.types import RunStatus
from queueing.models import Run
from queueing.services import run_queue

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db


def test_the_tick_runs_three_backfills_at_once_and_holds_the_fourth(monkeypatch):
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)
    load_config(
        {
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": -1,
                    "tag_concurrency_limits": [
                        {"key": "dagster/backfill", "value": {"maxUniqueValues": 3}}
                    ],
                }
            }
        }
    )
    made = [submit(**{"dagster/backfill": v}) for v in ["b1", "b2", "b1", "b3", "b4", "b2"]]
    result = run_queue.tick()
    fourth = made[4]
    assert set(result.launched) == {r.run_id for r in made} - {fourth.run_id}
    fourth.refresh_from_db()
    assert fourth.status == RunStatus.QUEUED
    assert fourth.wait_rule == "tag:dagster/backfill (distinct values)"
    assert "3 of 3 distinct values in progress" in fourth.wait_reason
    # A backfill finishing frees its place for the fourth.
    # (JSON `contains` is PostgreSQL's only: pick the runs in Python, as on SQLite.)
    b3 = [r.pk for r in Run.objects.all() if r.tags.get("dagster/backfill") == "b3"]
    Run.objects.filter(pk__in=b3).update(status=RunStatus.SUCCESS)
    assert run_queue.tick().launched == (fourth.run_id,)
