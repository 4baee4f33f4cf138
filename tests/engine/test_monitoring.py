from __future__ import annotations

import pytest

from queueing.engine.monitoring import (
    CancelForRuntime,
    FailRun,
    ForceCanceled,
    FreeSlots,
    MonitoredRun,
    MonitoringSettings,
    ResendLaunch,
    decide_monitoring,
    max_runtime_for,
)
from queueing.engine.types import RunStatus

S = RunStatus
NOW = 10_000.0


def monitored(status: RunStatus, **kwargs) -> MonitoredRun:
    kwargs.setdefault("created_at", NOW - 10_000)
    return MonitoredRun(run_id="r1", status=status, **kwargs)


def actions(run: MonitoredRun, **settings) -> tuple:
    return decide_monitoring(MonitoringSettings(**settings), [run], NOW)


def test_defaults():
    s = MonitoringSettings()
    assert (s.start_timeout_seconds, s.cancel_timeout_seconds, s.max_runtime_seconds) == (
        180,
        180,
        0,
    )
    assert s.free_slots_after_run_end_seconds == 60
    assert s.run_heartbeat_timeout_seconds == 60
    assert s.resend_starting_after_seconds == 30


# --- start timeout ------------------------------------------------------------------


def test_starting_run_fails_once_the_start_timeout_has_elapsed():
    [action] = actions(monitored(S.STARTING, launched_at=NOW - 180))

    assert isinstance(action, FailRun)
    assert "180 seconds" in action.reason and "start_timeout_seconds" in action.reason


def test_starting_run_is_measured_from_launch_not_creation():
    run = monitored(S.STARTING, created_at=NOW - 5000, launched_at=NOW - 10)

    assert actions(run) == ()


def test_not_started_run_is_measured_from_creation():
    [action] = actions(monitored(S.NOT_STARTED, created_at=NOW - 200))
    assert isinstance(action, FailRun)
    assert actions(monitored(S.NOT_STARTED, created_at=NOW - 100)) == ()


@pytest.mark.parametrize("timeout", [0, -1])
def test_start_timeout_of_zero_or_less_is_disabled_silently(timeout):
    assert actions(monitored(S.NOT_STARTED), start_timeout_seconds=timeout) == ()
    [action] = actions(monitored(S.STARTING, launched_at=NOW - 5000), start_timeout_seconds=timeout)
    # Only the idempotent re-send, never an error.
    assert action == ResendLaunch("r1")


# --- lost launch messages -----------------------------------------------------------


def test_starting_run_whose_launch_may_be_lost_is_resent():
    assert actions(monitored(S.STARTING, launched_at=NOW - 31)) == (ResendLaunch("r1"),)


def test_young_starting_run_is_left_alone():
    assert actions(monitored(S.STARTING, launched_at=NOW - 29)) == ()


def test_resend_can_be_disabled():
    assert (
        actions(monitored(S.STARTING, launched_at=NOW - 60), resend_starting_after_seconds=0) == ()
    )


# --- worker heartbeat ---------------------------------------------------------------


def test_started_run_with_a_stale_worker_heartbeat_fails():
    run = monitored(S.STARTED, started_at=NOW - 600, heartbeat_at=NOW - 61)

    [action] = actions(run)

    assert isinstance(action, FailRun)
    assert "heartbeat" in action.reason and "61 seconds" in action.reason


def test_started_run_with_a_fresh_heartbeat_is_healthy():
    assert actions(monitored(S.STARTED, started_at=NOW - 600, heartbeat_at=NOW - 59)) == ()


def test_start_time_stands_in_for_a_first_heartbeat():
    [action] = actions(monitored(S.STARTED, started_at=NOW - 100))
    assert isinstance(action, FailRun)
    assert actions(monitored(S.STARTED, started_at=NOW - 30)) == ()


def test_heartbeat_check_can_be_disabled():
    assert (
        actions(monitored(S.STARTED, started_at=NOW - 600), run_heartbeat_timeout_seconds=0) == ()
    )


# --- max runtime --------------------------------------------------------------------


def test_global_max_runtime_cancels_a_long_run():
    run = monitored(S.STARTED, started_at=NOW - 3601, heartbeat_at=NOW)

    [action] = actions(run, max_runtime_seconds=3600)

    assert isinstance(action, CancelForRuntime)
    assert "3600 seconds" in action.reason


