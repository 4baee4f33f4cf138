"""Concurrency limits: run-queue settings, tag limits, pools and their holders, history.

Viewers see everything read-only; every change needs `can_change_limits` and goes through
`services.config.edit_settings` or `services.pools`, which audit it. With htmx, an action
swaps its own section and fires an event (`EVENTS`) on which the sections showing the
changed data reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from ..engine.config.flat import config_to_flat
from ..errors import Conflict, InvalidInput, NotFound
from ..forms import MonitoringForm, PoolForm, PoolLimitForm, QueueSettingsForm, TagLimitForm
from ..models import Pool
from ..roles import can_change_limits
from ..services import config as config_service
from ..services import pools, runs
from ..services import simulate as simulate_service
from . import _data
from ._common import (
    HtmxHttpRequest,
    actor,
    add_service_errors,
    confirm_page,
    confirmed,
    flash_errors,
    htmx_reply,
    page_or_fragment,
    requires,
    safe_next,
    whole_number,
)

# Events that make other sections reload (triggered on the client); the history listens to both.
EVENTS = {
    "settings": "settings-changed",
    "monitoring": "settings-changed",
    "pools": "pools-changed",
}
PARTS = {
    "settings": "queueing/_queue_settings.html",
    "monitoring": "queueing/_monitoring_settings.html",
    "pools": "queueing/_pools.html",
    "history": "queueing/_history.html",
}
admin_only = requires(can_change_limits, "admin")


def _context(request: HtmxHttpRequest, **overrides: Any) -> dict[str, Any]:
    flat = config_to_flat(config_service.current_config())
    context: dict[str, Any] = {
        "tag_limits": flat["tag_limits"],
        "queue_form": QueueSettingsForm.from_settings(flat),
        "monitoring_form": MonitoringForm.from_settings(flat),
        "tag_form": TagLimitForm(),
        "pool_form": PoolForm(),
        "pool_limit_form": PoolLimitForm(),
        "edit_pool": None,
        "pools": _data.pool_rows(),
        "history": _data.limit_history(),
        "can_edit": can_change_limits(request.user),
    }
    return {**context, **overrides}


@require_GET
@login_required
def concurrency(request: HtmxHttpRequest) -> HttpResponse:
    """The page; htmx asks for one section with `?part=` (settings, monitoring, pools, history)."""
    fragment = PARTS.get(request.GET.get("part", ""), "queueing/concurrency.html")
    editing = whole_number(request.GET.get("edit", "")) if can_change_limits(request.user) else None
    context = _context(request, edit_pool=editing)
    return page_or_fragment(request, "queueing/concurrency.html", fragment, context)


def _answer(request: HtmxHttpRequest, part: str, ok: bool, **overrides: Any) -> HttpResponse:
    """Swap the section (htmx), or redirect after success / show the page with errors."""
    if request.htmx:
        event = EVENTS[part] if ok else None
        return htmx_reply(request, PARTS[part], _context(request, **overrides), event=event)
    if ok:
        return redirect(safe_next(request, reverse("concurrency") + f"#{part}"))
    return render(request, "queueing/concurrency.html", _context(request, **overrides), status=400)


def _update(
    request: HtmxHttpRequest, edit: config_service.Edit | dict, what: str
) -> InvalidInput | None:
    """Apply a settings change through the service; return its refusal, if any."""
    try:
        _, diff = config_service.edit_settings(edit, actor(request), source="browser")
    except InvalidInput as exc:
        return exc
    messages.success(
        request, f"{what}: {len(diff)} setting(s) changed." if diff else f"{what}: no change."
    )
    return None


def _confirm_stop(
    request: HtmxHttpRequest,
    what: str,
    settings: dict[str, Any] | None = None,
    pool_limits: dict[str, Any] | None = None,
) -> HttpResponse | None:
    """Before a change that stops work (max_concurrent_runs 0, a pool closed), a
    confirmation with the simulator's prediction of the next tick; None once confirmed.
    Asked of htmx too (`hx-confirm` cannot show a prediction): the box replaces the page's
    main part and posts without htmx."""
    if request.POST.get("confirmed") == "1":
        return None
    try:
        prediction = simulate_service.simulation_to_dict(
            simulate_service.simulate(settings=settings, pool_limits=pool_limits)
        )
    except InvalidInput:
        return None  # the save refuses it with the field's message
    message = (
        f"{what}. The simulator predicts that the next tick launches "
        f"{len(prediction['launch'])} run(s) instead of {len(prediction['launch_now'])}, "
        "and runs already in progress keep running."
    )
    context = {
        "title": "Stop work?",
        "message": message,
        "action": request.path,
        "fields": [(k, v) for k, v in request.POST.items() if k != "csrfmiddlewaretoken"],
        "button": "Yes, save it",
        "cancel": reverse("concurrency"),
    }
    if request.htmx:
        response = render(request, "queueing/_confirm_box.html", context)
        return retarget(reswap(response, "innerHTML"), "main")
    return render(request, "queueing/confirm.html", context)


def _settings_form_post(
    request: HtmxHttpRequest, form: Any, part: str, name: str, what: str
) -> HttpResponse:
    """Save a form whose fields are settings (`changes()`); errors stay next to the fields."""
    if form.is_valid():
        changes = form.changes()
        current = config_to_flat(config_service.current_config())
        if changes.get("max_concurrent_runs") == 0 and current["max_concurrent_runs"] != 0:
            stop = _confirm_stop(
                request,
                "max_concurrent_runs 0 stops the queue: no run launches until it is raised",
                settings={"max_concurrent_runs": 0},
            )
            if stop is not None:
                return stop
        refused = _update(request, form.changes(), what)
        if refused is None:
            return _answer(request, part, True)
        add_service_errors(form, refused)
    return _answer(request, part, False, **{name: form})


@require_POST
@login_required
@admin_only
def queue_settings(request: HtmxHttpRequest) -> HttpResponse:
    form = QueueSettingsForm(request.POST)
    return _settings_form_post(request, form, "settings", "queue_form", "Run queue")


@require_POST
@login_required
@admin_only
def monitoring_settings(request: HtmxHttpRequest) -> HttpResponse:
    form = MonitoringForm(request.POST)
    return _settings_form_post(request, form, "monitoring", "monitoring_form", "Run monitoring")


@require_POST
@login_required
@admin_only
def tag_limit_add(request: HtmxHttpRequest) -> HttpResponse:
    form = TagLimitForm(request.POST)
    if not form.is_valid():
        return _answer(request, "settings", False, tag_form=form)
    item = form.item()
    refused = _update(
        request,
        lambda current: {"tag_limits": [*current["tag_limits"], item]},
        f"Tag limit on {item['key']}",
    )
    if refused is None:
        return _answer(request, "settings", True)
    add_service_errors(form, refused)
    return _answer(request, "settings", False, tag_form=form)


@require_POST
@login_required
@admin_only
def tag_limit_delete(request: HtmxHttpRequest) -> HttpResponse:
    """Delete the limit at `index`, only if it still has `key` (the list may have changed)."""
    index, key = request.POST.get("index", ""), request.POST.get("key", "")
    if not confirmed(request):
        return confirm_page(
            request,
            title="Delete tag limit",
            message=f"Delete the tag limit on {key}?",
            fields=request.POST.items(),
            button="Delete",
            cancel=reverse("concurrency"),
        )

    def without(current: Mapping[str, Any]) -> dict[str, Any]:
        limits = list(current["tag_limits"])
        at = whole_number(index)
        if at is None or not 0 <= at < len(limits) or limits[at]["key"] != key:
            raise InvalidInput.one(
                "tag_limits", "that tag limit changed meanwhile: reload the page"
            )
        del limits[at]
        return {"tag_limits": limits}

    refused = _update(request, without, f"Tag limit on {key}")
    if refused is not None:
        flash_errors(request, refused)
    return _answer(request, "settings", refused is None)


@require_POST
@login_required
@admin_only
def pool_add(request: HtmxHttpRequest) -> HttpResponse:
    """Create a pool limit (or set it, if the pool has one)."""
    form = PoolForm(request.POST)
    if form.is_valid():
        key = form.cleaned_data["key"]
        if form.cleaned_data["limit"] == 0 and _limit_of(key) != 0:
            stop = _confirm_stop(
                request, f"Limit 0 closes pool {key}: no step using it starts", pool_limits={key: 0}
            )
            if stop is not None:
                return stop
        try:
            pool = pools.set_limit(
                form.cleaned_data["key"], form.cleaned_data["limit"], actor(request)
            )
            messages.success(request, f"Pool {pool.key} now has a limit of {pool.limit}.")
            return _answer(request, "pools", True)
        except InvalidInput as exc:
            add_service_errors(form, exc)
    return _answer(request, "pools", False, pool_form=form)


def _row(request: HtmxHttpRequest, pk: int, template: str, **extra: Any) -> HttpResponse:
    """A pool's table row for htmx; without htmx, the page scrolled to it (in edit mode)."""
    pool = get_object_or_404(Pool, pk=pk)
    if not request.htmx:
        edit = f"?edit={pk}" if "edit" in template else ""
        return redirect(reverse("concurrency") + f"{edit}#pool-{pk}")
    context = {"pool": _data.pool_rows([pool.key])[0], "can_edit": can_change_limits(request.user)}
    response = render(request, template, {**context, **extra})
    patch_vary_headers(response, ("HX-Request",))
    return response


