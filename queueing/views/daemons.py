"""Daemons: heartbeat health of the run-queue and monitoring daemons, and Celery workers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..roles import can_see_tracebacks
from ..services.daemons import daemon_status, supervised_processes
from . import _data
from ._common import HtmxHttpRequest, is_partial, page_or_fragment


@require_GET
@login_required
def daemons(request: HtmxHttpRequest) -> HttpResponse:
    """Never fails because of the broker: an unreachable one is shown as a message.

    The heartbeat table polls its own fragment every few seconds; the workers section
    does not (asking the workers is a broadcast that waits for their replies).
    """
    now = timezone.now()
    context = {
        "now": now,
        "daemons": daemon_status(now, can_see_tracebacks(request.user)),
        "supervisor": supervised_processes(now),
    }
    if is_partial(request):
        return page_or_fragment(request, "queueing/daemons.html", "queueing/_daemons.html", context)
    context["workers"] = _data.celery_workers()
    return render(request, "queueing/daemons.html", context)
