"""Issue 18's queue rules as people see them: the run page and the API."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from queueing.models import Run
from queueing.services import monitoring
from queueing.services.config import current_config
from tests.services.helpers import load_config

from .conftest import html


def test_a_run_canceled_for_its_queue_age_shows_the_rule_on_its_page_and_in_the_api(
    as_viewer, submit
):
    load_config(
        {
            "run_queue": {"max_concurrent_runs": 0},
            "concurrency_ui": {"max_queued_seconds_by_tag": [{"key": "team", "seconds": 60}]},
        }
    )
    run = submit("quick", {"team": "growth"})
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - timedelta(seconds=61))
    monitoring.tick()
    page = html(as_viewer.get(reverse("run-detail", args=[run.run_id])))
    assert "CANCELED" in page
    assert "concurrency_ui.max_queued_seconds_by_tag[0] (team): 60 s" in page
    body = as_viewer.get(f"/api/runs/{run.run_id}/").json()
    assert body["status"] == "CANCELED"
    assert "concurrency_ui.max_queued_seconds_by_tag[0] (team): 60 s" in body["failure_reason"]


def test_an_admin_adds_a_distinct_values_limit_on_the_concurrency_page(as_admin):
    as_admin.post(
        reverse("tag-limit-add"),
        {"tag-key": "dagster/backfill", "tag-kind": "distinct_values", "tag-limit": "3"},
    )
    (limit,) = current_config().queue.tag_limits
    assert (limit.key, limit.limit, limit.distinct_values) == ("dagster/backfill", 3, True)
    page = html(as_admin.get(reverse("concurrency")))
    assert "distinct values" in page and "Dagster refuses it" in page
    assert "3 values" in page


def test_the_queued_tab_the_run_page_and_the_api_show_the_start_estimate(as_viewer, submit):
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    done = submit("quick")
    Run.objects.filter(pk=done.pk).update(
        status="SUCCESS", started_at=timezone.now(), ended_at=timezone.now()
    )
    run = submit("quick")
    tab = html(as_viewer.get(reverse("runs") + "?tab=queued"))
    assert "Starts" in tab and "blocked: max_concurrent_runs is 0" in tab
    assert "Replays the queue with the run queue&#x27;s own rules" in tab
    page = html(as_viewer.get(reverse("run-detail", args=[run.run_id])))
    assert "Estimated start:" in page and "blocked: max_concurrent_runs is 0" in page
    body = as_viewer.get(f"/api/runs/{run.run_id}/").json()
    assert body["start_estimate"]["kind"] == "blocked"
    assert body["start_estimate"]["assumption"].startswith("Replays the queue")
    listed = as_viewer.get("/api/runs/?status=QUEUED").json()["results"][0]
    assert listed["start_estimate"]["label"].startswith("blocked:")
