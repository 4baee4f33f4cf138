"""The queue doctor: why runs do not move, as checks with evidence and a fix.

Pure: the service gathers `DoctorFacts` (heartbeats, workers, runs, claims, pools, the next
tick's decision, ...) and `diagnose` turns them into one `Finding` per check, in a fixed
order, whatever their outcome, so a page or a script can show every check and its state.
The checks follow the reference troubleshooting guide (daemon running, same storage,
max_concurrent_runs, a queue full of in-progress runs) and the incidents of SEMANTICS 7
(slot leaks, closed pools, tag limits that match nothing, starvation, a stalled queue).
"""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .config.model import InstanceConfig
from .simulate import blocking_counts
from .submission import queue_full_message
from .supervision import SupervisorFact, describe_exit
from .types import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    IN_PROGRESS_STATUSES,
    ConfigError,
    RunStatus,
    TagLimit,
    TickDecision,
    Wait,
)

Status = Literal["ok", "warning", "problem"]

CHECKS = (
    "run_queue_daemon",
    "monitoring_daemon",
    "workers",
    "processes",
    "same_database",
    "max_concurrent_runs",
    "queue_cap",
    "in_progress",
    "slot_leaks",
    "pools",
    "tag_limits",
    "starved_runs",
    "stalled_queue",
    "configuration",
)

# A heartbeat older than this many tick intervals is late, even within the tolerance.
LATE_INTERVALS = 3
# A run still STARTING (no worker picked it up) or CANCELING this long looks stuck.
STUCK_SECONDS = 60.0
# A queued run waiting this many times the median wait of its priority is starved...
STARVED_FACTOR = 5
# ...if it has also waited at least this long, and the median rests on enough launches.
STARVED_MIN_SECONDS = 60.0
STARVED_MIN_SAMPLES = 3
# A stalled queue: nothing launched for this many tick intervals.
STALLED_INTERVALS = 3
# Evidence lists are cut after this many lines.
EVIDENCE_LINES = 20

QUEUES = {
    "control": "the run-queue and monitoring ticks that beat schedules are never executed",
    "runs": "launched runs stay STARTING: nothing executes them",
}


@dataclass(frozen=True)
class DaemonFact:
    daemon: str  # "run_queue" | "run_monitoring"
    label: str
    interval_seconds: float
    last_heartbeat: float | None = None
    instance_id: str = ""
    host: str = ""
    pid: int | None = None
    errors: tuple[str, ...] = ()  # recent error messages, oldest first


@dataclass(frozen=True)
class WorkerFacts:
    """Which Celery workers consume which queues; `error` says why the broker did not answer."""

    queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # worker -> queues
    error: str = ""

    def consumers(self, queue: str) -> list[str]:
        return sorted(w for w, queues in self.queues.items() if queue in queues)


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    job_name: str
    status: RunStatus
    launched_at: float | None = None
    started_at: float | None = None
    heartbeat_at: float | None = None
    canceling_at: float | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlotClaim:
    """A pool entry (slot held when `claimed`, else waiting) and the state of its run."""

    pool_key: str
    run_id: str
    step_key: str
    claimed: bool
    run_status: RunStatus
    ended_at: float | None = None
    heartbeat_at: float | None = None


@dataclass(frozen=True)
class PoolFact:
    key: str
    limit: int
    follows_default: bool = False
    held: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class QueuedRun:
    run_id: str
    job_name: str
    priority: int
    tags: Mapping[str, str]
    pools: frozenset[str]
    enqueued_at: float
    wait_rule: str = ""  # the rule that held it at the last tick ("tag:database=redshift")
    wait_reason: str = ""
    waiting_since: float | None = None  # start of its current wait on that rule


@dataclass(frozen=True)
class DoctorFacts:
    now: float
    config: InstanceConfig
    instance_id: str  # this process's database fingerprint
    daemons: Sequence[DaemonFact] = ()
    workers: WorkerFacts = field(default_factory=WorkerFacts)
    active: Sequence[ActiveRun] = ()
    claims: Sequence[SlotClaim] = ()
    pools: Mapping[str, PoolFact] = field(default_factory=dict)
    queued: Sequence[QueuedRun] = ()
    # Recent waits (launch - enqueue, seconds) of launched runs, by priority.
    launch_waits: Mapping[int, Sequence[float]] = field(default_factory=dict)
    last_launch_at: float | None = None
    next_tick: TickDecision | None = None
    config_warnings: Sequence[ConfigError] = ()
    # The state `manage.py dev`'s supervisor last wrote on this machine, if any.
    supervisor: SupervisorFact | None = None
    # Tag keys jobs set on their runs, and tag keys that only appear on ops (steps).
    job_tag_keys: frozenset[str] = frozenset()
    op_tag_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Action:
    """Something the page offers as one click; `kind` "release_slots" frees a run's slots."""

    kind: str
    run_id: str
    label: str


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    title: str
    evidence: tuple[str, ...] = ()
    fix: str = ""
    actions: tuple[Action, ...] = ()


