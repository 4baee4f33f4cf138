"""The queue doctor on an attached Dagster deployment (pure: works on a `DagsterState`).

The checks that make sense against Dagster reuse the engine's own (`engine.doctor`), fed
with facts read from Dagster (daemon heartbeats from its own table, runs, pool entries),
with fixes worded for a Dagster user; three checks are Dagster's alone: the run
coordinator, pools that queued runs use without a limit row, and the runs whose verdict a
Dagster quirk decides. Celery workers, the database fingerprint and starvation statistics
are concurrency-ui's own machinery and are not checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..engine.config.model import ExtraConfig, InstanceConfig, MonitoringConfig
from ..engine.doctor import worst as worst_of
from ..engine.doctor.facts import (
    ActiveRun,
    DaemonFact,
    DoctorFacts,
    Finding,
    PoolFact,
    QueuedRun,
    SlotClaim,
    Status,
    cut,
)
from ..engine.doctor.health import check_monitoring_daemon, check_run_queue_daemon
from ..engine.doctor.queue import (
    check_in_progress,
    check_max_concurrent_runs,
    check_pools,
    check_slot_leaks,
    check_stalled_queue,
    check_tag_limits,
)
from ..engine.types import CONCURRENCY_KEY_TAG, RunStatus, TickDecision
from .queue import decision
from .state import (
    DAGSTER_UI_TOLERANCE_SECONDS,
    HEARTBEAT_INTERVAL_SECONDS,
    MONITORING_DAEMON,
    QUEUE_DAEMON,
    DagsterState,
    pool_states,
)

CHECKS = (
    "run_coordinator",
    "run_queue_daemon",
    "monitoring_daemon",
    "max_concurrent_runs",
    "in_progress",
    "slot_leaks",
    "pools",
    "pools_without_row",
    "tag_limits",
    "stalled_queue",
    "quirks",
    "configuration",
)

START_DAEMON = (
    "Run `dagster-daemon run` with DAGSTER_HOME={home} (the same dagster.yaml and storage as "
    "the webserver). Dagster's own UI keeps calling a daemon Running for "
    f"{DAGSTER_UI_TOLERANCE_SECONDS / 60:.0f} min after its last heartbeat, so trust this check."
)
FIXES = {
    "max_concurrent_runs": (
        "Raise run_queue.max_concurrent_runs (or concurrency.runs.max_concurrent_runs) in "
        "dagster.yaml and restart the daemon; -1 means no limit."
    ),
    "in_progress": (
        "Terminate the stuck runs in Dagster's UI. Enable run_monitoring with start and cancel "
        "timeouts so STARTING and CANCELING runs resolve by themselves, and "
        "run_monitoring.max_runtime_seconds to bound a run (Dagster issue 4937)."
    ),
    "slot_leaks": (
        "Free the slots (Dagster UI: Deployment → Concurrency → the pool → free slots for run; "
        "here, when DAGSTER_WRITES_ENABLED is on, the button below or `manage.py dagster "
        "free-slots RUN_ID`). To prevent it, set run_monitoring.enabled: true and "
        "run_monitoring.free_slots_after_run_end_seconds (Dagster issue 28456, PR 33643)."
    ),
    "pools": (
        "Give the pool a limit above 0: `dagster instance concurrency set KEY N` (or here, when "
        "writes are enabled); with concurrency.pools.default_limit 0, raise or remove it."
    ),
    "tag_limits": (
        "Check the tag key's spelling against the runs' tags in dagster.yaml; run tag limits "
        "never see op tags such as dagster/concurrency_key: use a pool (Dagster issue 23508)."
    ),
    "stalled_queue": (
        "The daemon is not iterating or its iterations fail: see the run-queue daemon check and "
        "the errors of its heartbeat (Dagster UI: Deployment → Daemons)."
    ),
}


def facts(state: DagsterState, next_tick: TickDecision | None = None) -> DoctorFacts:
    """The engine doctor's facts, read from a Dagster deployment."""
    settings = state.settings
    monitoring = state.monitoring
    config = InstanceConfig(
        queue=settings,
        dequeue_interval_seconds=state.dequeue_interval_seconds,
        default_pool_limit=settings.default_pool_limit,
        monitoring=MonitoringConfig(
            enabled=monitoring.enabled,
            start_timeout_seconds=monitoring.start_timeout_seconds,
            cancel_timeout_seconds=monitoring.cancel_timeout_seconds,
            poll_interval_seconds=monitoring.poll_interval_seconds,
            free_slots_after_run_end_seconds=monitoring.free_slots_after_run_end_seconds,
        ),
        extra=ExtraConfig(
            started_run_allotment_seconds=int(settings.started_run_allotment_seconds)
        ),
    )
    daemons = []
    for name, daemon_type, label in (
        ("run_queue", QUEUE_DAEMON, "run-queue daemon"),
        ("run_monitoring", MONITORING_DAEMON, "run-monitoring daemon"),
    ):
        beat = state.heartbeats.get(daemon_type)
        daemons.append(
            DaemonFact(
                daemon=name,
                label=label,
                interval_seconds=HEARTBEAT_INTERVAL_SECONDS,
                last_heartbeat=beat.timestamp if beat else None,
                instance_id=beat.daemon_id if beat else "",
                errors=beat.errors if beat else (),
            )
        )
    active = [
        ActiveRun(
            run_id=run.run_id,
            job_name=run.job_name,
            status=run.status,
            # Dagster records when the status last changed; a STARTED run has no worker
            # heartbeat to judge by, so only STARTING and CANCELING can look stuck.
            launched_at=run.updated_at if run.status == RunStatus.STARTING else run.started_at,
            canceling_at=run.updated_at if run.status == RunStatus.CANCELING else None,
            tags=run.tags,
        )
        for run in state.in_progress
    ]
    claims = []
    for pool in state.pools.values():
        held = set(pool.claimed)
        for entry in pool.pending:
            run = state.run(entry.run_id)
            claims.append(
                SlotClaim(
                    pool_key=pool.key,
                    run_id=entry.run_id,
                    step_key=entry.step_key,
                    claimed=(entry.run_id, entry.step_key) in held,
                    # A run Dagster no longer knows (deleted) holds its slots like a finished one.
                    run_status=run.status if run else RunStatus.CANCELED,
                    ended_at=run.ended_at if run else None,
                )
            )
    limits = pool_states(state.pools, settings.default_pool_limit)
    pools = {
        key: PoolFact(
            key=key,
            limit=limits[key].limit,
            follows_default=pool.from_default,
            held=len(pool.claimed),
            waiting=len(pool.waiting),
        )
        for key, pool in state.pools.items()
        if key in limits
    }
    queued = [
        QueuedRun(
            run_id=run.run_id,
            job_name=run.job_name,
            priority=run.priority,
            tags=run.tags,
            pools=run.pool_summary.all_pools if run.pool_summary else frozenset(),
            enqueued_at=run.created_at or state.now,
        )
        for run in state.queued
    ]
    return DoctorFacts(
        now=state.now,
        config=config,
        instance_id="",
        daemons=daemons,
        active=active,
        claims=claims,
        pools=pools,
        queued=queued,
        last_launch_at=state.last_launch_at,
        next_tick=next_tick if next_tick is not None else decision(state),
    )


