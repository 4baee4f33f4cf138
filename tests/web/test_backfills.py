"""Backfills page: launch from the dashboard, progress, what holds its runs, cancel, re-run;
the launchpad's partition picker."""

from __future__ import annotations

from django.urls import reverse

from queueing.engine.types import RunStatus
from queueing.models import Backfill, Run
from queueing.services import backfills, run_queue
from tests.services.helpers import load_config

from .conftest import HTMX, html, triggered

BACKFILLS = reverse("backfills")


def test_operators_launch_a_backfill_of_a_range_and_land_on_its_page(as_operator):
    response = as_operator.post(
        BACKFILLS,
        {"job": "daily_sleepy", "start": "2024-01-01", "end": "2024-01-07", "tags": "team=data"},
    )
    backfill = Backfill.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backfill-detail", args=[backfill.backfill_id])
    assert backfill.runs.count() == 7
    assert {r.tags["team"] for r in backfill.runs.all()} == {"data"}
    page = html(as_operator.get(response["Location"]))
    assert "<strong>0</strong> of 7 partitions done" in page and "2024-01-07" in page
    assert "Cancel backfill" in page


def test_bad_input_is_shown_next_to_its_field_and_stores_nothing(as_operator):
    response = as_operator.post(
        BACKFILLS, {"job": "daily_sleepy", "start": "2024-01-01", "tags": "oops"}
    )
    assert response.status_code == 400
    assert "line 1" in html(response)
    response = as_operator.post(BACKFILLS, {"job": "daily_sleepy", "start": "2024-01-01"})
    assert response.status_code == 400
    assert response.context["form"].errors["end"] == ["a range needs both from and to"]
    assert not Backfill.objects.exists() and not Run.objects.exists()


def test_viewers_see_backfills_but_cannot_launch_or_cancel(as_viewer):
    backfill = backfills.launch("odd_partitions_fail", all_partitions=True, actor="t")
    page = html(as_viewer.get(BACKFILLS))
    assert backfill.backfill_id in page and "Launch backfill" not in page
    assert as_viewer.post(BACKFILLS, {"job": "daily_sleepy", "all": "on"}).status_code == 403
    cancel = reverse("backfill-cancel", args=[backfill.backfill_id])
    assert as_viewer.post(cancel, **HTMX).status_code == 403


def test_the_page_shows_the_limit_holding_its_runs_and_cancel_stops_them(as_operator):
    load_config(
        {"run_queue": {"tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 2}]}}
    )
    backfill = backfills.launch("odd_partitions_fail", all_partitions=True, actor="t")
    run_queue.tick(force=True)
    detail = reverse("backfill-detail", args=[backfill.backfill_id])
    page = html(as_operator.get(detail))
    assert "What holds its queued runs" in page and "dagster/backfill" in page
    # The runs holding the tag are links to their pages, as on the run page.
    for held in backfill.runs.filter(status=RunStatus.STARTING).values_list("run_id", flat=True):
        assert f'<a href="/runs/{held}/"><code>{held[:8]}</code></a>' in page
    response = as_operator.post(reverse("backfill-cancel", args=[backfill.backfill_id]), **HTMX)
    assert "runs-changed" in triggered(response)
    assert backfills.progress(backfill).counts == {"CANCELING": 2, "CANCELED": 8}


def test_re_run_failed_partitions_from_the_page(as_operator):
    backfill = backfills.launch("odd_partitions_fail", partitions=["p1", "p2"], actor="t")
    backfill.runs.update(status=RunStatus.FAILURE)
    page = html(as_operator.get(reverse("backfill-detail", args=[backfill.backfill_id])))
    assert "Re-run failed partitions" in page
    response = as_operator.post(reverse("backfill-rerun", args=[backfill.backfill_id]))
    rerun = Backfill.objects.exclude(pk=backfill.pk).get()
    assert response["Location"] == reverse("backfill-detail", args=[rerun.backfill_id])
    assert rerun.partition_keys == ["p1", "p2"]


def test_the_launchpad_picks_a_partition_for_a_partitioned_job(as_operator):
    page = html(as_operator.get(reverse("launchpad"), {"job": "odd_partitions_fail"}))
    assert 'name="partition"' in page and '<option value="p9">' in page
    data = {"job": "odd_partitions_fail", "run_config": "", "tag_key": [""], "tag_value": [""]}
    response = as_operator.post(reverse("launchpad"), data)
    assert response.status_code == 400
    assert "choose a partition" in " ".join(response.context["form"].errors["partition"])
    response = as_operator.post(reverse("launchpad"), {**data, "partition": "p3"})
    assert response.status_code == 302
    assert Run.objects.get().tags["dagster/partition"] == "p3"
    page = html(as_operator.get(reverse("launchpad"), {"job": "quick"}))
    assert 'name="partition"' not in page
