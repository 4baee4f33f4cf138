"""`manage.py dev`: the web server, Celery workers and Celery beat as child processes."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

COLORS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m"]
RESET = "\033[0m"


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
        ("beat", [*celery, "beat", "-l", "WARNING", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME]),
    ]


class Command(BaseCommand):
    help = "Start the web server, the Celery workers and Celery beat; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        children: list[tuple[str, subprocess.Popen]] = []
        selector = selectors.DefaultSelector()
        for index, (name, command) in enumerate(process_specs(options["host"], options["port"])):
            proc = subprocess.Popen(
                command,
                cwd=str(settings.BASE_DIR),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            children.append((name, proc))
            selector.register(
                proc.stdout, selectors.EVENT_READ, (name, COLORS[index % len(COLORS)])
            )
        self.stdout.write(
            f"concurrency-ui is running at http://{options['host']}:{options['port']}/ "
            "(Ctrl-C stops everything)"
        )

        stopping = False

        def stop(signum, frame):  # noqa: ARG001
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                if any(proc.poll() is not None for _, proc in children):
                    dead = [n for n, p in children if p.poll() is not None]
                    self.stderr.write(f"{', '.join(dead)} exited; stopping the others")
                    break
                for key, _ in selector.select(timeout=0.5):
                    name, color = key.data
                    line = key.fileobj.readline()
                    if line:
                        sys.stdout.write(
                            f"{color}{name:>8} |{RESET} {line.decode(errors='replace')}"
                        )
                        sys.stdout.flush()
        finally:
            self._stop(children)

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        for _, proc in children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self.stdout.write(f"{name} stopped")