def diagnose(state: DagsterState) -> list[Finding]:
    """One finding per name in `CHECKS`, in that order."""
    tick = decision(state)
    doctor_facts = facts(state, tick)
    found = []
    for name in CHECKS:
        finding = _CHECKS[name](state, doctor_facts, tick)
        if finding.status != "ok" and name in FIXES:
            finding = replace(finding, fix=FIXES[name])
        found.append(finding)
    return found


def _reused(check: Callable[[DoctorFacts], Finding]):
    return lambda state, doctor_facts, tick: check(doctor_facts)


def check_run_coordinator(state: DagsterState, _facts: DoctorFacts, _tick) -> Finding:
    deployment = state.deployment
    evidence = (f"run coordinator: {deployment.coordinator}",)
    if deployment.coordinator_error:
        return Finding(
            "run_coordinator",
            "problem",
            "Dagster cannot build its run coordinator from this dagster.yaml",
            (*evidence, deployment.coordinator_error),
            "Fix the setting the error names; until then the daemon cannot dequeue anything.",
        )
    if not deployment.queued_coordinator:
        return Finding(
            "run_coordinator",
            "warning",
            "This deployment has no run queue",
            (*evidence, "runs launch at submission and never wait in QUEUED"),
            "Tag limits and max_concurrent_runs need the QueuedRunCoordinator (Dagster's default).",
        )
    return Finding("run_coordinator", "ok", "Runs go through Dagster's run queue", evidence)


def _daemon_check(name: str, daemon_type: str, check: Callable[[DoctorFacts], Finding]):
    def run(state: DagsterState, doctor_facts: DoctorFacts, _tick) -> Finding:
        if daemon_type not in state.required_daemons:
            return Finding(
                name, "ok", f"Dagster does not require the {daemon_type} daemon here", ()
            )
        finding = check(doctor_facts)
        beat = state.heartbeats.get(daemon_type)
        evidence = finding.evidence
        if beat is not None:
            evidence = (*evidence, f"daemon id {beat.daemon_id or '?'} (Dagster's heartbeat table)")
        if finding.status != "ok":
            finding = replace(finding, fix=START_DAEMON.format(home=state.deployment.home))
        return replace(finding, evidence=evidence)

    return run


