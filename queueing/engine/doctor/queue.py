"""Why the queue does not move: limits, stuck runs, leaked slots, closed pools, tag limits
that match nothing, starvation, a stalled queue, configuration warnings."""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict

from .. import stuck
from ..pool_words import CLOSED
from ..pools import demand_exceeds_limits
from ..simulate import blocking_counts
from ..submission import queue_full_message
from ..tags import TagCounter
from ..types import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    IN_PROGRESS_STATUSES,
    RunStatus,
    TagLimit,
    Wait,
)
from .facts import (
    STALLED_INTERVALS,
    STARVED_FACTOR,
    STARVED_MIN_SAMPLES,
    STARVED_MIN_SECONDS,
    Action,
    DoctorFacts,
    Finding,
    SlotClaim,
    ago,
    cut,
    heartbeat_timeout,
    short_id,
    stuck_reason,
)
from .motion import MOTION_TITLES, queue_motion


def check_max_concurrent_runs(facts: DoctorFacts) -> Finding:
    limit = facts.config.queue.max_concurrent_runs
    if limit == 0:
        return Finding(
            "max_concurrent_runs",
            "problem",
            "max_concurrent_runs is 0: the queue launches nothing",
            (f"{len(facts.queued)} run(s) queued", "max_concurrent_runs = 0"),
            "Raise max_concurrent_runs on the Concurrency page or the Configuration page; "
            "-1 means no limit.",
        )
    shown = "no limit (-1)" if limit < 0 else str(limit)
    return Finding(
        "max_concurrent_runs",
        "ok",
        f"max_concurrent_runs is {shown}",
        (f"max_concurrent_runs = {limit}",),
    )


# From this share of `max_queued_runs` on, the cap is near enough to warn about.
NEAR_QUEUE_CAP = 0.9


def check_queue_cap(facts: DoctorFacts) -> Finding:
    """`concurrency_ui.max_queued_runs`: submits are refused once the queue holds that many."""
    cap = facts.config.extra.max_queued_runs
    queued = len(facts.queued)
    if cap < 0:
        return Finding("queue_cap", "ok", "No cap on queued runs", (f"{queued} run(s) queued",))
    evidence = (f"{queued} of {cap} runs queued", f"concurrency_ui.max_queued_runs = {cap}")
    full = queue_full_message(queued, cap)
    if full is not None:
        return Finding(
            "queue_cap",
            "problem",
            "The queue is full: submits are refused",
            evidence,
            "Queued runs launch as capacity frees (see the in-progress check); to accept more "
            "now, raise concurrency_ui.max_queued_runs on the Configuration page.",
        )
    if queued >= NEAR_QUEUE_CAP * cap:
        return Finding(
            "queue_cap",
            "warning",
            "The queue is nearly full",
            evidence,
            "Submits are refused at the cap; raise concurrency_ui.max_queued_runs if this load "
            "is expected.",
        )
    return Finding("queue_cap", "ok", f"The queue is below its cap of {cap} runs", evidence)


