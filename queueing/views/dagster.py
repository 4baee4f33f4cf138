"""The attached Dagster deployment: queue, a run's gates, pools, doctor, what-if, changes.

Every page reads the deployment once (`dagster_source.load_state`) and shows it through the
same pure helpers as `manage.py dagster`. Changes need the admin role and
DAGSTER_WRITES_ENABLED; each goes through Dagster's API and into the audit log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import dagster_source
from ..dagster_source import present
from ..dagster_source.doctor import diagnose
from ..dagster_source.queue import decision
from ..dagster_source.simulate import simulate
from ..engine.simulate import Simulation
from ..errors import Conflict, InvalidInput, NotFound
from ..roles import can_change_limits
from ..services.audit import actor_name
from ..services.doctor import report
from ..services.simulate import WAITING_SHOWN
from ._common import HtmxHttpRequest, requires

admin_only = requires(can_change_limits, "admin")


def _page(request: HtmxHttpRequest, template: str, build) -> HttpResponse:
    """Read the deployment and render `template` with `build(state)`; explain if it fails."""
    try:
        state = dagster_source.load_state()
    except dagster_source.DagsterUnavailable as exc:
        return render(request, "queueing/dagster/unavailable.html", {"reason": str(exc)})
    built = build(state)
    if isinstance(built, HttpResponse):
        return built
    context = {
        "state": state,
        "deployment": present.deployment_dict(state),
        "writes_enabled": dagster_source.writes_enabled(),
        "can_write": dagster_source.writes_enabled() and can_change_limits(request.user),
        **built,
    }
    return render(request, template, context, status=context.pop("status", 200))


@require_GET
@login_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    """Queued runs in the daemon's order with their blocking rule; runs in progress."""

    def build(state) -> dict[str, Any]:
        tick = decision(state)
        queued = present.queued_rows(state, tick)
        return {
            "queued": queued,
            "in_progress": present.in_progress_rows(state),
            "launching": len(tick.launch),
            "quirked": sum(1 for row in queued if row["notes"]),
        }

    return _page(request, "queueing/dagster/queue.html", build)


@require_GET
@login_required
def run(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """One run: for a queued run every gate with live numbers and the quirks deciding it."""

    def build(state) -> dict[str, Any] | HttpResponse:
        try:
            whole = dagster_source.resolve_run_id(state, run_id)
        except InvalidInput as exc:
            # A prefix of several runs: the message lists them, as on every other page.
            return {"run": None, "run_id": run_id, "problem": exc.errors[0].message, "status": 404}
        if whole != run_id:
            # A short id: the page's address is the whole id.
            return redirect("dagster-run", whole)
        return {"run": present.explain(state, decision(state), run_id), "run_id": run_id}

    return _page(request, "queueing/dagster/run.html", build)


@require_GET
@login_required
def pools(request: HtmxHttpRequest) -> HttpResponse:
    return _page(
        request, "queueing/dagster/pools.html", lambda state: {"pools": present.pool_rows(state)}
    )


@require_GET
@login_required
def doctor(request: HtmxHttpRequest) -> HttpResponse:
    def build(state) -> dict[str, Any]:
        findings = diagnose(state)
        return {"findings": findings, "summary": report(findings)}

    return _page(request, "queueing/dagster/doctor.html", build)


def _int_field(request: HtmxHttpRequest, name: str, errors: list[str]) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors.append(f"{name}: expected an integer, got {raw[:40]!r}")
        return None


@require_GET
@login_required
def what_if(request: HtmxHttpRequest) -> HttpResponse:
    """The simulator: the next iteration with another max_concurrent_runs, buffer or pool limit."""
    form = {
        k: request.GET.get(k, "").strip()
        for k in ("max_concurrent_runs", "slot_buffer", "pool", "pool_limit")
    }

    def build(state) -> dict[str, Any]:
        errors: list[str] = []
        result: Simulation | None = None
        max_runs = _int_field(request, "max_concurrent_runs", errors)
        buffer = _int_field(request, "slot_buffer", errors)
        limits: dict[str, int | None] = {}
        if form["pool"] or form["pool_limit"]:
            if not form["pool"]:
                errors.append("pool: name the pool whose limit changes")
            elif form["pool_limit"].lower() in ("", "none"):
                limits[form["pool"]] = None
            else:
                limit = _int_field(request, "pool_limit", errors)
                if limit is not None:
                    limits[form["pool"]] = limit
        if not errors and (max_runs is not None or buffer is not None or limits):
            try:
                result = simulate(state, max_runs, buffer, limits)
            except InvalidInput as exc:
                errors += [str(e) for e in exc.errors]
        changes = result.changes if result else ()
        return {
            "form": form,
            "errors": errors,
            "simulation": result,
            # The same cap as the simulator of this deployment's own queue.
            "changes": changes[:WAITING_SHOWN],
            "changes_total": len(changes),
        }

    return _page(request, "queueing/dagster/what_if.html", build)


# --- changes --------------------------------------------------------------------------


def _change(request: HtmxHttpRequest, action, success: str, back: str) -> HttpResponse:
    try:
        action()
    except (InvalidInput, NotFound, Conflict, dagster_source.DagsterUnavailable) as exc:
        text = "; ".join(str(e) for e in exc.errors) if isinstance(exc, InvalidInput) else str(exc)
        messages.error(request, text)
    else:
        messages.success(request, success)
    return redirect(back)


def _whole_run_id(run_id: str) -> str:
    """The run a short id names in the deployment (InvalidInput when several)."""
    return dagster_source.resolve_run_id(dagster_source.load_state(), run_id)


@require_POST
@login_required
@admin_only
def pool_set(request: HtmxHttpRequest) -> HttpResponse:
    from ..dagster_source import writes

    key = request.POST.get("key", "").strip()
    raw = request.POST.get("limit", "").strip()
    try:
        limit: Any = int(raw)
    except ValueError:
        limit = raw  # validate_pool_limit names the field and the rule
    return _change(
        request,
        lambda: writes.set_pool_limit(key, limit, actor_name(request.user)),
        f"Pool {key} now has {raw} slot(s) in the Dagster deployment.",
        reverse("dagster-pools"),
    )


@require_POST
@login_required
@admin_only
def pool_delete(request: HtmxHttpRequest) -> HttpResponse:
    from ..dagster_source import writes

    key = request.POST.get("key", "").strip()
    return _change(
        request,
        lambda: writes.delete_pool_limit(key, actor_name(request.user)),
        f"Pool {key}'s limit was removed from the Dagster deployment.",
        reverse("dagster-pools"),
    )


@require_POST
@login_required
@admin_only
def free_slots(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    from ..dagster_source import writes

    back = request.POST.get("back") == "doctor"
    return _change(
        request,
        lambda: writes.free_run_slots(_whole_run_id(run_id), actor_name(request.user)),
        f"The pool slots of run {run_id[:8]} were freed.",
        reverse("dagster-doctor") if back else reverse("dagster-pools"),
    )


@require_POST
@login_required
@admin_only
def terminate(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    from ..dagster_source import writes

    return _change(
        request,
        lambda: writes.terminate_queued(_whole_run_id(run_id), actor_name(request.user)),
        f"Queued run {run_id[:8]} was canceled.",
        reverse("dagster-queue"),
    )
