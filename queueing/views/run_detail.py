"""One run: timeline, steps, logs, config, wait history and, while queued, why it waits."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..engine.pools import free_run_refusal
from ..engine.redaction import mask_secrets
from ..engine.types import ACTIVE_STATUSES, FINISHED_STATUSES, Gate, Launch, RunStatus, Wait
from ..errors import InvalidInput, NotFound
from ..roles import can_change_limits, can_launch, can_see_secrets, can_see_tracebacks
from ..services import estimates, pools, run_queue, runs
from ..services.config import current_config
from ..services.queries import stuck_runs
from . import _data
from ._common import HtmxHttpRequest, page_or_fragment


@dataclass(frozen=True)
class GateRow:
    gate: Gate
    blocking: bool
    holders: list[tuple[str, str | None]]  # (run id, link to it or None)


def gate_rows(verdict: Launch | Wait | None) -> list[GateRow]:
    if verdict is None:
        return []
    blocking = verdict.blocking if isinstance(verdict, Wait) else None
    return [GateRow(g, g == blocking, [(h, _run_url(h)) for h in g.holders]) for g in verdict.gates]


def _run_url(run_id: str) -> str | None:
    try:
        return reverse("run-detail", args=[run_id])
    except NoReverseMatch:
        return None


@require_GET
@login_required
def run_detail(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """The live part re-polls itself until the run is finished (then htmx is told to stop polling)."""
    try:
        run = runs.get_run(run_id)
    except (NotFound, InvalidInput) as exc:
        # An unknown id, or a prefix of several runs (the message lists them).
        raise Http404(str(exc)) from None
    if run.run_id != run_id and not request.htmx:
        # A short id: the page's address (and what it polls) is the whole id.
        return redirect("run-detail", run.run_id)
    verdict = run_queue.explain(run.run_id) if run.status == RunStatus.QUEUED else None
    estimate = estimates.for_run(run.run_id) if verdict is not None else None
    claims = _data.claims_by_step(run)
    demands = pools.explain_steps(run, current_config().default_pool_limit)
    steps = [
        (s, claims.get(s.step_key, []), demands.get(s.step_key, ""))
        for s in run.steps.defer("output")
    ]
    finished = run.status in FINISHED_STATUSES
    context = {
        "run": run,
        "now": timezone.now(),
        "verdict": verdict,
        "estimate": estimate,
        "estimate_assumption": estimates.ASSUMPTION,
        "gates": gate_rows(verdict),
        "steps": steps,
        "has_logs": any(step.logs or step.error for step, _, _ in steps),
        "holds_claims": bool(claims),
        # Every ready step waiting too long, none running (`engine.stuck`).
        "stuck": stuck_runs([run.pk], timezone.now()).get(run.pk, "")
        if run.status in ACTIVE_STATUSES
        else "",
        # A whole run's slots are freed by hand only once it is not in progress.
        "run_slots_freeable": free_run_refusal(run.run_id, RunStatus(run.status)) is None,
        "events": run.events.all(),
        "waits": run.waits.all(),
        "run_config_yaml": yaml.safe_dump(
            run.run_config if can_see_secrets(request.user) else mask_secrets(run.run_config),
            sort_keys=False,
        )
        if run.run_config
        else "",
        "can_see_tracebacks": can_see_tracebacks(request.user),
        "live": not finished,
        "terminable": run.status == RunStatus.QUEUED or run.status in ACTIVE_STATUSES,
        "forceable": run.status in ACTIVE_STATUSES,
        "can_launch": can_launch(request.user),
        "can_change_limits": can_change_limits(request.user),
        "next_url": request.get_full_path(),
    }
    return page_or_fragment(
        request,
        "queueing/run_detail.html",
        "queueing/_run_detail.html",
        context,
        stop_polling=finished,
    )