def check_in_progress(facts: DoctorFacts) -> Finding:
    config = facts.config
    limit = config.queue.max_concurrent_runs
    active = [r for r in facts.active if r.status in ACTIVE_STATUSES]
    full = limit > 0 and len(active) >= limit and bool(facts.queued)
    stuck = [(r, stuck_reason(r, config, facts.now)) for r in active]
    stuck = [(r, why) for r, why in stuck if why]
    evidence: list[str] = []
    if limit > 0:
        evidence.append(f"{len(active)} of {limit} runs in progress, {len(facts.queued)} queued")
    else:
        evidence.append(f"{len(active)} runs in progress, {len(facts.queued)} queued")
    since = [
        q.waiting_since
        for q in facts.queued
        if q.wait_rule == "max_concurrent_runs:max_concurrent_runs" and q.waiting_since is not None
    ]
    if full and since:
        evidence.append(f"the queue has been full for {ago(facts.now - min(since))}")
    reasons = {r.run_id: why for r, why in stuck}
    lines = []
    for run in active:
        line = f"run {short_id(run.run_id)} ({run.job_name}) {run.status}"
        if run.launched_at is not None:
            line += f", launched {ago(facts.now - run.launched_at)} ago"
        if run.run_id in reasons:
            line += f" — looks stuck: {reasons[run.run_id]}"
        lines.append(line)
    # Stuck runs first: they are what needs attention.
    lines.sort(key=lambda line: "looks stuck" not in line)
    evidence += lines
    fix_stuck = (
        "Terminate the stuck runs; one whose worker is gone never leaves CANCELING, so terminate "
        "it again with force (`manage.py terminate RUN_ID --force`), which also frees its slots. "
        "Keep run monitoring enabled with start and cancel timeouts and a run heartbeat "
        "timeout so this resolves by itself."
    )
    if full and stuck:
        return Finding(
            "in_progress",
            "problem",
            f"The queue is full and {len(stuck)} of its runs look stuck",
            cut(evidence),
            fix_stuck,
        )
    if full:
        return Finding(
            "in_progress",
            "warning",
            "The queue is full of in-progress runs",
            cut(evidence),
            "Queued runs start as these finish. To run more at once, raise max_concurrent_runs; "
            "to bound a run's duration, set run_monitoring.max_runtime_seconds.",
        )
    if stuck:
        return Finding(
            "in_progress",
            "warning",
            f"{len(stuck)} in-progress run(s) look stuck",
            cut(evidence),
            fix_stuck,
        )
    return Finding("in_progress", "ok", "The queue has room", cut(evidence))


def check_slot_leaks(facts: DoctorFacts) -> Finding:
    config = facts.config
    monitoring = config.monitoring
    release = monitoring.free_slots_after_run_end_seconds if monitoring.enabled else 0
    by_run: dict[str, list[SlotClaim]] = defaultdict(list)
    for claim in facts.claims:
        by_run[claim.run_id].append(claim)
    leaks: list[str] = []
    pending: list[str] = []
    vanished: list[str] = []
    actions: list[Action] = []
    for run_id, claims in sorted(by_run.items()):
        first = claims[0]
        held = [c for c in claims if c.claimed]
        what = ", ".join(
            f"{c.pool_key}:{c.step_key}{'' if c.claimed else ' (waiting)'}" for c in claims
        )
        status = first.run_status
        if status not in IN_PROGRESS_STATUSES:
            ended = (
                f", ended {ago(facts.now - first.ended_at)} ago"
                if first.ended_at is not None
                else ""
            )
            line = (
                f"run {short_id(run_id)} is {status}{ended} but holds {len(held)} slot(s): {what}"
            )
            age = facts.now - first.ended_at if first.ended_at is not None else None
            grace = release + monitoring.poll_interval_seconds
            if release > 0 and age is not None and age <= grace and status in FINISHED_STATUSES:
                pending.append(f"{line} (monitoring frees it within {ago(grace - age)})")
            else:
                leaks.append(line)
                actions.append(
                    Action(
                        "release_slots",
                        run_id,
                        f"Release the {len(claims)} entr{'y' if len(claims) == 1 else 'ies'} of run {short_id(run_id)}",
                    )
                )
        elif status == RunStatus.STARTED and held:
            reference = first.heartbeat_at
            if reference is not None and facts.now - reference > heartbeat_timeout(config):
                vanished.append(
                    f"run {short_id(run_id)} is STARTED but its worker's last heartbeat was "
                    f"{ago(facts.now - reference)} ago; it holds {len(held)} slot(s): {what}"
                )
    release_fix = (
        "Release them with one click below (audited), or `manage.py pools free --run RUN_ID`. "
        "To prevent leaks keep run monitoring enabled with free_slots_after_run_end_seconds > 0."
    )
    if leaks:
        return Finding(
            "slot_leaks",
            "problem",
            f"{len(leaks)} finished run(s) still hold pool slots",
            cut(leaks + vanished + pending),
            release_fix,
            tuple(actions),
        )
    if vanished:
        return Finding(
            "slot_leaks",
            "warning",
            "Slots are held by runs whose worker stopped",
            cut(vanished + pending),
            "Run monitoring fails such runs after run_heartbeat_timeout_seconds and frees their "
            "slots; if it is disabled, terminate them, then terminate again with force.",
        )
    if pending:
        return Finding(
            "slot_leaks",
            "warning",
            "Finished runs hold slots that monitoring will free shortly",
            cut(pending),
            "Nothing to do unless this persists; then check the run-monitoring daemon.",
        )
    return Finding(
        "slot_leaks",
        "ok",
        "No slot is held by a finished run",
        (f"{len(facts.claims)} pool entries",),
    )


