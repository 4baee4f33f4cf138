"""The doctor's checks of the schedules and sensors daemons and of their ticks (pure)."""

from __future__ import annotations

from queueing.engine.config.model import InstanceConfig
from queueing.engine.doctor import diagnose
from queueing.engine.doctor.facts import AutomationFact, DaemonFact, DoctorFacts

NOW = 1_700_000_000.0


def findings(**facts):
    base = {"now": NOW, "config": InstanceConfig(), "instance_id": "db"}
    return {f.check: f for f in diagnose(DoctorFacts(**{**base, **facts}))}


def test_the_daemons_are_required_only_while_something_runs():
    found = findings()
    assert found["schedules_daemon"].status == "ok"
    assert "not required" in found["sensors_daemon"].title
    running = findings(automations=[AutomationFact("sensor", "my_cool_sensor")])
    assert running["sensors_daemon"].status == "problem"
    assert running["sensors_daemon"].title == "The sensors daemon has never run"
    assert "-Q automation" in running["sensors_daemon"].fix
    alive = findings(
        automations=[AutomationFact("schedule", "nightly")],
        daemons=[DaemonFact("schedules", "Schedules", 5, last_heartbeat=NOW - 2)],
    )
    assert alive["schedules_daemon"].status == "ok"
    stale = findings(
        automations=[AutomationFact("schedule", "nightly")],
        daemons=[DaemonFact("schedules", "Schedules", 5, last_heartbeat=NOW - 600)],
    )
    assert stale["schedules_daemon"].title == "The schedules daemon is not running"


def test_a_sensor_that_always_times_out_is_a_problem_and_failing_ticks_a_warning():
    timeout = ("FAILURE", "timed out: the evaluation took longer than 60 s")
    found = findings(automations=[AutomationFact("sensor", "slow", (timeout,) * 3)])
    assert found["automation_ticks"].status == "problem"
    assert found["automation_ticks"].title == "sensor slow always times out"
    assert "sensor_timeout_seconds" in found["automation_ticks"].fix
    error = ("FAILURE", "RuntimeError: down")
    found = findings(automations=[AutomationFact("schedule", "nightly", (error,) * 3)])
    assert found["automation_ticks"].status == "warning"
    recovered = findings(
        automations=[AutomationFact("sensor", "slow", (("SKIPPED", ""), timeout, timeout))]
    )
    assert recovered["automation_ticks"].status == "ok"
