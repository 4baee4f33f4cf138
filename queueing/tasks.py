"""Celery tasks: thin shells that take ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="queueing.tasks.execute_run", acks_late=True)
def execute_run(run_id: str) -> str | None:
    from .services.execution import execute_run as run

    return run(run_id)


@shared_task(name="queueing.tasks.run_queue_tick", acks_late=False, ignore_result=True)
def run_queue_tick() -> bool:
    from .services.run_queue import tick

    return tick(force=False).ran


@shared_task(name="queueing.tasks.run_monitoring_tick", acks_late=False, ignore_result=True)
def run_monitoring_tick() -> bool:
    from .services.monitoring import tick

    return tick(force=False).ran
