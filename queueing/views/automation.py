"""Automation: schedules and sensors with status, next tick, last ticks and their runs;
operators start and stop them (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..errors import Conflict, InvalidInput, NotFound
from ..roles import can_launch
from ..services import automation as automation_service
from ._common import HtmxHttpRequest, actor, done, page_or_fragment, requires


@require_GET
@login_required
def automation(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "now": now,
        "schedules": automation_service.automation_list("schedule", now),
        "sensors": automation_service.automation_list("sensor", now),
        "can_launch": can_launch(request.user),
    }
    return page_or_fragment(
        request, "queueing/automation.html", "queueing/_automation.html", context
    )


@require_POST
@login_required
@requires(can_launch, "operator")
def switch(request: HtmxHttpRequest, kind: str, name: str, action: str) -> HttpResponse:
    try:
        data = automation_service.set_status(kind, name, action == "start", actor(request))
    except (NotFound, Conflict, InvalidInput) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{kind.capitalize()} {name} is {data['status'].lower()}.")
    return done(request, reverse("automation"), event="automation-changed")