def _limit_of(key: str) -> int | None:
    return Pool.objects.filter(key=key).values_list("limit", flat=True).first()


@require_GET
@login_required
def pool_row(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One pool's row: what "Cancel" swaps back in place of the edit row."""
    return _row(request, pk, "queueing/_pool_row.html")


@require_GET
@login_required
@admin_only
def pool_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The pool's row with its limit in an input."""
    return _row(request, pk, "queueing/_pool_row_edit.html", pool_limit_form=PoolLimitForm())


@require_POST
@login_required
@admin_only
def pool_limit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Save a limit edited in place; the row swaps back, or stays open with the error."""
    pool = get_object_or_404(Pool, pk=pk)
    form = PoolLimitForm(request.POST)
    if form.is_valid():
        if form.cleaned_data["limit"] == 0 and pool.limit != 0:
            stop = _confirm_stop(
                request,
                f"Limit 0 closes pool {pool.key}: no step using it starts",
                pool_limits={pool.key: 0},
            )
            if stop is not None:
                return stop
        try:
            pools.set_limit(pool.key, form.cleaned_data["limit"], actor(request))
            messages.success(request, f"Pool {pool.key}: limit {form.cleaned_data['limit']}.")
        except InvalidInput as exc:
            add_service_errors(form, exc)
    ok = not form.errors
    if not request.htmx:
        return _answer(request, "pools", ok, pool_limit_form=form, edit_pool=None if ok else pk)
    row = {"pool": _data.pool_rows([pool.key])[0], "pool_limit_form": form, "can_edit": True}
    template = "queueing/_pool_row.html" if ok else "queueing/_pool_row_edit.html"
    return htmx_reply(request, template, row, event=EVENTS["pools"] if ok else None)


@require_POST
@login_required
@admin_only
def pool_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    pool = get_object_or_404(Pool, pk=pk)
    if not confirmed(request):
        message = f"Delete the limit of pool {pool.key}? Its steps then run without a limit (or the default limit)."
        return confirm_page(
            request,
            title="Delete pool",
            message=message,
            fields=request.POST.items(),
            button="Delete",
            cancel=reverse("concurrency"),
        )
    try:
        pools.delete_pool(pool.key, actor(request))
    except NotFound as exc:
        raise Http404(str(exc)) from None
    messages.success(request, f"Pool {pool.key} deleted.")
    return _answer(request, "pools", True)


@require_POST
@login_required
@admin_only
def free_slots(request: HtmxHttpRequest) -> HttpResponse:
    """Free the slots (and waiting entries) of one step, or of a whole run."""
    run_id, step_key = request.POST.get("run_id", ""), request.POST.get("step_key") or None
    what = f"step {step_key} of run {run_id[:8]}" if step_key else f"run {run_id[:8]}"
    if not confirmed(request):
        return confirm_page(
            request,
            title="Free pool slots",
            message=f"Free the pool slots of {what}?",
            fields=request.POST.items(),
            button="Free slots",
            cancel=reverse("concurrency"),
        )
    try:
        freed = pools.free_run(runs.get_run(run_id), step_key=step_key, actor=actor(request))
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except InvalidInput as exc:
        flash_errors(request, exc)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Freed {freed} slot(s) or waiting entries of {what}.")
    if request.htmx:  # also sent from a run's page, which reloads on runs-changed
        event = [EVENTS["pools"], "runs-changed"]
        return htmx_reply(request, PARTS["pools"], _context(request), event=event)
    return _answer(request, "pools", True)
