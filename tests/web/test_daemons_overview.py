"""Daemons page (heartbeats, errors, Celery workers) and the overview."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from queueing.models import DaemonHeartbeat, TickRecord
from queueing.services import pools, run_queue
from queueing.services.config import update_document
from queueing.views import _data

from .conftest import HTMX, XSS, html


@pytest.fixture
def workers_answer(monkeypatch):
    monkeypatch.setattr(
        _data,
        "_ask_workers",
        lambda: _data.Workers({"celery@host": {"ok": "pong"}}, {"celery@host": []}),
    )


def test_daemons_show_health_heartbeat_tick_and_errors(
    as_viewer, as_operator, workers_answer, submit
):
    submit("quick")
    run_queue.tick()
    DaemonHeartbeat.objects.filter(daemon="run_queue").update(
        errors=[
            {
                "at": timezone.now().isoformat(),
                "message": f"boom {XSS}",
                "traceback": f"Traceback\n{XSS}",
            }
        ]
    )
    page = html(as_viewer.get(reverse("daemons")))
    assert "Run queue" in page and "Running" in page
    assert "Run monitoring" in page and "Not running" in page and "Never" in page
    # Issue 12: a viewer reads the exception's type and message, not the traceback.
    assert "1 recent error" in page and "<details>" not in page and "Traceback" not in page
    assert XSS not in page and "&lt;script&gt;" in page
    assert "celery@host" in page and "pong" in page
    operator_page = html(as_operator.get(reverse("daemons")))
    assert "<details>" in operator_page and "Traceback" in operator_page
    assert XSS not in operator_page


def test_the_daemon_table_refreshes_itself_without_asking_the_workers(
    as_viewer, monkeypatch, submit
):
    asked: list[int] = []
    monkeypatch.setattr(_data, "_ask_workers", lambda: asked.append(1))
    page = html(as_viewer.get(reverse("daemons")))
    assert 'id="daemon-health"' in page and 'hx-trigger="every 5s' in page
    assert asked == [1]

    submit("quick")
    run_queue.tick()
    fragment = html(as_viewer.get(reverse("daemons"), **HTMX))
    assert fragment.lstrip().startswith('<div id="daemon-health"')
    assert "Run queue" in fragment and "Running" in fragment
    assert "Celery workers" not in fragment
    assert asked == [1], "a refresh must not broadcast to the workers"


def test_an_unreachable_broker_is_a_message_not_an_error(as_viewer, monkeypatch):
    def refuse():
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(_data, "_ask_workers", refuse)
    response = as_viewer.get(reverse("daemons"))
    assert response.status_code == 200 and "the broker is unreachable" in html(response)


def test_a_hanging_broker_costs_at_most_the_wait(as_viewer, monkeypatch):
    monkeypatch.setattr(_data, "_ask_workers", lambda: time.sleep(3))
    monkeypatch.setattr(_data, "CELERY_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(_data.celery_workers, "__defaults__", (0.2,))
    started = time.perf_counter()
    response = as_viewer.get(reverse("daemons"))
    assert time.perf_counter() - started < 1.5
    assert "did not answer within 0.2 s" in html(response)


def test_overview_counts_runs(as_viewer, submit):
    submit("quick")
    submit("quick")
    run = submit("quick")
    from queueing.services import runs

    runs.terminate(run.run_id, actor="t")
    response = as_viewer.get(reverse("overview"))
    assert response.context["counts"]["queued"] == 2
    assert response.context["counts"]["finished"] == 1
    assert 'hx-trigger="every 5s"' in html(response)


def test_overview_lists_pools_at_their_limit(as_viewer, submit):
    pools.set_limit("redshift", 1, actor="setup")
    pools.set_limit("idle", 5, actor="setup")
    run = submit("redshift_etl")
    run_queue.tick()
    run.refresh_from_db()
    pools.try_claim(run, "extract_orders", "redshift", 0, default_limit=None)
    busy = as_viewer.get(reverse("overview")).context["busy_pools"]
    assert [p.key for p in busy] == ["redshift"]


def test_overview_warns_when_the_queue_does_not_move(as_viewer, submit):
    submit("quick")
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        page = html(as_viewer.get(reverse("overview")))
    assert "The queue is not moving" in page


def test_no_warning_when_the_queue_launched_recently(as_viewer, submit):
    submit("quick")
    later = timezone.now() + timedelta(minutes=2)
    TickRecord.objects.create(
        daemon="run_queue",
        started_at=later - timedelta(seconds=3),
        duration_ms=3,
        launched=1,
        queued=1,
        active=0,
    )
    with time_machine.travel(later):
        page = html(as_viewer.get(reverse("overview")))
    assert "not moving" not in page


def test_no_warning_when_max_concurrent_runs_is_reached(as_viewer, submit):
    update_document(
        lambda d: d.setdefault("run_queue", {}).update(max_concurrent_runs=1), actor="t"
    )
    submit("quick")
    run_queue.tick()
    submit("quick")
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        page = html(as_viewer.get(reverse("overview")))
    assert "not moving" not in page


def test_overview_charts_queue_depth_from_tick_records(as_viewer):
    now = timezone.now()
    for minutes, queued, active in [(50, 4, 1), (20, 8, 2), (1, 2, 2)]:
        TickRecord.objects.create(
            daemon="run_queue",
            started_at=now - timedelta(minutes=minutes),
            duration_ms=1,
            queued=queued,
            active=active,
        )
    response = as_viewer.get(reverse("overview"), **HTMX)
    chart = response.context["chart"]
    assert chart.samples == 3 and chart.top == 8
    assert '<polyline points="' in html(response) and "<html" not in html(response)


def _supervisor_state(updated_at: float, **control) -> dict:
    def proc(name, **extra):
        return {
            "name": name,
            "running": True,
            "pid": 100,
            "started_at": updated_at - 60,
            "restarts": 0,
            "last_exit_code": None,
            "last_exit_at": None,
            "next_restart_at": None,
            **extra,
        }

    return {
        "pid": 1,
        "host": "h",
        "started_at": updated_at - 600,
        "updated_at": updated_at,
        "stopped_at": None,
        "processes": [proc("web"), proc("control", **control)],
    }


def test_the_daemon_table_shows_manage_py_devs_restarts(
    as_viewer, workers_answer, settings, tmp_path
):
    import json

    settings.VAR_DIR = tmp_path
    page = html(as_viewer.get(reverse("daemons"), **HTMX))
    assert "Processes of" not in page, "no supervisor here: no section"

    now = time.time()
    (tmp_path / "supervisor.json").write_text(
        json.dumps(_supervisor_state(now, restarts=3, last_exit_code=-9, last_exit_at=now - 40))
    )
    page = html(as_viewer.get(reverse("daemons"), **HTMX))
    assert "Processes of" in page and "control" in page
    assert ">3<" in page and "killed by SIGKILL" in page

    (tmp_path / "supervisor.json").write_text(
        json.dumps(_supervisor_state(now, running=False, restarts=4, next_restart_at=now + 8))
    )
    assert "Restarting" in html(as_viewer.get(reverse("daemons"), **HTMX))

    (tmp_path / "supervisor.json").write_text(json.dumps(_supervisor_state(now - 3600)))
    page = html(as_viewer.get(reverse("daemons"), **HTMX))
    assert "Not running here" in page and "killed" not in page