def check_pools_without_row(state: DagsterState, _facts: DoctorFacts, _tick) -> Finding:
    default = state.settings.default_pool_limit
    lines = []
    for key in sorted(
        {k for run in state.queued if run.pool_summary for k in run.pool_summary.all_pools}
    ):
        pool = state.pools.get(key)
        if pool is not None and pool.has_row:
            continue
        users = sum(
            1 for run in state.queued if run.pool_summary and key in run.pool_summary.all_pools
        )
        if default is None:
            lines.append(
                f"pool {key} has no limit and there is no default_limit: it is unlimited "
                f"({users} queued run(s) use it)"
            )
        elif default == 0:
            lines.append(
                f"pool {key} has no limit row and default_limit is 0: the daemon never writes a "
                f"default of 0, so the queue lets its {users} run(s) start and their steps then "
                "wait for a slot forever"
            )
        else:
            lines.append(
                f"pool {key} has no limit row yet: the daemon's next iteration treats it as "
                f"unlimited, then writes default_limit {default} (Dagster issues 25109, 31936); "
                f"{users} queued run(s) use it"
            )
    if not lines:
        return Finding("pools_without_row", "ok", "Every pool queued runs use has a limit row")
    status: Status = "warning" if default != 0 else "problem"
    return Finding(
        "pools_without_row",
        status,
        f"{len(lines)} pool(s) used by queued runs have no limit row",
        cut(lines),
        "Set an explicit limit for each (`dagster instance concurrency set KEY N`) so the queue "
        "holds their runs from the first iteration.",
    )


def check_quirks(state: DagsterState, _facts: DoctorFacts, tick: TickDecision) -> Finding:
    lines = []
    for run_id in tick.order:
        verdict = tick.verdicts[run_id]
        for text in verdict.notes:
            lines.append(f"run {run_id[:8]}: {text}")
    if not lines:
        return Finding("quirks", "ok", "No Dagster quirk decides a queued run's fate now")
    return Finding(
        "quirks",
        "warning",
        f"Dagster quirks decide {len({line[:12] for line in lines})} queued run(s)",
        cut(lines),
        "Each line names the quirk and the Dagster issue; the notes say what a fixed version "
        "would do. Explicit pool limits avoid Q3; a separate tag for pool-bound runs avoids Q2.",
    )


def check_configuration(state: DagsterState, _facts: DoctorFacts, _tick) -> Finding:
    settings = state.settings
    monitoring = state.monitoring
    warnings = []
    if settings.max_concurrent_runs < -1:
        warnings.append(
            f"max_concurrent_runs is {settings.max_concurrent_runs}: Dagster accepts it in "
            "concurrency.runs and launches nothing (quirk Q1); use -1 for no limit"
        )
    if settings.granularity == "run" and not settings.block_op_concurrency_limited_runs:
        warnings.append(
            "granularity run with block_op_concurrency_limited_runs disabled: pools are "
            "enforced nowhere (quirk Q6)"
        )
    if not monitoring.enabled:
        warnings.append(
            "run_monitoring is disabled: STARTING/CANCELING runs never time out and slots of "
            "crashed runs are never freed"
        )
    elif not monitoring.free_slots_after_run_end_seconds:
        warnings.append(
            "run_monitoring.free_slots_after_run_end_seconds is not set: slots of killed or "
            "cancelled runs are held forever (Dagster issue 28456)"
        )
    if settings.default_pool_limit == 0:
        warnings.append(
            "concurrency.pools.default_limit is 0: every pool without a limit is closed"
        )
    for limit in settings.tag_limits:
        if limit.key == CONCURRENCY_KEY_TAG:
            warnings.append(
                f"a run tag limit on {CONCURRENCY_KEY_TAG} has no effect: it is an op tag "
                "(Dagster issue 23508)"
            )
    if not warnings:
        return Finding("configuration", "ok", "dagster.yaml has nothing this doctor warns about")
    return Finding(
        "configuration",
        "warning",
        f"dagster.yaml has {len(warnings)} setting(s) worth a look",
        tuple(warnings),
        "Change them in the deployment's dagster.yaml and restart the daemon and webserver.",
    )


_CHECKS = {
    "run_coordinator": check_run_coordinator,
    "run_queue_daemon": _daemon_check("run_queue_daemon", QUEUE_DAEMON, check_run_queue_daemon),
    "monitoring_daemon": _daemon_check(
        "monitoring_daemon", MONITORING_DAEMON, check_monitoring_daemon
    ),
    "max_concurrent_runs": _reused(check_max_concurrent_runs),
    "in_progress": _reused(check_in_progress),
    "slot_leaks": _reused(check_slot_leaks),
    "pools": _reused(check_pools),
    "pools_without_row": check_pools_without_row,
    "tag_limits": _reused(check_tag_limits),
    "stalled_queue": _reused(check_stalled_queue),
    "quirks": check_quirks,
    "configuration": check_configuration,
}


def worst(findings: Sequence[Finding]) -> str:
    return worst_of(findings)
