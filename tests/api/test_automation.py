"""/api/schedules/ and /api/sensors/: list, detail, start and stop (operators; audited)."""

from __future__ import annotations

from queueing.models import AuditEntry


def test_everyone_lists_schedules_and_sensors(viewer_client):
    schedules = {d["name"]: d for d in viewer_client.get("/api/schedules/").json()}
    assert schedules["every_minute"]["cron_schedule"] == "* * * * *"
    assert schedules["every_minute"]["status"] == "STOPPED"
    sensors = {d["name"]: d for d in viewer_client.get("/api/sensors/").json()}
    assert sensors["my_cool_sensor"]["minimum_interval_seconds"] == 1
    detail = viewer_client.get("/api/sensors/my_cool_sensor/").json()
    assert detail["job_name"] == "sleepy" and detail["ticks"] == []
    assert viewer_client.get("/api/sensors/nope/").status_code == 404


def test_operators_start_and_stop_viewers_cannot(operator_client, viewer_client):
    assert viewer_client.post("/api/sensors/my_cool_sensor/start/").status_code == 403
    started = operator_client.post("/api/sensors/my_cool_sensor/start/")
    assert started.status_code == 200 and started.json()["status"] == "RUNNING"
    assert operator_client.post("/api/sensors/my_cool_sensor/start/").status_code == 409
    operator_client.post("/api/schedules/always_skips/start/")
    stopped = operator_client.post("/api/schedules/always_skips/stop/")
    assert stopped.json()["status"] == "STOPPED"
    assert list(AuditEntry.objects.values_list("action", "target")) == [
        ("schedule.stop", "always_skips"),
        ("schedule.start", "always_skips"),
        ("sensor.start", "my_cool_sensor"),
    ]
    assert operator_client.post("/api/schedules/nope/start/").status_code == 404