def test_max_runtime_tag_overrides_the_global_value():
    run = monitored(
        S.STARTED, started_at=NOW - 100, heartbeat_at=NOW, tags={"dagster/max_runtime": "50"}
    )

    assert isinstance(actions(run, max_runtime_seconds=3600)[0], CancelForRuntime)


def test_max_runtime_seconds_tag_is_read_too():
    assert max_runtime_for({"dagster/max_runtime_seconds": "12.5"}, 0) == 12.5


@pytest.mark.parametrize("raw", ["soon", "", "nan"])
def test_non_number_max_runtime_tag_means_no_limit(raw):
    run = monitored(
        S.STARTED, started_at=NOW - 9000, heartbeat_at=NOW, tags={"dagster/max_runtime": raw}
    )

    assert actions(run, max_runtime_seconds=60) == ()


def test_zero_max_runtime_means_no_limit():
    run = monitored(S.STARTED, started_at=NOW - 9000, heartbeat_at=NOW)

    assert actions(run, max_runtime_seconds=0) == ()


def test_suspended_runs_count_toward_max_runtime():
    run = monitored(S.SUSPENDED, started_at=NOW - 100)

    assert isinstance(actions(run, max_runtime_seconds=60)[0], CancelForRuntime)


def test_dead_worker_is_failed_rather_than_canceled_for_runtime():
    run = monitored(S.STARTED, started_at=NOW - 9000, heartbeat_at=NOW - 9000)

    [action] = actions(run, max_runtime_seconds=60)

    assert isinstance(action, FailRun)


# --- cancel timeout -----------------------------------------------------------------


def test_canceling_run_is_forced_canceled_after_the_cancel_timeout():
    [action] = actions(monitored(S.CANCELING, canceling_at=NOW - 180))

    assert isinstance(action, ForceCanceled)
    assert "cancel_timeout_seconds" in action.reason


def test_canceling_run_within_the_timeout_is_left_alone():
    assert actions(monitored(S.CANCELING, canceling_at=NOW - 179)) == ()


@pytest.mark.parametrize("timeout", [0, -5])
def test_cancel_timeout_of_zero_or_less_is_disabled_silently(timeout):
    assert (
        actions(monitored(S.CANCELING, canceling_at=NOW - 9000), cancel_timeout_seconds=timeout)
        == ()
    )


# --- slot release after run end (3.7) -----------------------------------------------


@pytest.mark.parametrize("status", [S.SUCCESS, S.FAILURE, S.CANCELED])
def test_finished_run_holding_slots_is_released_after_the_delay(status):
    [action] = actions(monitored(status, ended_at=NOW - 61, holds_slots=True))

    assert isinstance(action, FreeSlots)
    assert "free_slots_after_run_end_seconds" in action.reason


def test_slots_are_kept_until_the_delay_has_passed():
    assert actions(monitored(S.CANCELED, ended_at=NOW - 59, holds_slots=True)) == ()


def test_release_happens_exactly_at_end_plus_delay():
    assert len(actions(monitored(S.CANCELED, ended_at=NOW - 60, holds_slots=True))) == 1


def test_finished_run_without_slots_needs_nothing():
    assert actions(monitored(S.SUCCESS, ended_at=NOW - 9000)) == ()


@pytest.mark.parametrize("after", [None, 0])
def test_slot_release_can_be_turned_off(after):
    run = monitored(S.FAILURE, ended_at=NOW - 9000, holds_slots=True)

    assert actions(run, free_slots_after_run_end_seconds=after) == ()


def test_active_run_holding_slots_is_never_released():
    run = monitored(S.STARTED, started_at=NOW - 10, heartbeat_at=NOW, holds_slots=True)

    assert actions(run) == ()


# --- the tick -----------------------------------------------------------------------


def test_queued_runs_are_not_monitored():
    assert actions(monitored(S.QUEUED, created_at=0)) == ()


def test_one_action_per_run_in_input_order():
    runs = [
        MonitoredRun("ok", S.STARTED, created_at=0, started_at=NOW - 1, heartbeat_at=NOW),
        MonitoredRun("stuck", S.STARTING, created_at=0, launched_at=NOW - 500),
        MonitoredRun("done", S.SUCCESS, created_at=0, ended_at=NOW - 500, holds_slots=True),
    ]

    result = decide_monitoring(MonitoringSettings(), runs, NOW)

    assert [(type(a).__name__, a.run_id) for a in result] == [
        ("FailRun", "stuck"),
        ("FreeSlots", "done"),
    ]