def _demands_over_limits(facts: DoctorFacts) -> list[str]:
    """Steps of the code locations whose weight exceeds the limit of their pool (a pool
    with a limit row; a pool closed at 0 is reported as closed instead)."""
    limits = {key: pool.limit for key, pool in facts.pools.items() if pool.limit}
    return [
        f"job {job} step {step} {problem}"
        for job, step, demand in facts.step_demands
        for problem in demand_exceeds_limits(demand, limits)
    ]


def check_stuck_in_runs(facts: DoctorFacts) -> Finding:
    """Runs in progress none of whose steps runs while every ready step has waited past
    `engine.stuck.STUCK_WAIT_SECONDS`: the queue let them through, nothing moves inside."""
    limits: dict[str, int | None] = {key: pool.limit for key, pool in facts.pools.items()}
    lines = []
    for run in facts.active:
        if run.status != RunStatus.STARTED:
            continue
        why = stuck.stuck_in_run(run.running_steps, run.waiting_steps, limits, facts.now)
        if why:
            lines.append(f"run {short_id(run.run_id)} ({run.job_name}): {why}")
    if lines:
        return Finding(
            "stuck_in_runs",
            "problem",
            f"{len(lines)} run(s) in progress have every step waiting",
            cut(lines),
            "Open the pool each run waits on: raise a closed pool's limit above 0, or free the "
            "slots of steps that hold them without running (the pool page's Free step); a run "
            "that should not wait can be terminated.",
        )
    return Finding(
        "stuck_in_runs",
        "ok",
        "No run in progress is stuck waiting inside",
        (f"threshold: every ready step waiting longer than {ago(stuck.STUCK_WAIT_SECONDS)}",),
    )


def check_pools(facts: DoctorFacts) -> Finding:
    default = facts.config.default_pool_limit
    demand: dict[str, int] = defaultdict(int)
    for run in facts.queued:
        for key in run.pools:
            demand[key] += 1
    closed: list[str] = []
    idle: list[str] = []
    for key, pool in sorted(facts.pools.items()):
        if pool.limit != 0:
            continue
        why = f"is {CLOSED} (limit 0{', from default_limit' if pool.follows_default else ''})"
        line = (
            f"pool {key} {why}: {demand.get(key, 0)} queued run(s) use it, "
            f"{pool.waiting} step(s) wait for a slot"
        )
        (closed if demand.get(key) or pool.waiting else idle).append(line)
    if default == 0:
        for key in sorted(k for k in demand if k not in facts.pools):
            closed.append(
                f"pool {key} has no limit of its own; default_limit 0 closes it at the next tick: "
                f"{demand[key]} queued run(s) use it"
            )
    fix = (
        "Give the pool a limit above 0 on the Concurrency page (or `manage.py pools set KEY N`); "
        "if default_limit is 0, raise it or remove it (no default = pools without a limit are "
        "unlimited)."
    )
    too_heavy = _demands_over_limits(facts)
    heavy_fix = (
        "Raise the pool's limit to at least the step's weight on the Concurrency page (or "
        "`manage.py pools set KEY N`), or lower the step's `pool_slots` / `pools=` in its code."
    )
    if closed:
        return Finding(
            "pools",
            "problem",
            f"{len(closed)} closed pool(s) (limit 0) hold work back",
            cut(closed + idle + too_heavy),
            fix + (f" {heavy_fix}" if too_heavy else ""),
        )
    if too_heavy:
        return Finding(
            "pools",
            "warning",
            f"{len(too_heavy)} step(s) need more slots than their pool has: they can never run",
            cut(too_heavy + idle),
            heavy_fix + (f" {fix}" if idle else ""),
        )
    if idle:
        return Finding(
            "pools",
            "warning",
            "Closed pools (limit 0) would block any step using them",
            cut(idle),
            fix,
        )
    return Finding(
        "pools", "ok", "No pool is closed", (f"{len(facts.pools)} pool(s) with a limit",)
    )


