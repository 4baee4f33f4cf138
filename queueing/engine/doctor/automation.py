"""Schedules and sensors: are their daemons running when something needs them, and do
their ticks succeed (issue 16)."""

from __future__ import annotations

from ..automation import TIMEOUT_MESSAGE
from .facts import DoctorFacts, Finding
from .health import check_daemon

# A schedule or sensor whose last this many ticks all failed is reported.
FAILING_TICKS = 3


def _needed(facts: DoctorFacts, kind: str, check: str) -> Finding | None:
    running = [a.name for a in facts.automations if a.kind == kind]
    if running:
        return None
    return Finding(
        check,
        "ok",
        f"No {kind} is running, so the {kind}s daemon is not required",
        (f"start one on the Automation page or with `manage.py {kind}s start NAME`",),
    )


def check_schedules_daemon(facts: DoctorFacts) -> Finding:
    return _needed(facts, "schedule", "schedules_daemon") or check_daemon(
        facts, "schedules", "schedules_daemon"
    )


def check_sensors_daemon(facts: DoctorFacts) -> Finding:
    return _needed(facts, "sensor", "sensors_daemon") or check_daemon(
        facts, "sensors", "sensors_daemon"
    )


def check_automation_ticks(facts: DoctorFacts) -> Finding:
    """Running schedules and sensors whose last FAILING_TICKS ticks all failed; a sensor
    that times out every time is a problem of its own (it never requests anything)."""
    timing_out: list[str] = []
    failing: list[str] = []
    evidence: list[str] = []
    for item in facts.automations:
        recent = item.recent[:FAILING_TICKS]
        if len(recent) < FAILING_TICKS or any(outcome != "FAILURE" for outcome, _ in recent):
            continue
        label = f"{item.kind} {item.name}"
        if all(message.startswith(TIMEOUT_MESSAGE) for _, message in recent):
            timing_out.append(label)
        else:
            failing.append(label)
        evidence.append(f"{label}: last {FAILING_TICKS} ticks failed; latest: {recent[0][1][:300]}")
    if timing_out:
        return Finding(
            "automation_ticks",
            "problem",
            f"{', '.join(timing_out)} always time{'s' if len(timing_out) == 1 else ''} out",
            tuple(evidence),
            "Make the sensor return sooner (keep a cursor and do less per evaluation), or raise "
            "concurrency_ui.sensor_timeout_seconds; until then it requests no run.",
        )
    if failing:
        return Finding(
            "automation_ticks",
            "warning",
            f"The ticks of {', '.join(failing)} keep failing",
            tuple(evidence),
            "Read the ticks' errors on the Automation page; a failing tick launches nothing.",
        )
    count = len(facts.automations)
    return Finding(
        "automation_ticks",
        "ok",
        "Schedules and sensors tick without failing",
        (f"{count} running schedule(s) and sensor(s)",),
    )
