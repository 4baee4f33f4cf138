"""Queue-age bounds (engine/staleness.py): runs close to being canceled for waiting too long,
and jobs whose runs keep timing out in the queue."""

from __future__ import annotations

from ..staleness import REPEATED_TIMEOUTS, REPEATED_WINDOW_SECONDS, QueuedAge, is_near, time_left
from .facts import DoctorFacts, Finding, ago, cut, short_id


def check_queue_age(facts: DoctorFacts) -> Finding:
    rules = facts.config.extra.stale_rules
    near: list[tuple[float, str]] = []
    for run in facts.queued if rules.enabled else ():
        found = time_left(rules, QueuedAge(run.run_id, run.enqueued_at, run.tags), facts.now)
        if found is None:
            continue
        bound, left = found
        if is_near(bound, left):
            waited = facts.now - run.enqueued_at
            near.append(
                (
                    left,
                    f"run {short_id(run.run_id)} ({run.job_name}) queued {ago(waited)}, "
                    f"canceled in {ago(max(left, 0))} by {bound.label}"
                    + (f"; waits on {run.wait_reason}" if run.wait_reason else ""),
                )
            )
    near.sort()
    repeated = sorted(
        (job, count) for job, count in facts.queue_timeouts.items() if count >= REPEATED_TIMEOUTS
    )
    window = ago(REPEATED_WINDOW_SECONDS)
    evidence = [line for _, line in near] + [
        f"job {job}: {count} runs canceled for waiting too long in the queue in the last {window}"
        for job, count in repeated
    ]
    if repeated:
        return Finding(
            "queue_age",
            "warning",
            f"Runs of {len(repeated)} job(s) keep timing out in the queue",
            cut(evidence),
            "These runs wait on a limit longer than their queue-age bound allows: see the rule "
            "each waited on (the tag-limit, pool and starved-runs checks), raise that limit, "
            "submit fewer runs, or lengthen concurrency_ui.max_queued_seconds (or the tag bound "
            "named) on the Configuration page.",
        )
    if near:
        return Finding(
            "queue_age",
            "warning",
            f"{len(near)} queued run(s) close to their queue-age bound",
            cut(evidence),
            "Run monitoring cancels them once the bound passes. To let them run, free the limit "
            "each waits on or raise its priority; to keep them longer, lengthen the bound.",
        )
    if not rules.enabled:
        return Finding(
            "queue_age",
            "ok",
            "No bound on how long a run may stay queued",
            ("concurrency_ui.max_queued_seconds = 0, no max_queued_seconds_by_tag",),
        )
    shortest = rules.shortest()
    return Finding(
        "queue_age",
        "ok",
        "No queued run is close to its queue-age bound",
        (f"shortest bound: {shortest} s", f"{len(facts.queued)} run(s) queued"),
    )
