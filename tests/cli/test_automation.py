"""`manage.py schedules|sensors list|start|stop` and `manage.py tick schedules|sensors`."""

from __future__ import annotations

from queueing.models import AuditEntry, Run

from .conftest import failed, ok


def test_list_start_stop(db):
    text = ok("schedules", "list").out
    assert "every_minute" in text and "STOPPED" in text and "* * * * *" in text
    data = ok("sensors", "list", "--json").json
    assert {d["name"] for d in data} >= {"my_cool_sensor", "slow_sensor"}
    assert (
        ok("sensors", "start", "my_cool_sensor").out.strip() == "sensor my_cool_sensor is running"
    )
    ok("schedules", "start", "always_skips")
    assert ok("schedules", "stop", "always_skips", "--json").json["status"] == "STOPPED"
    assert AuditEntry.objects.filter(actor="cli").count() == 3
    assert "already running" in failed("sensors", "start", "my_cool_sensor").err
    assert "not defined" in failed("schedules", "start", "nope").err


def test_tick_sensors_runs_one_tick_now(db):
    ok("sensors", "start", "my_cool_sensor")
    data = ok("tick", "sensors", "--json").json
    assert data["evaluated"] == 1 and len(data["run_ids"]) == 12
    assert Run.objects.count() == 12
    assert "evaluated" in ok("tick", "schedules").out