def diagnose(facts: DoctorFacts) -> list[Finding]:
    """One finding per name in `CHECKS`, in that order."""
    return [_CHECKS[name](facts) for name in CHECKS]


def worst(findings: Sequence[Finding]) -> Status:
    statuses = {f.status for f in findings}
    if "problem" in statuses:
        return "problem"
    return "warning" if "warning" in statuses else "ok"


# --- helpers --------------------------------------------------------------------------


def ago(seconds: float) -> str:
    """`45 s`, `12 min`, `3.5 h`, `2.0 d`."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _cut(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= EVIDENCE_LINES:
        return tuple(lines)
    return (*lines[:EVIDENCE_LINES], f"… and {len(lines) - EVIDENCE_LINES} more")


def _short(run_id: str) -> str:
    return run_id[:8]


def _heartbeat_timeout(config: InstanceConfig) -> float:
    # 0 means "never declare a worker dead" for monitoring; a doctor still wants a bound.
    return float(config.extra.run_heartbeat_timeout_seconds or STUCK_SECONDS)


def _stuck(run: ActiveRun, config: InstanceConfig, now: float) -> str:
    """Why an in-progress run looks stuck, or ""."""
    if run.status == RunStatus.STARTING and run.launched_at is not None:
        waited = now - run.launched_at
        if waited > STUCK_SECONDS:
            return f"STARTING for {ago(waited)}: no worker has picked it up"
    if run.status == RunStatus.STARTED:
        reference = run.heartbeat_at or run.started_at
        if reference is not None and now - reference > _heartbeat_timeout(config):
            return f"STARTED, but its worker's last heartbeat was {ago(now - reference)} ago"
    if run.status == RunStatus.CANCELING and run.canceling_at is not None:
        waited = now - run.canceling_at
        if waited > STUCK_SECONDS:
            return f"CANCELING for {ago(waited)}"
    return ""


def _daemon(facts: DoctorFacts, name: str) -> DaemonFact | None:
    return next((d for d in facts.daemons if d.daemon == name), None)


def _allowed_age(facts: DoctorFacts, daemon: DaemonFact) -> float:
    """The health rule of the Daemons page (SEMANTICS 5.4, with our short tolerance)."""
    return daemon.interval_seconds + facts.config.extra.daemon_heartbeat_tolerance_seconds


# --- checks ---------------------------------------------------------------------------


def _check_daemon(facts: DoctorFacts, name: str, check: str) -> Finding:
    daemon = _daemon(facts, name)
    label = {"run_queue": "run-queue daemon", "run_monitoring": "run-monitoring daemon"}[name]
    start = (
        "Start Celery beat and a worker consuming the control queue "
        "(`manage.py dev` starts both; in production run `celery -A concurrency_ui beat` and "
        "`celery -A concurrency_ui worker -Q control`)."
    )
    if daemon is None or daemon.last_heartbeat is None:
        evidence = [f"no heartbeat of the {label} in this database"]
        control = facts.workers.consumers("control")
        # Workers listen, yet no daemon ever wrote here: they likely use another database.
        if control and not any(d.last_heartbeat is not None for d in facts.daemons):
            evidence.append(
                f"worker(s) {', '.join(control)} consume the control queue, yet no tick reached "
                "this database: check that beat and the workers use this server's DATABASE_URL"
            )
        return Finding(check, "problem", f"The {label} has never run", tuple(evidence), start)
    age = facts.now - daemon.last_heartbeat
    allowed = _allowed_age(facts, daemon)
    where = f" on {daemon.host} (pid {daemon.pid})" if daemon.host else ""
    seen = f"last heartbeat {ago(age)} ago{where}; expected every {daemon.interval_seconds:g} s"
    evidence = [seen]
    evidence += [f"recent error: {e}" for e in daemon.errors[-3:]]
    if age > allowed:
        evidence.append(
            f"healthy means a heartbeat within {allowed:g} s (interval + "
            "concurrency_ui.daemon_heartbeat_tolerance_seconds)"
        )
        return Finding(
            check,
            "problem",
            f"The {label} is not running",
            tuple(evidence),
            start + " If they run, look at the beat and worker logs for a hung tick.",
        )
    if age > LATE_INTERVALS * daemon.interval_seconds:
        return Finding(
            check,
            "warning",
            f"The {label} is late",
            tuple(evidence),
            "A tick may be slow or hung: check the control worker's log and the tick duration.",
        )
    if daemon.errors:
        return Finding(
            check,
            "warning",
            f"The {label} runs but its last ticks failed",
            tuple(evidence),
            "Read the errors on the Daemons page; a failing tick launches nothing.",
        )
    return Finding(check, "ok", f"The {label} is running", tuple(evidence))


def check_run_queue_daemon(facts: DoctorFacts) -> Finding:
    return _check_daemon(facts, "run_queue", "run_queue_daemon")


def check_monitoring_daemon(facts: DoctorFacts) -> Finding:
    if not facts.config.monitoring.enabled:
        return Finding(
            "monitoring_daemon",
            "ok",
            "Run monitoring is disabled, so its daemon is not required",
            ("run_monitoring.enabled is false",),
        )
    return _check_daemon(facts, "run_monitoring", "monitoring_daemon")


def check_workers(facts: DoctorFacts) -> Finding:
    workers = facts.workers
    if workers.error:
        return Finding(
            "workers",
            "problem",
            "The Celery broker did not answer",
            (workers.error,),
            "Check CELERY_BROKER_URL and that the broker (Redis) is running; without it "
            "nothing is ticked or executed.",
        )
    evidence = [
        f"worker {name} consumes {', '.join(sorted(queues)) or 'no queue'}"
        for name, queues in sorted(workers.queues.items())
    ] or ["no Celery worker answered"]
    missing = [queue for queue in QUEUES if not workers.consumers(queue)]
    if missing:
        evidence += [f"no worker consumes the {queue} queue: {QUEUES[queue]}" for queue in missing]
        return Finding(
            "workers",
            "problem",
            f"No worker consumes the {' and '.join(missing)} queue{'s' if len(missing) > 1 else ''}",
            tuple(evidence),
            "Start a worker for each queue: `celery -A concurrency_ui worker -Q "
            + ",".join(missing)
            + "` (`manage.py dev` starts both).",
        )
    return Finding("workers", "ok", "Workers consume the control and runs queues", tuple(evidence))


def check_processes(facts: DoctorFacts) -> Finding:
    """Children of `manage.py dev` that died and were restarted (or are about to be)."""
    supervisor = facts.supervisor
    if supervisor is None or not supervisor.alive(facts.now):
        evidence = ["no manage.py dev supervisor is running here"]
        if supervisor is not None:
            evidence.append(f"the last one stopped {ago(facts.now - supervisor.updated_at)} ago")
        return Finding(
            "processes",
            "ok",
            "Processes are not supervised by manage.py dev",
            tuple(evidence),
        )
    evidence = []
    down = []
    restarted = []
    for p in supervisor.processes:
        if p.running:
            line = f"{p.name}: running (pid {p.pid})"
            if p.started_at is not None:
                line += f" for {ago(facts.now - p.started_at)}"
        else:
            down.append(p.name)
            line = f"{p.name}: down"
            if p.next_restart_at is not None:
                line += f", restarting in {ago(p.next_restart_at - facts.now)}"
        if p.restarts or p.last_exit_code is not None:
            restarted.append(p.name)
            line += f"; restarted {p.restarts} time(s)"
            if p.last_exit_at is not None:
                line += (
                    f", last exit {ago(facts.now - p.last_exit_at)} ago "
                    f"({describe_exit(p.last_exit_code)})"
                )
        evidence.append(line)
    fix = (
        "Read the output printed above the restart line in the `manage.py dev` terminal "
        "(the whole traceback is there, with the process's prefix)."
    )
    if down:
        return Finding(
            "processes",
            "problem",
            f"{', '.join(down)} exited and {'is' if len(down) == 1 else 'are'} being restarted",
            tuple(evidence),
            fix,
        )
    if restarted:
        return Finding(
            "processes",
            "warning",
            f"{', '.join(restarted)} exited unexpectedly and {'was' if len(restarted) == 1 else 'were'} restarted",
            tuple(evidence),
            fix,
        )
    return Finding("processes", "ok", "Every process of manage.py dev is running", tuple(evidence))


def check_same_database(facts: DoctorFacts) -> Finding:
    evidence = [f"this server's database fingerprint is {facts.instance_id}"]
    status: Status = "ok"
    for daemon in facts.daemons:
        if not daemon.instance_id or daemon.last_heartbeat is None:
            continue
        if daemon.instance_id == facts.instance_id:
            evidence.append(f"{daemon.label}: same fingerprint")
            continue
        where = f" by {daemon.host} (pid {daemon.pid})" if daemon.host else ""
        fresh = facts.now - daemon.last_heartbeat <= _allowed_age(facts, daemon)
        evidence.append(
            f"{daemon.label}: last heartbeat{where} {ago(facts.now - daemon.last_heartbeat)} ago "
            f"was written with fingerprint {daemon.instance_id}"
        )
        if fresh:
            # It writes here, so it is this database under another address (alias, proxy).
            status = "problem" if status == "problem" else "warning"
        else:
            status = "problem"
    if status == "ok":
        return Finding(
            "same_database", "ok", "The daemons and this server share the database", tuple(evidence)
        )
    if status == "warning":
        return Finding(
            "same_database",
            "warning",
            "A daemon reaches this database under a different address",
            tuple(evidence),
            "Give the web server, the workers and beat the same DATABASE_URL.",
        )
    return Finding(
        "same_database",
        "problem",
        "The web server and the daemon use different databases",
        tuple(evidence),
        "The daemon's heartbeats stopped here and it was configured for another database: "
        "give the web server, the workers and beat the same DATABASE_URL, then restart them.",
    )


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
    stuck = [(r, _stuck(r, config, facts.now)) for r in active]
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
        line = f"run {_short(run.run_id)} ({run.job_name}) {run.status}"
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
            _cut(evidence),
            fix_stuck,
        )
    if full:
        return Finding(
            "in_progress",
            "warning",
            "The queue is full of in-progress runs",
            _cut(evidence),
            "Queued runs start as these finish. To run more at once, raise max_concurrent_runs; "
            "to bound a run's duration, set run_monitoring.max_runtime_seconds.",
        )
    if stuck:
        return Finding(
            "in_progress",
            "warning",
            f"{len(stuck)} in-progress run(s) look stuck",
            _cut(evidence),
            fix_stuck,
        )
    return Finding("in_progress", "ok", "The queue has room", _cut(evidence))


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
            line = f"run {_short(run_id)} is {status}{ended} but holds {len(held)} slot(s): {what}"
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
                        f"Release the {len(claims)} entr{'y' if len(claims) == 1 else 'ies'} of run {_short(run_id)}",
                    )
                )
        elif status == RunStatus.STARTED and held:
            reference = first.heartbeat_at
            if reference is not None and facts.now - reference > _heartbeat_timeout(config):
                vanished.append(
                    f"run {_short(run_id)} is STARTED but its worker's last heartbeat was "
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
            _cut(leaks + vanished + pending),
            release_fix,
            tuple(actions),
        )
    if vanished:
        return Finding(
            "slot_leaks",
            "warning",
            "Slots are held by runs whose worker stopped",
            _cut(vanished + pending),
            "Run monitoring fails such runs after run_heartbeat_timeout_seconds and frees their "
            "slots; if it is disabled, terminate them, then terminate again with force.",
        )
    if pending:
        return Finding(
            "slot_leaks",
            "warning",
            "Finished runs hold slots that monitoring will free shortly",
            _cut(pending),
            "Nothing to do unless this persists; then check the run-monitoring daemon.",
        )
    return Finding(
        "slot_leaks",
        "ok",
        "No slot is held by a finished run",
        (f"{len(facts.claims)} pool entries",),
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
        why = "gets default_limit 0" if pool.follows_default else "has limit 0"
        line = (
            f"pool {key} {why}: {demand.get(key, 0)} queued run(s) use it, "
            f"{pool.waiting} step(s) wait for a slot"
        )
        (closed if demand.get(key) or pool.waiting else idle).append(line)
    if default == 0:
        for key in sorted(k for k in demand if k not in facts.pools):
            closed.append(
                f"pool {key} has no limit of its own; default_limit 0 applies at the next tick: "
                f"{demand[key]} queued run(s) use it"
            )
    fix = (
        "Give the pool a limit above 0 on the Concurrency page (or `manage.py pools set KEY N`); "
        "if default_limit is 0, raise it or remove it (no default = pools without a limit are "
        "unlimited)."
    )
    if closed:
        return Finding(
            "pools",
            "problem",
            f"{len(closed)} pool(s) with limit 0 hold work back",
            _cut(closed + idle),
            fix,
        )
    if idle:
        return Finding(
            "pools",
            "warning",
            "Pools with limit 0 would block any step using them",
            _cut(idle),
            fix,
        )
    return Finding(
        "pools", "ok", "No pool is closed", (f"{len(facts.pools)} pool(s) with a limit",)
    )


def _matches(limit: TagLimit, tags: Mapping[str, str]) -> bool:
    if limit.key not in tags:
        return False
    return limit.value is None or limit.per_unique_value or tags[limit.key] == limit.value


def _describe_limit(limit: TagLimit) -> str:
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
    for limit in limits:
        queued = sum(1 for run in facts.queued if _matches(limit, run.tags))
        active = sum(1 for run in facts.active if _matches(limit, run.tags))
        name = _describe_limit(limit)
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
            _cut(blocking + dead),
            "Raise the limit above 0 or remove it on the Concurrency page; 0 means no run "
            "carrying the tag may ever start.",
        )
    if dead:
        return Finding(
            "tag_limits",
            "warning",
            "Some tag limits can never match a queued run",
            _cut(dead),
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
            f"run {_short(run.run_id)} ({run.job_name}, priority {run.priority}) has waited "
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
        _cut([line for _, line in starved]),
        "Each line names the rule holding the run: raise that limit, free its holders, or raise "
        "the run's priority (its page has the full explanation and wait history).",
    )


def queue_motion(
    *,
    queued: int,
    oldest_wait: float | None,
    last_launch_age: float | None,
    window: float,
    max_concurrent_runs: int,
    active: int,
) -> str:
    """Whether a queue that launched nothing for `window` seconds is stalled, as one word.

    "empty" (nothing queued), "frozen" (max_concurrent_runs is 0), "young" (no run has
    waited `window` yet), "moving" (a launch within `window`), "full" (max_concurrent_runs
    reached: runs wait for in-progress ones), else "stalled": capacity is free and old
    runs wait, yet nothing launched. The doctor's check and the overview's banner both
    ask this; they differ only in how they then explain a stall.
    """
    if queued == 0:
        return "empty"
    if max_concurrent_runs == 0:
        return "frozen"
    if oldest_wait is None or oldest_wait < window:
        return "young"
    if last_launch_age is not None and last_launch_age < window:
        return "moving"
    if max_concurrent_runs > 0 and active >= max_concurrent_runs:
        return "full"
    return "stalled"


_MOTION_TITLES = {
    "empty": "Nothing waits in the queue",
    "frozen": "max_concurrent_runs is 0: the queue launches nothing (see the configuration check)",
    "young": "No run has waited three tick intervals yet",
    "moving": "The queue is moving",
    "full": "No capacity: runs wait for in-progress runs (see the in-progress check)",
}


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
        return Finding("stalled_queue", "ok", _MOTION_TITLES[motion], tuple(evidence))
    decision = facts.next_tick
    if decision is not None and decision.launch:
        evidence.append(
            f"the next tick would launch {len(decision.launch)} run(s): "
            + ", ".join(_short(r) for r in decision.launch[:5])
        )
        return Finding(
            "stalled_queue",
            "problem",
            "Runs could launch, but nothing launched for three tick intervals",
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
        _cut(evidence),
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


_CHECKS: Mapping[str, Callable[[DoctorFacts], Finding]] = {
    "run_queue_daemon": check_run_queue_daemon,
    "monitoring_daemon": check_monitoring_daemon,
    "workers": check_workers,
    "processes": check_processes,
    "same_database": check_same_database,
    "max_concurrent_runs": check_max_concurrent_runs,
    "queue_cap": check_queue_cap,
    "in_progress": check_in_progress,
    "slot_leaks": check_slot_leaks,
    "pools": check_pools,
    "tag_limits": check_tag_limits,
    "starved_runs": check_starved_runs,
    "stalled_queue": check_stalled_queue,
    "configuration": check_configuration,
}
