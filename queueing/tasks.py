"""Celery tasks: thin shells that take ids and call a service.

Services never import this module: they send tasks by name through `queueing.dispatch`,
whose names must match the ones below.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from . import dispatch, zygote
from .services import automation, execution, monitoring, run_queue


@worker_ready.connect
def start_step_zygote(sender, **kwargs) -> None:
    """A worker that executes runs starts its step zygote now, not with its first step."""
    if settings.CELERY_TASK_ROUTES[dispatch.EXECUTE_RUN]["queue"] in (
        sender.app.amqp.queues.consume_from or {}
    ):
        zygote.prestart()


@shared_task(name=dispatch.EXECUTE_RUN, acks_late=True)
def execute_run(run_id: str) -> str | None:
    return execution.execute_run(run_id)


@shared_task(name=dispatch.RUN_QUEUE_TICK, acks_late=False, ignore_result=True)
def run_queue_tick() -> bool:
    return run_queue.tick(force=False).ran


@shared_task(name=dispatch.RUN_QUEUE_TICK_NOW, acks_late=False, ignore_result=True)
def run_queue_tick_now() -> bool:
    return run_queue.tick_on_request().ran


@shared_task(name=dispatch.RUN_MONITORING_TICK, acks_late=False, ignore_result=True)
def run_monitoring_tick() -> bool:
    return monitoring.tick(force=False).ran


@shared_task(name=dispatch.SCHEDULES_TICK, acks_late=False, ignore_result=True)
def schedules_tick() -> bool:
    return automation.tick_schedules(force=False).ran


@shared_task(name=dispatch.SENSORS_TICK, acks_late=False, ignore_result=True)
def sensors_tick() -> bool:
    return automation.tick_sensors(force=False).ran
