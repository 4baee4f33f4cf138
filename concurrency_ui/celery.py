"""The Celery app: workers execute runs, beat drives the run-queue and monitoring ticks."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")

app = Celery("concurrency_ui")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
