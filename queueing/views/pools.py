"""One pool's page (`/pools/<key>/`): its limit in words, the steps holding and waiting for
its slots, the queued runs using it, the jobs using it, its limit history and recent waits.
The list of every pool is the Pools section of the Concurrency page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..forms import PoolLimitForm
from ..roles import can_change_limits
from ..services.pool_report import PoolReport, pool_report
from ._common import HtmxHttpRequest, page_or_fragment


@require_GET
@login_required
def pool_list(request: HtmxHttpRequest) -> HttpResponse:
    return redirect(reverse("concurrency") + "#pools")


@require_GET
@login_required
def pool(request: HtmxHttpRequest, key: str) -> HttpResponse:
    """The page; its live part (`_pool.html`) re-polls itself."""
    report = pool_report(key, timezone.now())
    if report is None:
        raise Http404(f"pool {key!r} has no limit and no loaded code or step uses it")
    context = {
        "pool": report,
        **_bars(report),
        "can_edit": can_change_limits(request.user),
        "pool_limit_form": PoolLimitForm(initial={"limit": report.limit}),
        "next_url": request.get_full_path(),
    }
    return page_or_fragment(request, "queueing/pool.html", "queueing/_pool.html", context)


BAR_WIDTH, BAR_STEP, CHART_HEIGHT = 9, 10, 60


def _bars(report: PoolReport) -> dict[str, Any]:
    """The day's hourly bars as SVG rectangles (x, y, height, tooltip): attributes, not
    inline styles, which the Content-Security-Policy forbids."""
    buckets = report.day.buckets if report.day else ()
    top = max([b.p95_wait or 0.0 for b in buckets] + [0.0])

    def bar(index: int, share: float, tip: str) -> tuple[int, float, float, str]:
        height = round(max(0.0, min(1.0, share)) * CHART_HEIGHT, 1)
        return index * BAR_STEP, CHART_HEIGHT - height, height, tip

    cap = [bar(i, b.at_cap_share, f"{b.at_cap_share:.0%} at cap") for i, b in enumerate(buckets)]
    wait = [
        bar(
            i,
            (b.p95_wait or 0.0) / top if top else 0.0,
            f"p95 {b.p95_wait or 0:.0f} s, {b.steps} steps",
        )
        for i, b in enumerate(buckets)
    ]
    return {"cap_bars": cap, "wait_bars": wait, "wait_top": top or None}
