"""Overview: run counts, daemon health, busy pools, a stalled-queue warning and a chart."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..engine.submission import queue_full_message
from ..roles import can_see_tracebacks
from ..services.config import current_config
from ..services.daemons import daemon_status
from . import _data
from ._common import HtmxHttpRequest, page_or_fragment


@require_GET
@login_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """The page polls its own fragment every few seconds: daemon health can change any time."""
    now = timezone.now()
    counts = _data.run_counts(now)
    config = current_config()
    context = {
        "now": now,
        "counts": counts,
        "daemons": daemon_status(now, can_see_tracebacks(request.user)),
        "busy_pools": _data.pools_near_limit(),
        "stall": _data.queue_stall(now, config, counts["queued"], counts["active"]),
        "queue_full": queue_full_message(counts["queued"], config.extra.max_queued_runs),
        "chart": _data.tick_chart(now),
    }
    return page_or_fragment(request, "queueing/overview.html", "queueing/_overview.html", context)
