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


def _queued_rows(response) -> list[str]:
    """The run ids (8 characters) of the rows of a runs table, in order."""
    import re

    return re.findall(r'<td><a href="/runs/([0-9a-f]{8})[0-9a-f-]*/"><code>', html(response))


def test_the_queued_tab_filters_by_what_holds_runs_and_by_fair_share_value(
    as_viewer, submit, monkeypatch
):
    from queueing.services import run_queue

    load_config(
        {
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": -1,
                    "tag_concurrency_limits": [
                        {"key": "dagster/backfill", "value": {"maxUniqueValues": 1}},
                        {"key": "team", "value": "growth", "limit": 2},
                    ],
                }
            },
            "concurrency_ui": {"fair_share": {"key": "team", "weights": {"growth": 2}}},
        }
    )
    submit("quick", {"team": "data", "dagster/backfill": "b1"})
    capped = submit("quick", {"team": "data", "dagster/backfill": "b2"})
    growth = [submit("quick", {"team": "growth"}) for _ in range(3)]
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)
    assert len(run_queue.tick().launched) == 3  # data's b1 run and two of growth's
    url = reverse("runs") + "?tab=queued"

    tab = as_viewer.get(url)
    # growth's third run is its turn 3 at weight 2 (1.5), before data's turn 2 at weight 1.
    assert _queued_rows(tab) == [r.run_id[:8] for r in (growth[2], capped)]
    page = html(tab)
    assert "Turn <small" in page and ">growth</a> · 3" in page and "(×2)" in page

    held = as_viewer.get(url + "&held_by=distinct_values")
    assert _queued_rows(held) == [capped.run_id[:8]]
    assert "1 run\n" in html(held) and "dagster/backfill: 1 of 1 distinct values" in html(held)
    assert _queued_rows(as_viewer.get(url + "&held_by=tag")) == [growth[2].run_id[:8]]
    assert "No runs match these filters" in html(as_viewer.get(url + "&held_by=pool"))

    by_value = as_viewer.get(url + "&share=growth")
    assert _queued_rows(by_value) == [growth[2].run_id[:8]]
    assert '<option value="growth" selected>growth (1 queued)</option>' in html(by_value)
    # The htmx partial answers the same filters with the table alone.
    partial = as_viewer.get(url + "&share=data&held_by=distinct_values", HTTP_HX_REQUEST="true")
    assert _queued_rows(partial) == [capped.run_id[:8]]
    assert '<form method="get"' not in html(partial)


def test_a_run_waiting_for_its_fair_share_turn_is_found_by_that_rule(
    as_viewer, submit, monkeypatch
):
    from queueing.services import run_queue

    load_config(
        {"run_queue": {"max_concurrent_runs": 1}, "concurrency_ui": {"fair_share": {"key": "team"}}}
    )
    submit("quick", {"team": "a"})
    second_a = submit("quick", {"team": "a"})
    first_b = submit("quick", {"team": "b"})
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: None)
    run_queue.tick()
    url = reverse("runs") + "?tab=queued&held_by="

    assert _queued_rows(as_viewer.get(url + "fair_share")) == [second_a.run_id[:8]]
    assert _queued_rows(as_viewer.get(url + "max_concurrent_runs")) == [first_b.run_id[:8]]


def test_the_queued_tab_shows_the_queue_age_bound_and_filters_runs_close_to_it(as_viewer, submit):
    load_config(
        {
            "run_queue": {"max_concurrent_runs": 0},
            "concurrency_ui": {"max_queued_seconds": 1000},
        }
    )
    old = submit("quick")
    young = submit("quick")
    Run.objects.filter(pk=old.pk).update(enqueued_at=timezone.now() - timedelta(seconds=900))
    url = reverse("runs") + "?tab=queued"

    page = html(as_viewer.get(url))
    import re

    # Queued 15 minutes of 16m 40s: 100 s left (a second less by the time the page renders).
    assert re.search(
        r'nowrap">15m 0\ds\s*<br><small class="muted"[^>]*>of 16m 40s</small>'
        r'<br><small class="waiting"[^>]*>canceled in 1m [34]\ds<',
        page,
    )
    assert _queued_rows(as_viewer.get(url + "&held_by=max_queued_seconds")) == [old.run_id[:8]]
    assert young.run_id[:8] in _queued_rows(as_viewer.get(url))


def test_an_unknown_held_by_rule_is_refused_next_to_the_field_and_changes_nothing(
    as_viewer, submit
):
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    run = submit("quick")
    response = as_viewer.get(reverse("runs") + "?tab=queued&held_by=nonsense")
    assert response.status_code == 200
    page = html(response)
    assert "Select a valid choice. nonsense is not one of the available choices." in page
    assert _queued_rows(response) == [run.run_id[:8]]
    # Off the Queued tab nothing is held back: the filter is not offered there.
    finished = as_viewer.get(reverse("runs") + "?tab=finished&held_by=pool")
    assert finished.status_code == 200 and 'name="held_by"' not in html(finished)
