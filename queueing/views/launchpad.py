"""Launchpad: pick a job, edit its run config and tags, validate as you type, launch."""

from __future__ import annotations

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from ..definitions import JobDefinition
from ..errors import InvalidInput
from ..forms import LaunchForm
from ..roles import can_launch
from ..services import runs
from ..services.runs import QueueFull
from ..throttles import SubmitRateThrottle
from . import _data
from ._common import HtmxHttpRequest, actor, page_or_fragment, requires


def _jobs() -> dict[str, JobDefinition]:
    """Jobs by name; with the same name in two locations the first wins, as in submit."""
    jobs: dict[str, JobDefinition] = {}
    for _, _, location_jobs in _data.jobs_by_location():
        for job in location_jobs:
            jobs.setdefault(job.name, job)
    return jobs


def _render(request: HtmxHttpRequest, form: LaunchForm, status: int = 200) -> HttpResponse:
    name = form["job"].value() or ""
    context = {
        "form": form,
        "job": form.jobs.get(name),
        "partition_keys": _data.partition_choices(form.jobs[name], timezone.now())
        if name in form.jobs
        else [],
        "job_name": name,
        "locations": _data.jobs_by_location(),
        "errors": form.errors_by_field() if form.is_bound else {},
        "can_launch": can_launch(request.user),
    }
    return page_or_fragment(
        request, "queueing/launchpad.html", "queueing/_launch_form.html", context, status
    )


@require_http_methods(["GET", "POST"])
@login_required
def launchpad(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the editor scaffolded for `?job=`; POST: launch (operators) and go to the run."""
    if request.method == "POST":
        return launch(request)
    jobs = _jobs()
    name = request.GET.get("job") or next(iter(jobs), "")
    job = jobs.get(name)
    config = _data.scaffold_run_config(job) if job else {}
    initial = {"job": name, "run_config": yaml.safe_dump(config, sort_keys=False) if config else ""}
    return _render(request, LaunchForm(initial=initial, jobs=jobs))


@requires(can_launch, "operator")
def launch(request: HtmxHttpRequest) -> HttpResponse:
    form = LaunchForm(request.POST, jobs=_jobs())
    if "add_row" in request.POST:  # the no-JavaScript way to get one more tag row
        return _render(request, form)
    if not form.is_ready():
        return _render(request, form, status=400)
    # The API's per-user submit rate counts launches from here too.
    throttle = SubmitRateThrottle()
    if not throttle.allow_request(request, None):
        form.add_error(None, throttle.refusal())
        return _render(request, form, status=429)
    data = form.cleaned_data
    try:
        run = runs.submit(data["job"], form.tags, data["run_config"], actor=actor(request))
    except InvalidInput as exc:
        for error in exc.errors:
            form.add_service_error(error)
        return _render(request, form, status=400)
    except QueueFull as exc:
        form.add_error(None, str(exc))
        return _render(request, form, status=409)
    messages.success(request, f"Launched {run.job_name}: run {run.run_id[:8]} is queued.")
    return redirect("run-detail", run_id=run.run_id)


@require_POST
@login_required
@requires(can_launch, "operator")
def validate(request: HtmxHttpRequest) -> HttpResponse:
    """The errors of the form as typed so far, swapped next to each field (out of band)."""
    form = LaunchForm(request.POST, jobs=_jobs())
    context = {
        "errors": form.errors_by_field(),
        "ready": form.is_ready(),
        "partitioned": form.job_def is not None and form.job_def.partitions_def is not None,
    }
    return render(request, "queueing/_launch_errors.html", context)
