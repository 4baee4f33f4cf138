"""Daemons: heartbeat health of the run-queue and monitoring daemons, and Celery workers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..services.daemons import daemon_status
from . import _data


@require_GET
@login_required
def daemons(request: HttpRequest) -> HttpResponse:
    """Never fails because of the broker: an unreachable one is shown as a message."""
    now = timezone.now()
    context = {"now": now, "daemons": daemon_status(now), "workers": _data.celery_workers()}
    return render(request, "queueing/daemons.html", context)
