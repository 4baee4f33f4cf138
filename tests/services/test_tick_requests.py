"""Ticks on events: each event asks for one run-queue tick through the real broker, and
requests coalesce (at most one requested tick waits, however many events arrive)."""

from __future__ import annotations

from datetime import timedelta
from queue import Empty

import pytest
from django.utils import timezone

from concurrency_ui.celery import app
from queueing import dispatch
from queueing.engine.types import RunStatus
from queueing.models import PoolClaim, TickRequest
from queueing.services import config, pools, run_queue, runs, tick_requests

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db(transaction=True)


def sent_tasks(queue: str = "control") -> list[str]:
    """The names of the tasks waiting in `queue` on the broker (taken off it)."""
    names = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(block=False)
                except Empty:
                    break
                names.append(message.headers["task"])
                message.ack()
        finally:
            simple.close()
    return names


@pytest.fixture(autouse=True)
def empty_broker():
    app.control.purge()
    yield
    app.control.purge()


def settled() -> None:
    """The tick asked for so far has started: no request pending, broker emptied."""
    tick_requests.take()
    sent_tasks()


def test_a_submit_requests_a_tick_and_more_submits_add_none_while_it_waits():
    first = submit()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]
    assert tick_requests.pending() is not None
    for _ in range(5):
        submit()
    assert sent_tasks() == []  # coalesced into the tick already waiting
    first.refresh_from_db()
    assert first.status == RunStatus.QUEUED  # nothing launches before the tick runs


def test_the_requested_tick_launches_at_once_and_the_next_event_asks_again():
    load_config({"run_queue": {"dequeue_interval_seconds": 3600}})
    run_queue.tick()  # the periodic tick just ran: it is not due for an hour
    settled()  # (the configuration change asked for a tick too)
    run = submit()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]
    assert run_queue.tick(force=False).ran is False  # the interval still holds beat's tick
    result = run_queue.tick_on_request()
    assert result.launched == (run.run_id,)
    assert tick_requests.pending() is None
    assert sent_tasks("runs") == [dispatch.EXECUTE_RUN]
    submit()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]


def test_an_event_during_a_tick_queues_exactly_one_more():
    submit()
    sent_tasks()
    tick_requests.take()  # the requested tick starts …
    submit()  # … and a submit arrives while it runs
    submit()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]


def _started_run():
    run = submit()
    runs.transition([run.run_id], RunStatus.QUEUED, RunStatus.STARTING)
    runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
    return run


def test_a_run_in_progress_that_ends_requests_a_tick():
    run = _started_run()
    settled()
    runs.transition([run.run_id], RunStatus.STARTED, RunStatus.SUCCESS, "done")
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]


def test_a_queued_run_canceled_frees_nothing_and_requests_no_tick():
    run = submit()
    settled()
    runs.terminate(run.run_id, actor="test")
    assert sent_tasks() == []


def test_a_freed_slot_requests_a_tick():
    pools.set_limit("warehouse", 1, actor="test")
    run = _started_run()
    assert pools.try_claim(run, "ping", "warehouse", 0, None).claimed
    settled()
    assert pools.free_step(run, "ping") == 1
    assert not PoolClaim.objects.exists()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]
    settled()
    assert pools.free_step(run, "ping") == 0  # nothing freed: no tick
    assert sent_tasks() == []


@pytest.mark.parametrize(
    "change",
    [
        lambda: config.edit_settings({"max_concurrent_runs": 5}, actor="test"),
        lambda: pools.set_limit("warehouse", 4, actor="test"),
    ],
    ids=["max_concurrent_runs", "pool limit"],
)
def test_a_raised_limit_requests_a_tick(change):
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    pools.set_limit("warehouse", 1, actor="test")
    settled()
    change()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]


def test_a_request_whose_tick_never_came_is_sent_again_after_a_while():
    submit()
    sent_tasks()  # the message is lost (say the broker restarted empty)
    submit()
    assert sent_tasks() == []
    stale = timezone.now() - timedelta(seconds=tick_requests.STALE_REQUEST_SECONDS + 1)
    TickRequest.objects.update(requested_at=stale)
    submit()
    assert sent_tasks() == [dispatch.RUN_QUEUE_TICK_NOW]


def test_an_unreachable_broker_never_fails_the_event(monkeypatch):
    monkeypatch.setattr(dispatch, "TICK_SEND_WAIT_SECONDS", 0.5)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", down)
    run = submit()
    assert run.status == RunStatus.QUEUED
