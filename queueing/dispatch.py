"""The one place that talks to the Celery workers: tasks are sent by name, and broadcasts
ask the workers what they do.

Services send work through here instead of importing `queueing.tasks` (which imports the
services): the task names below are the contract between the two, and the routes in
`settings.CELERY_TASK_ROUTES` apply to a task sent by name as to one sent by `delay`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from concurrency_ui.celery import app

EXECUTE_RUN = "queueing.tasks.execute_run"
RUN_QUEUE_TICK = "queueing.tasks.run_queue_tick"
RUN_MONITORING_TICK = "queueing.tasks.run_monitoring_tick"
RUN_QUEUE_TICK_NOW = "queueing.tasks.run_queue_tick_now"
SCHEDULES_TICK = "queueing.tasks.schedules_tick"
SENSORS_TICK = "queueing.tasks.sensors_tick"

# How long an event waits for its tick request to reach the broker. A broker that is down
# can make a send retry for much longer; the send then goes on in the background and the
# event (a submit, a run's end) goes on without it: the periodic tick is the safety net.
TICK_SEND_WAIT_SECONDS = 2.0

T = TypeVar("T")


def execute_run(run_id: str) -> None:
    """Ask a runs worker to execute `run_id` (the task is idempotent: a run already
    started is not started again). Raises if the broker cannot take the message."""
    app.send_task(EXECUTE_RUN, args=[run_id])


def run_queue_tick_now(wait: float = TICK_SEND_WAIT_SECONDS) -> bool:
    """Ask the control worker for a run-queue tick now (`services.tick_requests` decides
    when). Waits at most `wait` seconds for the broker; True once the message was sent."""
    _, problem = ask_workers(lambda celery: celery.send_task(RUN_QUEUE_TICK_NOW), wait)
    return not problem


def ask_workers(
    question: Callable[[Any], T], wait: float, celery: Any = None
) -> tuple[T | None, str]:
    """`question(app)` (a broadcast such as `app.control.inspect().active()`), asked from a
    daemon thread so that a broker client that keeps retrying costs at most `wait` seconds
    and never keeps the process alive at exit. Returns (the answer, "") or (None, why not).
    """
    asked = app if celery is None else celery
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["value"] = question(asked)
        except Exception as exc:  # any broker or transport failure is an answer too
            answer["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=ask, name="ask-workers", daemon=True)
    thread.start()
    thread.join(wait)
    if "error" in answer:
        return None, f"the broker is unreachable: {answer['error']}"
    if "value" not in answer:
        return None, f"the broker did not answer within {wait:g} s"
    return answer["value"], ""
