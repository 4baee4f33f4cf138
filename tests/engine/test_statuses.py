from __future__ import annotations

import itertools

import pytest

from queueing.engine.statuses import (
    TRANSITIONS,
    InvalidTransition,
    can_transition,
    check_transition,
)
from queueing.engine.types import FINISHED_STATUSES, RunStatus

S = RunStatus

ALLOWED_BY_SEMANTICS = [
    (S.NOT_STARTED, S.QUEUED),
    (S.NOT_STARTED, S.STARTING),
    (S.NOT_STARTED, S.CANCELED),
    (S.NOT_STARTED, S.FAILURE),  # start timeout
    (S.QUEUED, S.STARTING),
    (S.QUEUED, S.CANCELING),
    (S.QUEUED, S.CANCELED),
    (S.STARTING, S.STARTED),
    (S.STARTING, S.FAILURE),
    (S.STARTING, S.CANCELING),
    (S.STARTING, S.QUEUED),  # launch retry keeps the queue position
    (S.STARTING, S.CANCELED),
    (S.STARTED, S.SUCCESS),
    (S.STARTED, S.FAILURE),
    (S.STARTED, S.CANCELING),
    (S.CANCELING, S.CANCELED),
    (S.CANCELING, S.FAILURE),  # max runtime ends in FAILURE
]


@pytest.mark.parametrize(("old", "new"), ALLOWED_BY_SEMANTICS)
def test_transitions_of_the_table_are_allowed(old, new):
    assert can_transition(old, new)
    check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.STARTED, S.QUEUED),
        (S.STARTED, S.STARTING),
        (S.QUEUED, S.NOT_STARTED),
        (S.QUEUED, S.STARTED),  # must pass through STARTING
        (S.QUEUED, S.FAILURE),
        (S.CANCELING, S.STARTED),
        (S.CANCELING, S.SUCCESS),
        (S.QUEUED, S.QUEUED),
    ],
)
def test_backwards_and_skipping_transitions_are_refused(old, new):
    assert not can_transition(old, new)
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"), list(itertools.product(sorted(FINISHED_STATUSES), list(S)))
)
def test_finished_statuses_are_terminal(old, new):
    assert not can_transition(old, new)


def test_resumed_worker_may_report_started_again():
    assert can_transition(S.STARTED, S.STARTED)


def test_managed_runs_never_change_status():
    assert all(not can_transition(S.MANAGED, new) for new in S)
    assert all(not can_transition(old, S.MANAGED) for old in S)


def test_error_names_both_statuses_and_is_a_value_error():
    with pytest.raises(ValueError, match="from SUCCESS to STARTED"):
        check_transition(S.SUCCESS, S.STARTED)


def test_string_statuses_are_accepted():
    assert can_transition("QUEUED", "STARTING")


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(S)