def _describe_limit(limit: TagLimit) -> str:
    if limit.distinct_values:
        return f"{limit.key} (distinct values) ≤ {limit.limit}"
    if limit.per_unique_value:
        return f"{limit.key} (per value) ≤ {limit.limit}"
    if limit.value is not None:
        return f"{limit.key}={limit.value} ≤ {limit.limit}"
    return f"{limit.key} ≤ {limit.limit}"


def check_tag_limits(facts: DoctorFacts) -> Finding:
    limits = facts.config.queue.tag_limits
    if not limits:
        return Finding("tag_limits", "ok", "No run tag limits are configured")
    blocking: list[str] = []
    dead: list[str] = []
    run_keys = set(facts.job_tag_keys)
    for run in facts.queued:
        run_keys |= set(run.tags)
    # Which limits count each run, as the run queue counts them (`TagCounter`: of several
    # limits of one kind on one key, the last listed wins).
    counter = TagCounter(limits)
    queued_counted = [set(counter.applicable(run.tags)) for run in facts.queued]
    active_counted = [set(counter.applicable(run.tags)) for run in facts.active]
    for position, limit in enumerate(limits):
        name = _describe_limit(limit)
        # A run carrying the limit's own tag: if even it is not counted, a later limit of
        # the same kind on the same key replaced this one.
        if position not in counter.applicable({limit.key: limit.value or ""}):
            dead.append(
                f"tag limit {name} never applies: a later limit of the same kind on "
                f"{limit.key} replaces it (the last listed wins); remove one of them"
            )
            continue
        queued = sum(1 for counted in queued_counted if position in counted)
        active = sum(1 for counted in active_counted if position in counted)
        if limit.limit == 0:
            line = f"tag limit {name} blocks every run carrying it: {queued} queued run(s) do"
            (blocking if queued else dead).append(line)
            continue
        if queued or active or limit.key in facts.job_tag_keys:
            continue
        if limit.key in facts.op_tag_keys:
            dead.append(
                f"tag limit {name}: {limit.key} appears only as an op tag, and run tag limits "
                "never see op tags (use a pool to limit steps)"
            )
            continue
        if not facts.queued:
            continue
        line = f"tag limit {name} matches none of the {len(facts.queued)} queued runs and no job sets {limit.key}"
        close = difflib.get_close_matches(limit.key, sorted(run_keys), n=1, cutoff=0.75)
        if close:
            line += f" (did you mean {close[0]!r}?)"
        dead.append(line)
    if blocking:
        return Finding(
            "tag_limits",
            "problem",
            "A tag limit of 0 blocks queued runs",
            cut(blocking + dead),
            "Raise the limit above 0 or remove it on the Concurrency page; 0 means no run "
            "carrying the tag may ever start.",
        )
    if dead:
        return Finding(
            "tag_limits",
            "warning",
            "Some tag limits can never match a queued run",
            cut(dead),
            "Check the tag key's spelling against the runs' tags; limit op tags such as "
            "dagster/concurrency_key with a pool instead.",
        )
    return Finding(
        "tag_limits",
        "ok",
        f"{len(limits)} tag limit(s) match runs",
        tuple(_describe_limit(x) for x in limits),
    )


