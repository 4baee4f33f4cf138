"""Troubleshooting: the doctor's findings, the what-if simulator, slot release, metrics.

The same doctor and simulator answer `/api/doctor/` and `/api/simulate/` (`api.views`)."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..engine.grammar import parse_integer
from ..errors import Conflict, InvalidInput, NotFound
from ..roles import can_change_limits
from ..services import doctor, metrics
from ..services import simulate as simulate_service
from ..services.audit import actor_name
from ._common import HtmxHttpRequest, flash_errors, is_partial, page_or_fragment, requires

admin_only = requires(can_change_limits, "admin")


def _what_if(request: HtmxHttpRequest) -> tuple[dict[str, Any] | None, list[str], dict[str, str]]:
    """The simulator form (GET): a new max_concurrent_runs and/or one pool limit."""
    form = {
        "max_concurrent_runs": request.GET.get("max_concurrent_runs", "").strip(),
        # Not stripped: a pool key follows the key grammar, here as everywhere.
        "pool": request.GET.get("pool", ""),
        "pool_limit": request.GET.get("pool_limit", "").strip(),
    }
    if not any(form.values()):
        return None, [], form
    changes: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    if form["max_concurrent_runs"]:
        try:
            changes["max_concurrent_runs"] = parse_integer(form["max_concurrent_runs"])
        except ValueError as exc:
            return None, [f"max_concurrent_runs: {exc} (-1 for no limit)"], form
    if form["pool"] or form["pool_limit"]:
        pools[form["pool"]] = form["pool_limit"] or None
    try:
        simulation = simulate_service.simulate(settings=changes, pool_limits=pools)
    except InvalidInput as exc:
        return None, [str(e) for e in exc.errors], form
    data = simulate_service.simulation_to_dict(simulation)
    # The engine's own changes for the page, whose reasons link the runs they name.
    data["changes"] = simulation.changes[: simulate_service.WAITING_SHOWN]
    return data, [], form


@require_GET
@login_required
def troubleshooting(request: HtmxHttpRequest) -> HttpResponse:
    """Every doctor check with its evidence and fix; htmx refreshes only the findings."""
    findings = doctor.diagnose()
    context: dict[str, Any] = {
        "findings": findings,
        "summary": doctor.report(findings),
        "can_release": can_change_limits(request.user),
    }
    if not is_partial(request):
        simulation, errors, form = _what_if(request)
        context.update(simulation=simulation, simulation_errors=errors, what_if=form)
        context["limit_history"] = metrics.limit_history(timezone.now())
    return page_or_fragment(
        request, "queueing/troubleshooting.html", "queueing/_doctor.html", context
    )


@require_POST
@login_required
@admin_only
def release_slots(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """The one-click slot-leak release: frees every entry of a finished run (audited)."""
    try:
        freed = doctor.release_slots(run_id, actor_name(request.user))
    except (NotFound, Conflict) as exc:
        messages.error(request, str(exc))
    except InvalidInput as exc:
        flash_errors(request, exc)
    else:
        messages.success(
            request, f"Released {freed} pool entr{'y' if freed == 1 else 'ies'} of run {run_id}."
        )
    return redirect("troubleshooting")


def _metrics_allowed(request: HtmxHttpRequest) -> bool:
    """METRICS_TOKEN set: a matching `Authorization: Bearer` is required. Unset: open in
    development, closed in production (the page then says how to open it)."""
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    return not settings.PRODUCTION


@require_GET
def metrics_view(request: HtmxHttpRequest) -> HttpResponse:
    """Prometheus exposition of the queue, pools, daemons and limits."""
    if not _metrics_allowed(request):
        return HttpResponseForbidden(
            "metrics need `Authorization: Bearer <METRICS_TOKEN>` (set METRICS_TOKEN)\n",
            content_type="text/plain",
        )
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
