"""The Automation page: schedules and sensors, their ticks and runs; start and stop."""

from __future__ import annotations

from django.urls import reverse

from queueing.models import AuditEntry, Run
from queueing.services import automation

from .conftest import HTMX, html, triggered

PAGE = reverse("automation")


def test_it_lists_schedules_and_sensors_with_their_last_ticks_and_runs(as_viewer):
    automation.set_status("sensor", "my_cool_sensor", running=True, actor="t")
    automation.tick_sensors()
    page = html(as_viewer.get(PAGE))
    assert "every_minute" in page and "* * * * *" in page and "my_cool_sensor" in page
    assert "12 run(s) requested" in page
    run = Run.objects.first()
    assert reverse("run-detail", args=[run.run_id]) in page
    assert "tag=dagster/sensor_name=my_cool_sensor" in page
    assert "Start</button>" not in page  # viewers cannot switch


def test_operators_start_and_stop_from_the_page(as_operator, as_viewer):
    url = reverse("automation-switch", args=["schedule", "every_minute", "start"])
    assert as_viewer.post(url, **HTMX).status_code == 403
    response = as_operator.post(url, **HTMX)
    assert "automation-changed" in triggered(response)
    assert automation.automation_detail("schedule", "every_minute")["status"] == "RUNNING"
    fragment = html(as_operator.get(PAGE, **HTMX))
    assert "Stop</button>" in fragment and "<html" not in fragment
    stop = reverse("automation-switch", args=["schedule", "every_minute", "stop"])
    assert as_operator.post(stop).status_code == 302
    assert AuditEntry.objects.filter(action="schedule.stop").exists()
    bad = as_operator.post(reverse("automation-switch", args=["schedule", "nope", "start"]))
    assert bad.status_code == 302  # the message says it is not defined