def check_starved_runs(facts: DoctorFacts) -> Finding:
    medians = {
        priority: statistics.median(waits)
        for priority, waits in facts.launch_waits.items()
        if len(waits) >= STARVED_MIN_SAMPLES
    }
    starved: list[tuple[float, str]] = []
    for run in facts.queued:
        median = medians.get(run.priority)
        if median is None:
            continue
        waited = facts.now - run.enqueued_at
        if waited < STARVED_MIN_SECONDS or waited <= STARVED_FACTOR * median:
            continue
        line = (
            f"run {short_id(run.run_id)} ({run.job_name}, priority {run.priority}) has waited "
            f"{ago(waited)}, more than {STARVED_FACTOR}× the median wait of {ago(median)} "
            f"over {len(facts.launch_waits[run.priority])} recent launches at that priority"
        )
        if run.wait_reason:
            held = f"; held by {run.wait_reason}"
            if run.waiting_since is not None:
                held += f" for {ago(facts.now - run.waiting_since)}"
            line += held
        starved.append((waited, line))
    if not starved:
        return Finding(
            "starved_runs",
            "ok",
            "No queued run waits abnormally long",
            tuple(f"median wait at priority {p}: {ago(m)}" for p, m in sorted(medians.items())),
        )
    starved.sort(key=lambda item: -item[0])
    return Finding(
        "starved_runs",
        "warning",
        f"{len(starved)} queued run(s) are starved",
        cut([line for _, line in starved]),
        "Each line names the rule holding the run: raise that limit, free its holders, or raise "
        "the run's priority (its page has the full explanation and wait history).",
    )


def check_stalled_queue(facts: DoctorFacts) -> Finding:
    config = facts.config
    window = STALLED_INTERVALS * config.dequeue_interval_seconds
    old = [q for q in facts.queued if facts.now - q.enqueued_at >= window]
    evidence = [
        f"{len(facts.queued)} run(s) queued, {len(old)} for more than {window:g} s "
        f"({STALLED_INTERVALS} tick intervals)"
    ]
    if facts.last_launch_at is not None:
        evidence.append(f"last launch {ago(facts.now - facts.last_launch_at)} ago")
    else:
        evidence.append("no run was ever launched")
    motion = queue_motion(
        queued=len(facts.queued),
        oldest_wait=max((facts.now - q.enqueued_at for q in facts.queued), default=None),
        last_launch_age=None if facts.last_launch_at is None else facts.now - facts.last_launch_at,
        window=window,
        max_concurrent_runs=config.queue.max_concurrent_runs,
        active=len([r for r in facts.active if r.status in ACTIVE_STATUSES]),
    )
    if motion != "stalled":
        return Finding("stalled_queue", "ok", MOTION_TITLES[motion], tuple(evidence))
    decision = facts.next_tick
    if decision is not None and decision.launch:
        evidence.append(
            f"the next tick would launch {len(decision.launch)} run(s): "
            + ", ".join(short_id(r) for r in decision.launch[:5])
        )
        return Finding(
            "stalled_queue",
            "problem",
            f"Runs could launch, but nothing launched for {STALLED_INTERVALS} tick intervals",
            tuple(evidence),
            "The tick is not running or is failing: see the run-queue daemon check and the "
            "Daemons page errors.",
        )
    if decision is not None:
        for (rule, subject), count in blocking_counts(decision).most_common(5):
            gate = next(
                v.blocking
                for v in decision.verdicts.values()
                if isinstance(v, Wait) and (v.blocking.rule, v.blocking.subject) == (rule, subject)
            )
            evidence.append(f"{count} run(s) held by {gate.message}")
    return Finding(
        "stalled_queue",
        "warning",
        "Capacity is free, but every queued run is held by a tag limit or a pool",
        cut(evidence),
        "Raise the limits named above, or free their holders; the simulator shows what a change "
        "would launch.",
    )


def check_configuration(facts: DoctorFacts) -> Finding:
    if not facts.config_warnings:
        return Finding("configuration", "ok", "The configuration has no warnings")
    return Finding(
        "configuration",
        "warning",
        f"The configuration has {len(facts.config_warnings)} warning(s)",
        tuple(str(w) for w in facts.config_warnings),
        "Each warning names the setting; change it on the Configuration page.",
    )
