"""The runs tabs (queue order, waiting reasons, filters, pages, polling) and run actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from queueing.models import AuditEntry, Run
from queueing.services import pools, run_queue, runs

from .conftest import HTMX, XSS, html, triggered

RUNS = reverse("runs")


def test_queued_tab_lists_runs_in_queue_order_with_position_and_reason(as_viewer, submit):
    pools.set_limit("redshift", 0, actor="setup")
    low = submit("quick")
    blocked = submit("redshift_etl", {"dagster/priority": "5"})
    page = html(as_viewer.get(RUNS + "?tab=queued"))
    assert page.index(blocked.run_id) < page.index(low.run_id)
    assert "pool redshift" in page  # the blocked run's one-line reason, from the engine
    assert "launches at the next tick" in page
    assert 'hx-trigger="every 3s' in page


def test_in_progress_tab_shows_status_steps_running_and_slots_held(as_viewer, submit):
    pools.set_limit("redshift", 3, actor="setup")
    run = submit("redshift_etl")
    run_queue.tick()
    run.refresh_from_db()
    claim = pools.try_claim(run, "extract_orders", "redshift", 0, default_limit=None)
    assert claim.claimed
    run.steps.filter(step_key="extract_orders").update(status="RUNNING")
    response = as_viewer.get(RUNS + "?tab=in_progress")
    [row] = response.context["rows"]
    assert (row.run.run_id, row.running_steps, row.slots_held) == (run.run_id, 1, 1)
    page = html(response)
    assert "STARTING" in page and "status-starting" in page


def test_finished_tab_shows_only_finished_runs(as_viewer, submit):
    queued = submit("quick")
    done = submit("quick")
    runs.terminate(done.run_id, actor="t")
    page = html(as_viewer.get(RUNS + "?tab=finished"))
    assert done.run_id in page and queued.run_id not in page
    assert "status-canceled" in page


def test_filters_by_job_tag_and_status(as_viewer, submit):
    a = submit("quick", {"team": "a"})
    b = submit("quick", {"team": "b"})
    c = submit("api_ingest", {"team": "a"})
    page = html(as_viewer.get(RUNS, {"tab": "queued", "job": "quick", "tag": "team=a"}))
    assert a.run_id in page and b.run_id not in page and c.run_id not in page
    runs.terminate(b.run_id, actor="t")
    page = html(as_viewer.get(RUNS, {"tab": "finished", "status": "CANCELED"}))
    assert b.run_id in page and a.run_id not in page


def test_a_bad_filter_is_shown_next_to_its_field_and_ignored(as_viewer, submit):
    run = submit("quick")
    response = as_viewer.get(RUNS, {"tab": "queued", "tag": "no-equals-sign", "status": "SUCCESS"})
    assert response.status_code == 200
    page = html(response)
    assert "is not KEY=VALUE" in page
    assert "SUCCESS runs are not shown on this tab" in page
    assert run.run_id in page


def test_pages_hold_fifty_runs_and_link_to_the_next(as_viewer, submit):
    created = [submit("quick") for _ in range(55)]
    first = html(as_viewer.get(RUNS, {"tab": "queued"}))
    second = html(as_viewer.get(RUNS, {"tab": "queued", "page": 2}))
    assert created[0].run_id in first and created[54].run_id not in first
    assert created[54].run_id in second and created[0].run_id not in second
    assert "page 1 of 2" in first and "page=2" in first


def test_the_runs_page_runs_a_fixed_number_of_queries_with_10000_runs(
    as_viewer, django_assert_max_num_queries
):
    Run.objects.bulk_create(
        [Run(job_name="quick", location_name="demo", status="SUCCESS") for _ in range(10_000)]
    )
    with django_assert_max_num_queries(12):
        response = as_viewer.get(RUNS, {"tab": "finished", "page": 150})
    assert response.status_code == 200
    assert "page 150 of 200" in html(response)


def test_the_table_fragment_stops_polling_when_no_run_can_change(as_viewer, submit):
    run = submit("quick")
    live = as_viewer.get(RUNS + "?tab=queued", **HTMX)
    assert live.status_code == 200
    assert '<div id="runs-table"' in html(live) and "every 3s" in html(live)
    assert "<html" not in html(live)
    runs.terminate(run.run_id, actor="t")
    idle = as_viewer.get(RUNS + "?tab=finished", **HTMX)
    assert idle.status_code == 286  # htmx stops polling on 286
    assert "every 3s" not in html(idle) and run.run_id in html(idle)


def test_a_viewer_sees_no_run_actions(as_viewer, submit):
    submit("quick")
    page = html(as_viewer.get(RUNS + "?tab=queued"))
    assert "Terminate" not in page and 'name="priority"' not in page
    assert 'type="checkbox"' not in page


def test_an_operator_sees_terminate_priority_and_selection(as_operator, submit):
    run = submit("quick")
    page = html(as_operator.get(RUNS + "?tab=queued"))
    assert reverse("run-terminate", args=[run.run_id]) in page
    assert reverse("run-priority", args=[run.run_id]) in page
    assert 'form="bulk-terminate"' in page and "hx-confirm=" in page


def test_terminate_without_javascript_asks_for_confirmation_first(as_operator, submit):
    run = submit("quick")
    url = reverse("run-terminate", args=[run.run_id])
    page = as_operator.post(url, {"next": "/runs/"})
    assert page.status_code == 200 and 'name="confirmed" value="1"' in html(page)
    run.refresh_from_db()
    assert run.status == "QUEUED"
    done = as_operator.post(url, {"next": "/runs/", "confirmed": "1"})
    assert done.status_code == 302 and done["Location"] == "/runs/"
    run.refresh_from_db()
    assert run.status == "CANCELED"
    assert "terminated by operator-user" in run.events.last().message


def test_terminate_with_htmx_answers_with_the_flash_and_an_event(as_operator, submit):
    run = submit("quick")
    response = as_operator.post(reverse("run-terminate", args=[run.run_id]), **HTMX)
    assert response.status_code == 200
    assert triggered(response) == {"runs-changed"}
    assert 'hx-swap-oob="true"' in html(response) and "CANCELED" in html(response)
    run.refresh_from_db()
    assert run.status == "CANCELED"


def test_terminating_a_finished_run_is_refused_with_a_message(as_operator, submit):
    run = submit("quick")
    runs.terminate(run.run_id, actor="t")
    response = as_operator.post(
        reverse("run-terminate", args=[run.run_id]), {"confirmed": "1"}, follow=True
    )
    assert "only queued or in-progress runs can be terminated" in html(response)


def test_force_terminate_marks_an_active_run_canceled(as_operator, submit):
    run = submit("quick")
    run_queue.tick()
    as_operator.post(reverse("run-terminate", args=[run.run_id]), {"force": "1"}, **HTMX)
    run.refresh_from_db()
    assert run.status == "CANCELED"


def test_terminate_selected_terminates_every_ticked_run(as_operator, submit):
    a, b, keep = submit("quick"), submit("quick"), submit("quick")
    url = reverse("runs-terminate")
    confirm = as_operator.post(url, {"run_id": [a.run_id, b.run_id]})
    assert confirm.status_code == 200 and html(confirm).count('name="run_id"') == 2
    as_operator.post(url, {"run_id": [a.run_id, b.run_id], "confirmed": "1"})
    statuses = dict(Run.objects.values_list("run_id", "status"))
    assert statuses == {a.run_id: "CANCELED", b.run_id: "CANCELED", keep.run_id: "QUEUED"}


def test_terminate_selected_without_a_selection_changes_nothing(as_operator, submit):
    run = submit("quick")
    response = as_operator.post(reverse("runs-terminate"), {"confirmed": "1"}, follow=True)
    assert "Select between 1 and" in html(response)
    run.refresh_from_db()
    assert run.status == "QUEUED"


def test_an_operator_changes_a_queued_runs_priority_and_it_is_audited(as_operator, submit):
    run = submit("quick")
    response = as_operator.post(
        reverse("run-priority", args=[run.run_id]), {"priority": "7"}, **HTMX
    )
    assert response.status_code == 200 and triggered(response) == {"runs-changed"}
    assert 'value="7"' in html(response)
    run.refresh_from_db()
    assert run.priority == 7 and run.tags["dagster/priority"] == "7"
    entry = AuditEntry.objects.get(action="run.set_priority")
    assert (entry.actor, entry.target, entry.old_value, entry.new_value) == (
        "operator-user",
        run.run_id,
        0,
        7,
    )


@pytest.mark.parametrize("value", ["high", "99999999999"])
def test_a_refused_priority_is_shown_next_to_the_field(as_operator, submit, value):
    run = submit("quick")
    url = reverse("run-priority", args=[run.run_id])
    fragment = html(as_operator.post(url, {"priority": value}, **HTMX))
    assert 'aria-invalid="true"' in fragment and "priority" in fragment
    plain = as_operator.post(url, {"priority": value, "confirmed": "1"})
    assert plain.status_code == 400 and 'aria-invalid="true"' in html(plain)
    run.refresh_from_db()
    assert run.priority == 0


def test_the_priority_of_a_running_run_cannot_change(as_operator, submit):
    run = submit("quick")
    run_queue.tick()
    fragment = html(
        as_operator.post(reverse("run-priority", args=[run.run_id]), {"priority": "3"}, **HTMX)
    )
    assert "only a queued run" in fragment
    run.refresh_from_db()
    assert run.priority == 0


def test_an_unsafe_next_is_ignored(as_operator, submit):
    run = submit("quick")
    response = as_operator.post(
        reverse("run-terminate", args=[run.run_id]),
        {"confirmed": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("run-detail", args=[run.run_id])


def test_tags_and_job_names_are_escaped_in_the_table(as_viewer, submit):
    submit("quick", {"team": XSS, XSS: "x"})
    page = html(as_viewer.get(RUNS + "?tab=queued"))
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_absurd_page_number_is_ignored(as_viewer, submit):
    run = submit("quick")
    response = as_viewer.get(RUNS, {"tab": "queued", "page": str(10**20)})
    assert response.status_code == 200 and run.run_id in html(response)
