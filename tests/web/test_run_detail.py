"""A run's page: timeline, steps, logs, config, wait history and the queue explanation."""

from __future__ import annotations

from django.urls import reverse

from queueing.models import PoolClaim, RunEvent
from queueing.services import pools, run_queue, runs
from tests.services.helpers import load_config

from .conftest import HTMX, XSS, html, triggered


def detail(run) -> str:
    return reverse("run-detail", args=[run.run_id])


def test_a_queued_run_explains_every_gate_and_which_one_blocks(as_viewer, submit):
    pools.set_limit("redshift", 1, actor="setup")
    holder = submit("redshift_etl")
    run_queue.tick()
    waiting = submit("redshift_etl")
    response = as_viewer.get(detail(waiting))
    page = html(response)
    assert "Why is this run waiting?" in page
    assert "Position <strong>1</strong>" in page
    gates = response.context["gates"]
    assert [g.gate.rule for g in gates if g.blocking] == ["pool"]
    assert any(g.gate.rule == "max_concurrent_runs" and g.gate.passed for g in gates)
    # The run holding the pool is a link to its page.
    assert f'href="{detail(holder)}"' in page
    assert 'class="blocking"' in page


def test_wait_history_links_the_runs_it_names_and_starts_at_the_enqueue(as_viewer, submit):
    load_config(
        {"run_queue": {"tag_concurrency_limits": [{"key": "team", "value": "a", "limit": 1}]}}
    )
    holder = submit("quick", {"team": "a"})
    run_queue.tick()
    waiting = submit("quick", {"team": "a"})

    page = html(as_viewer.get(detail(waiting)))

    history = page.split("Wait history")[1]
    short = holder.run_id[:8]
    assert f'held by <a href="/runs/{short}/"><code>{short}</code></a>' in history
    waiting.refresh_from_db()
    assert waiting.enqueued_at.strftime("%H:%M:%S") in history
    # The short link lands on the holder's page.
    assert as_viewer.get(f"/runs/{short}/")["Location"] == detail(holder)


def test_a_run_that_would_launch_says_so(as_viewer, submit):
    run = submit("quick")
    page = html(as_viewer.get(detail(run)))
    assert "it launches at the next tick" in page.lower()


def test_the_page_shows_timeline_steps_config_tags_and_wait_history(as_viewer, submit):
    pools.set_limit("redshift", 0, actor="setup")
    run = submit("redshift_etl", {"team": "data"})
    run_queue.tick()
    page = html(as_viewer.get(detail(run)))
    for text in [
        "enqueued",
        "submitted by test",
        "extract_orders",
        "transform_orders",
        "analytics.orders",
        "team",
        "Wait history",
        "pool redshift",
    ]:
        assert text in page, text
    assert run.waits.count() == 1


def test_logs_errors_and_event_messages_are_escaped(as_viewer, submit):
    run = submit("quick")
    step = run.steps.first()
    step.logs = f"line {XSS}"
    step.error = f"Traceback: ValueError: {XSS}"
    step.status = "FAILURE"
    step.save()
    RunEvent.objects.create(run=run, kind="step_failure", step_key=step.step_key, message=XSS)
    page = html(as_viewer.get(detail(run)))
    assert XSS not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert "<details" in page and "Traceback" in page


def test_the_live_part_polls_until_the_run_finishes(as_viewer, submit):
    run = submit("quick")
    live = as_viewer.get(detail(run), **HTMX)
    assert live.status_code == 200 and "every 3s" in html(live) and "<html" not in html(live)
    runs.terminate(run.run_id, actor="t")
    finished = as_viewer.get(detail(run), **HTMX)
    assert finished.status_code == 286
    assert "every 3s" not in html(finished) and "CANCELED" in html(finished)


def test_an_unknown_run_is_404(as_viewer):
    assert as_viewer.get(reverse("run-detail", args=["nope"])).status_code == 404


def test_a_viewer_sees_no_actions_and_an_admin_can_free_slots(as_viewer, as_admin, submit):
    pools.set_limit("redshift", 1, actor="setup")
    run = submit("redshift_etl")
    run_queue.tick()
    run.refresh_from_db()
    pools.try_claim(run, "extract_orders", "redshift", 0, default_limit=None)
    viewer_page = html(as_viewer.get(detail(run)))
    assert "Terminate" not in viewer_page and reverse("free-slots") not in viewer_page
    admin_page = html(as_admin.get(detail(run)))
    assert "Force terminate" in admin_page and reverse("free-slots") in admin_page
    response = as_admin.post(
        reverse("free-slots"), {"run_id": run.run_id, "step_key": "extract_orders"}, **HTMX
    )
    assert "runs-changed" in triggered(response)
    assert not PoolClaim.objects.filter(run=run).exists()
