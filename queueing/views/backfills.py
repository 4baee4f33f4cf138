"""Backfills: the list with a launch form, and one backfill's progress, runs and limits."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..engine.partitions import PARTITION_TAG
from ..errors import Conflict, InvalidInput, NotFound
from ..forms import BackfillForm, field_of_backfill_error
from ..roles import can_launch
from ..services import backfills
from ..services.runs import QueueFull
from ..throttles import SubmitRateThrottle
from . import _data
from ._common import (
    HtmxHttpRequest,
    actor,
    add_service_errors,
    confirm_page,
    confirmed,
    done,
    page_or_fragment,
    requires,
)

# The detail page shows this many of its runs (the API and the CLI show them all).
RUNS_SHOWN = 200


def _partitioned_jobs() -> list[tuple[str, str, list[str]]]:
    """(job name, its partitions in words, its latest keys) of every partitioned job."""
    now = timezone.now()
    found = []
    seen: set[str] = set()
    for _, _, jobs in _data.jobs_by_location():
        for job in jobs:
            if job.partitions_def is None or job.name in seen:
                continue
            seen.add(job.name)
            keys = _data.partition_choices(job, now)
            found.append((job.name, job.partitions_def.describe(), keys))
    return found


def _list_context(request: HtmxHttpRequest, form: BackfillForm) -> dict:
    jobs = _partitioned_jobs()
    chosen = form["job"].value() or (jobs[0][0] if jobs else "")
    return {
        "form": form,
        "jobs": jobs,
        "chosen": chosen,
        "keys": next((keys for name, _, keys in jobs if name == chosen), []),
        "backfills": backfills.list_backfills(),
        "can_launch": can_launch(request.user),
    }


@require_http_methods(["GET", "POST"])
@login_required
def backfill_list(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the backfills (live) and the launch form; POST: launch (operators)."""
    if request.method == "POST":
        return _launch(request)
    form = BackfillForm(initial={"job": request.GET.get("job", "")})
    return page_or_fragment(
        request,
        "queueing/backfills.html",
        "queueing/_backfills_table.html",
        _list_context(request, form),
    )


@requires(can_launch, "operator")
def _launch(request: HtmxHttpRequest) -> HttpResponse:
    form = BackfillForm(request.POST)
    status = 400
    if form.is_valid():
        throttle = SubmitRateThrottle()
        if not throttle.allow_request(request, None):
            form.add_error(None, throttle.refusal())
            status = 429
        else:
            try:
                backfill = backfills.launch(
                    form.cleaned_data["job"],
                    tags=form.cleaned_data["tags"],
                    actor=actor(request),
                    **form.selection(),
                )
            except InvalidInput as exc:
                add_service_errors(form, exc, field_of_backfill_error)
            except QueueFull as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                count = len(backfill.partition_keys)
                messages.success(
                    request, f"Backfill {backfill.backfill_id}: {count} run(s) queued."
                )
                return redirect("backfill-detail", backfill_id=backfill.backfill_id)
    return render(request, "queueing/backfills.html", _list_context(request, form), status=status)


@require_GET
@login_required
def backfill_detail(request: HtmxHttpRequest, backfill_id: str) -> HttpResponse:
    """The live part re-polls itself until every run of the backfill has finished."""
    try:
        backfill = backfills.get(backfill_id)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    progress = backfills.progress(backfill, holding=True)
    finished = progress.status in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "CANCELED")
    context = {
        "progress": progress,
        "backfill": backfill,
        "runs": [
            (tags.get(PARTITION_TAG, ""), status, run_id)
            for tags, status, run_id in backfill.runs.order_by("id").values_list(
                "tags", "status", "run_id"
            )[:RUNS_SHOWN]
        ],
        "runs_shown": RUNS_SHOWN,
        "live": not finished,
        "can_launch": can_launch(request.user),
        "cancelable": progress.status == "IN_PROGRESS",
        # Re-run once nothing of it is left running: its failed or canceled partitions.
        "rerunnable": finished
        and progress.counts.get("FAILURE", 0) + progress.counts.get("CANCELED", 0) > 0,
    }
    return page_or_fragment(
        request,
        "queueing/backfill_detail.html",
        "queueing/_backfill_detail.html",
        context,
        stop_polling=finished,
    )


@require_POST
@login_required
@requires(can_launch, "operator")
def backfill_cancel(request: HtmxHttpRequest, backfill_id: str) -> HttpResponse:
    here = reverse("backfill-detail", args=[backfill_id])
    if not confirmed(request):
        return confirm_page(
            request,
            title=f"Cancel backfill {backfill_id}?",
            message="Its queued runs are canceled now, its runs in progress asked to stop.",
            fields=request.POST.items(),
            button="Cancel backfill",
            cancel=here,
        )
    try:
        progress = backfills.cancel(backfill_id, actor(request))
    except (NotFound, Conflict) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Backfill {backfill_id} canceled: {progress.counts.get('CANCELED', 0)} run(s) "
            f"canceled, {progress.counts.get('CANCELING', 0)} asked to stop.",
        )
    return done(request, here, event="runs-changed")


@require_POST
@login_required
@requires(can_launch, "operator")
def backfill_rerun(request: HtmxHttpRequest, backfill_id: str) -> HttpResponse:
    try:
        backfill = backfills.rerun_failed(backfill_id, actor(request))
    except (NotFound, Conflict, InvalidInput, QueueFull) as exc:
        messages.error(request, str(exc))
        return redirect("backfill-detail", backfill_id=backfill_id)
    messages.success(
        request,
        f"Backfill {backfill.backfill_id} re-runs {len(backfill.partition_keys)} partition(s).",
    )
    return redirect("backfill-detail", backfill_id=backfill.backfill_id)
