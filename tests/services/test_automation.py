"""Schedules and sensors: start/stop, ticks that launch once per scheduled time or run key,
catch-up after a gap, cursors, child-process evaluation with a timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from queueing import locations
from queueing.errors import Conflict, NotFound
from queueing.models import AuditEntry, AutomationRun, AutomationState, AutomationTick, Run
from queueing.services import automation
from queueing.services.queries import filter_runs
from tests.services.helpers import load_config

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)


def _ticks(kind, name):
    return list(AutomationTick.objects.filter(kind=kind, name=name).order_by("id"))


@pytest.fixture
def running_by_default():
    """The workspace with a location whose schedule is RUNNING by default."""
    modules = locations.default_location_modules()
    locations.reload_workspace([*modules, "tests.support.running_by_default"])
    yield
    locations.reload_workspace(modules)


def test_schedules_start_stopped_unless_running_by_default_and_start_stop_is_audited(
    running_by_default,
):
    listed = {d["name"]: d for d in automation.automation_list("schedule", now=T0)}
    assert listed["every_minute"]["status"] == "STOPPED"
    assert listed["runs_by_default"]["status"] == "RUNNING"
    assert listed["runs_by_default"]["default_status"] == "RUNNING"
    data = automation.set_status("schedule", "every_minute", running=True, actor="ann")
    assert data["status"] == "RUNNING" and data["next_tick"] is not None
    entry = AuditEntry.objects.get(action="schedule.start")
    assert (entry.actor, entry.target, entry.old_value, entry.new_value) == (
        "ann",
        "every_minute",
        "STOPPED",
        "RUNNING",
    )
    with pytest.raises(Conflict, match="already running"):
        automation.set_status("schedule", "every_minute", running=True, actor="ann")
    automation.set_status("schedule", "every_minute", running=False, actor="bob")
    assert AuditEntry.objects.filter(action="schedule.stop", actor="bob").exists()
    with pytest.raises(NotFound):
        automation.set_status("sensor", "nope", running=True, actor="ann")


def test_a_schedule_launches_one_run_per_scheduled_time_and_never_twice():
    automation.set_status("schedule", "every_minute", running=True, actor="ann")
    AutomationState.objects.filter(name="every_minute").update(last_handled=T0)
    result = automation.tick_schedules(now=T0 + timedelta(minutes=2))
    runs = list(filter_runs(tags={"dagster/schedule_name": "every_minute"}))
    assert len(result.run_ids) == 2 and len(runs) == 2
    times = sorted(r.tags["dagster/scheduled_execution_time"] for r in runs)
    assert times == ["2024-03-01T12:01:00+00:00", "2024-03-01T12:02:00+00:00"]
    assert all(r.tags["source"] == "cron" for r in runs)
    # The same tick again (a second beat, or the state rolled back): nothing new.
    automation.tick_schedules(now=T0 + timedelta(minutes=2))
    AutomationState.objects.filter(name="every_minute").update(last_handled=T0)
    automation.tick_schedules(now=T0 + timedelta(minutes=2))
    assert filter_runs(tags={"dagster/schedule_name": "every_minute"}).count() == 2
    last = _ticks("schedule", "every_minute")[-1]
    assert last.outcome == "SKIPPED" and "already used" in last.message


def test_after_a_gap_the_tick_catches_up_to_the_limit_and_says_what_it_skipped():
    load_config({"concurrency_ui": {"schedule_catch_up_limit": 3}})
    automation.set_status("schedule", "every_minute", running=True, actor="ann")
    AutomationState.objects.filter(name="every_minute").update(last_handled=T0)
    automation.tick_schedules(now=T0 + timedelta(minutes=10))
    times = sorted(
        r.tags["dagster/scheduled_execution_time"]
        for r in filter_runs(tags={"dagster/schedule_name": "every_minute"})
    )
    assert times == [
        "2024-03-01T12:08:00+00:00",
        "2024-03-01T12:09:00+00:00",
        "2024-03-01T12:10:00+00:00",
    ]
    skipped = _ticks("schedule", "every_minute")[0]
    assert skipped.outcome == "SKIPPED" and "7 missed scheduled time(s) skipped" in skipped.message


def test_a_decorated_schedule_can_ask_for_a_partition_or_skip():
    automation.set_status("schedule", "nightly_partition", running=True, actor="ann")
    AutomationState.objects.filter(name="nightly_partition").update(last_handled=T0)
    automation.tick_schedules(now=T0 + timedelta(days=1))
    run = filter_runs(tags={"dagster/schedule_name": "nightly_partition"}).get()
    assert run.tags["dagster/partition"] == "2024-03-01" and run.job_name == "daily_sleepy"


def test_a_schedule_running_by_default_starts_counting_when_first_seen(running_by_default):
    # The first tick starts counting, the next one evaluates.
    automation.tick_schedules(now=T0)
    automation.tick_schedules(now=T0 + timedelta(minutes=5))
    (tick,) = _ticks("schedule", "runs_by_default")
    assert tick.outcome == "SKIPPED" and tick.message.startswith("nothing to do at")


def test_a_sensor_requests_runs_keeps_its_cursor_and_never_reuses_a_run_key():
    automation.set_status("sensor", "my_cool_sensor", running=True, actor="ann")
    result = automation.tick_sensors(now=T0)
    assert len(result.run_ids) == 12
    runs = filter_runs(tags={"dagster/sensor_name": "my_cool_sensor"})
    assert runs.count() == 12
    assert AutomationState.objects.get(name="my_cool_sensor").cursor == "fired"
    automation.tick_sensors(now=T0 + timedelta(seconds=5))
    assert _ticks("sensor", "my_cool_sensor")[-1].message == "the burst was already requested"

    automation.set_status("sensor", "same_key_sensor", running=True, actor="ann")
    automation.tick_sensors(now=T0 + timedelta(seconds=10))
    automation.tick_sensors(now=T0 + timedelta(seconds=15))
    assert AutomationRun.objects.filter(name="same_key_sensor").count() == 1
    assert filter_runs(tags={"dagster/sensor_name": "same_key_sensor"}).count() == 1
    assert "already used" in _ticks("sensor", "same_key_sensor")[-1].message


def test_a_sensor_is_not_evaluated_before_its_minimum_interval():
    automation.set_status("sensor", "same_key_sensor", running=True, actor="ann")
    automation.tick_sensors(now=T0)
    automation.tick_sensors(now=T0 + timedelta(milliseconds=500))
    assert len(_ticks("sensor", "same_key_sensor")) == 1


def test_a_slow_sensor_is_killed_at_the_timeout_and_a_broken_one_fails_its_tick():
    # 5 s, not less: the broken sensor's child process must start Python and load the code
    # location within it, which took over 2 s on a loaded machine (it then "timed out" too).
    load_config({"concurrency_ui": {"sensor_timeout_seconds": 5}})
    automation.set_status("sensor", "slow_sensor", running=True, actor="ann")
    automation.set_status("sensor", "broken_sensor", running=True, actor="ann")
    result = automation.tick_sensors(now=T0)
    assert result.failures == 2 and not Run.objects.exists()
    (slow,) = _ticks("sensor", "slow_sensor")
    assert slow.outcome == "FAILURE" and "timed out" in slow.message and "5 s" in slow.message
    (broken,) = _ticks("sensor", "broken_sensor")
    assert (
        broken.outcome == "FAILURE"
        and "RuntimeError: the sensor's source is down" in broken.message
    )
