"""`manage.py dev`: the web server, Celery workers and Celery beat as supervised children
(queueing/supervisor.py restarts any that exits)."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from queueing.supervisor import Supervisor


def process_specs(host: str, port: int) -> list[tuple[str, list[str]]]:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "concurrency_ui"]
    return [
        ("web", [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"]),
        # Ticks get their own worker so long-running runs can never delay them. It and beat
        # handle a task every second: WARNING keeps their output to errors.
        (
            "control",
            [*celery, "worker", "-Q", "control", "-P", "solo", "-n", "control@%h", "-l", "WARNING"],
        ),
        (
            "runs",
            [
                *celery,
                "worker",
                "-Q",
                "runs",
                "-P",
                "threads",
                "-c",
                str(settings.RUN_WORKER_CONCURRENCY),
                "-n",
                "runs@%h",
                "-l",
                "INFO",
            ],
        ),
        # Schedules and sensors: user code, up to sensor_timeout_seconds a sensor.
        (
            "automation",
            [
                *celery,
                "worker",
                "-Q",
                "automation",
                "-P",
                "solo",
                "-n",
                "automation@%h",
                "-l",
                "WARNING",
            ],
        ),
        ("beat", [*celery, "beat", "-l", "WARNING", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME]),
    ]


class Command(BaseCommand):
    help = (
        "Start the web server, the Celery workers and Celery beat, and restart any of them "
        "that exits; Ctrl-C or SIGTERM stops them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        supervisor = Supervisor(
            process_specs(options["host"], options["port"]),
            cwd=str(settings.BASE_DIR),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            var_dir=settings.VAR_DIR,
        )
        self.stdout.write(
            f"concurrency-ui is running at http://{options['host']}:{options['port']}/ "
            "(Ctrl-C stops everything)"
        )
        supervisor.run()
