"""Runs: the three tabs, and the run actions (terminate, terminate selected, set priority)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..engine.estimates import ASSUMPTION, Estimate
from ..engine.holds import HOLDS, QUEUE_AGE
from ..engine.staleness import Bound, QueuedAge, is_near, time_left
from ..engine.types import Gate, Launch, RunStatus, Wait
from ..errors import Conflict, InvalidInput, NotFound
from ..forms import TAB_LABELS, RunFilterForm
from ..models import Run
from ..roles import can_launch
from ..services import pools, runs
from ..services.config import current_config
from ..services.queries import filter_runs, page_of_runs, stuck_runs
from . import _data
from ._common import (
    HtmxHttpRequest,
    actor,
    confirm_page,
    confirmed,
    done,
    flash_errors,
    htmx_reply,
    page_or_fragment,
    requires,
    safe_next,
)

PAGE_SIZE = 50
# Terminating is one service call per run; a selection larger than this is refused.
MAX_SELECTED = 500
RUNS_CHANGED = "runs-changed"


@dataclass(frozen=True)
class RunRow:
    run: Run
    verdict: Launch | Wait | None
    running_steps: int = 0
    slots_held: int = 0
    # Queued runs held by a pool: what each weighted or multi-pool root step needs.
    demands: tuple[str, ...] = ()
    # Why the run looks stuck inside (every ready step waiting too long), or "".
    stuck: str = ""
    estimate: Estimate | None = None
    # Fair share on: the run's fair-share gate (its value, turn and weight).
    turn: Gate | None = None
    share_value: str | None = None  # its value of the fair-share key
    # Under a queue-age bound: (the bound, seconds left), and whether it is close to it.
    bound: tuple[Bound, float] | None = None
    near_bound: bool = False


@require_GET
@login_required
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    """One page of one tab; the table re-polls itself while any run is queued or in progress.

    The Queued tab also filters by what holds runs back (`held_by`, engine.holds) and by
    fair share's value (`share`), and shows each run's fair-share turn and queue-age bound."""
    form = RunFilterForm(request.GET)
    form.is_valid()
    config = current_config()
    fair = config.queue.fair_share
    share_key = fair.key if fair is not None else None
    number = form.value("page", 1)
    qs = filter_runs(form.statuses(), job=form.value("job"), tags=form.tags(share_key))
    hold = form.value("held_by")
    page = page_of_runs(qs, (number - 1) * PAGE_SIZE, PAGE_SIZE, hold=hold)
    last = max(1, -(-page.total // PAGE_SIZE))
    if number > last:
        # A page past the end (an old link, ?page=999) shows the last page, not "999 of 3".
        number = last
        page = page_of_runs(qs, (number - 1) * PAGE_SIZE, PAGE_SIZE, hold=hold)
    in_progress = form.current_tab() == "in_progress"
    activity = _data.run_activity(r.pk for r in page.runs) if in_progress else {}
    stuck = stuck_runs([r.pk for r in page.runs], timezone.now()) if in_progress else {}
    found = page.estimates
    pool_held = {}
    for r in page.runs:
        verdict = page.verdicts.get(r.run_id)
        if isinstance(verdict, Wait) and verdict.blocking.rule == "pool":
            pool_held[r.run_id] = r.pool_summary
    demands = pools.explain_root_demands(pool_held, config.default_pool_limit) if pool_held else {}
    now = timezone.now().timestamp()
    rules = config.extra.stale_rules
    rows = []
    for r in page.runs:
        verdict = page.verdicts.get(r.run_id)
        bound = None
        if rules.enabled and r.status == RunStatus.QUEUED and r.enqueued_at is not None:
            bound = time_left(rules, QueuedAge(r.run_id, r.enqueued_at.timestamp(), r.tags), now)
        turn = next((g for g in verdict.gates if g.rule == "fair_share"), None) if verdict else None
        rows.append(
            RunRow(
                r,
                verdict,
                estimate=found.get(r.run_id) if found else None,
                demands=tuple(demands.get(r.run_id, ())),
                stuck=stuck.get(r.pk, ""),
                turn=turn,
                share_value=r.tags.get(fair.key) if fair is not None else None,
                bound=bound,
                near_bound=bound is not None and is_near(*bound),
                **activity.get(r.pk, {}),
            )
        )
    live = _data.live_runs_exist()
    context = {
        "form": form,
        "tab": form.current_tab(),
        "tabs": TAB_LABELS,
        "rows": rows,
        "estimate_assumption": ASSUMPTION,
        "total": page.total,
        "page_number": number,
        "pages": last,
        "live": live,
        "can_launch": can_launch(request.user),
        "job_names": sorted({j.name for _, _, jobs in _data.jobs_by_location() for j in jobs}),
        "holds": HOLDS,
        "queue_age_hold": QUEUE_AGE,
        "fair_share": fair,
        "share_values": _data.share_values(fair.key) if fair is not None else [],
        "bounded": rules.enabled,
        "filtered": any(form.value(n) for n in ("job", "tag", "status", "held_by", "share")),
    }
    return page_or_fragment(
        request, "queueing/runs.html", "queueing/_runs_table.html", context, stop_polling=not live
    )


def _post_fields(request: HtmxHttpRequest) -> list[tuple[str, str]]:
    return [(key, value) for key, values in request.POST.lists() for value in values]


@require_POST
@login_required
@requires(can_launch, "operator")
def terminate(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """Terminate one run (`force=1` marks an in-progress run CANCELED at once)."""
    force = request.POST.get("force") == "1"
    if not confirmed(request):
        verb = "Force-terminate" if force else "Terminate"
        return confirm_page(
            request,
            title=f"{verb} run",
            message=f"{verb} run {run_id}?",
            fields=_post_fields(request),
            button=verb,
            cancel=reverse("run-detail", args=[run_id]),
        )
    try:
        run = runs.terminate(run_id, actor(request), force=force)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except InvalidInput as exc:
        flash_errors(request, exc)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run_id[:8]} is now {run.status}.")
    return done(request, reverse("run-detail", args=[run_id]), event=RUNS_CHANGED)


@require_POST
@login_required
@requires(can_launch, "operator")
def terminate_selected(request: HtmxHttpRequest) -> HttpResponse:
    """Terminate every run whose box was ticked; each one that cannot be is reported."""
    run_ids = list(dict.fromkeys(request.POST.getlist("run_id")))
    if not run_ids or len(run_ids) > MAX_SELECTED:
        messages.error(request, f"Select between 1 and {MAX_SELECTED} runs to terminate.")
        return done(request, reverse("runs"))
    if not confirmed(request):
        return confirm_page(
            request,
            title="Terminate selected runs",
            message=f"Terminate {len(run_ids)} selected run(s)?",
            fields=_post_fields(request),
            button="Terminate all",
            cancel=reverse("runs"),
        )
    ended = 0
    for run_id in run_ids:
        try:
            runs.terminate(run_id, actor(request))
            ended += 1
        except (NotFound, Conflict) as exc:
            messages.error(request, str(exc))
        except InvalidInput as exc:
            flash_errors(request, exc)
    messages.success(request, f"Terminated {ended} of {len(run_ids)} run(s).")
    return done(request, reverse("runs"), event=RUNS_CHANGED)


@require_POST
@login_required
@requires(can_launch, "operator")
def set_priority(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """Change a queued run's priority; a refused value is shown under the priority field."""
    value = request.POST.get("priority", "").strip()
    if not confirmed(request):
        return _priority_confirm(request, run_id, value, [])
    try:
        run = runs.set_priority(run_id, value, actor(request))
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except (InvalidInput, Conflict) as exc:
        problems = [e.message for e in exc.errors] if isinstance(exc, InvalidInput) else [str(exc)]
        if not request.htmx:
            return _priority_confirm(request, run_id, value, problems, status=400)
        run = runs.get_run(run_id)
        context = {"run": run, "priority_value": value, "priority_errors": problems}
        context["next_url"] = safe_next(request, reverse("runs"))
        return htmx_reply(request, "queueing/_priority_form.html", context)
    messages.success(request, f"Run {run_id[:8]} now has priority {run.priority}.")
    if request.htmx:
        context = {"run": run, "next_url": safe_next(request, reverse("runs"))}
        return htmx_reply(request, "queueing/_priority_form.html", context, event=RUNS_CHANGED)
    return done(request, reverse("run-detail", args=[run_id]))


def _priority_confirm(
    request: HtmxHttpRequest, run_id: str, value: str, problems: list[str], status: int = 200
) -> HttpResponse:
    """The no-JavaScript confirmation, with the priority editable next to its errors."""
    context = {
        "title": "Change priority",
        "message": f"Change the priority of queued run {run_id}?",
        "action": request.path,
        "fields": [("next", safe_next(request, reverse("runs")))],
        "edit": {"name": "priority", "label": "Priority", "value": value, "errors": problems},
        "button": "Set priority",
        "cancel": safe_next(request, reverse("run-detail", args=[run_id])),
    }
    return render(request, "queueing/confirm.html", context, status=status)
