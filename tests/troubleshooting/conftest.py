"""Fixtures of the troubleshooting tests: no broker unless a test starts real processes."""

from __future__ import annotations

import pytest

from queueing.services import doctor, run_queue

from .helpers import BOTH_QUEUES


@pytest.fixture(autouse=True)
def no_launch_messages(monkeypatch):
    """Ticks launch runs in the database only; nothing is sent to a broker."""
    sent: list[str] = []
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: sent.extend(ids))
    return sent


@pytest.fixture
def workers(monkeypatch):
    """Workers as the broker reports them (both queues consumed); tests replace `.facts`."""

    class Reported:
        facts = BOTH_QUEUES

    reported = Reported()
    monkeypatch.setattr(doctor, "celery_queues", lambda app=None, timeout=1.0: reported.facts)
    return reported
