"""What the doctor is given (gathered by `services.doctor`, or from Dagster by
`dagster_source.doctor`), what it answers, and the thresholds and wording its checks share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..config.model import InstanceConfig
from ..supervision import SupervisorFact
from ..types import (
    ConfigError,
    RunStatus,
    TickDecision,
)

if TYPE_CHECKING:
    from ..stuck import StepWait

Status = Literal["ok", "warning", "problem"]

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
    daemon: str  # "run_queue" | "run_monitoring" | "schedules" | "sensors"
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
    # Steps running and steps waiting inside the run (`engine.stuck`); a Dagster deployment
    # leaves them empty.
    running_steps: int = 0
    waiting_steps: tuple[StepWait, ...] = ()


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
class AutomationFact:
    """A running schedule or sensor and its last ticks, newest first: (outcome, message)."""

    kind: str  # "schedule" | "sensor"
    name: str
    recent: tuple[tuple[str, str], ...] = ()


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
    # Running schedules and sensors (issue 16); their daemons are required only then.
    automations: Sequence[AutomationFact] = ()
    # Runs monitoring canceled for their queue age recently (staleness.REPEATED_WINDOW_SECONDS), by job.
    queue_timeouts: Mapping[str, int] = field(default_factory=dict)
    # (job, step, pool -> slots) of the code locations' steps that claim pool slots.
    step_demands: Sequence[tuple[str, str, Mapping[str, int]]] = ()


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


def cut(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= EVIDENCE_LINES:
        return tuple(lines)
    return (*lines[:EVIDENCE_LINES], f"… and {len(lines) - EVIDENCE_LINES} more")


def short_id(run_id: str) -> str:
    return run_id[:8]


def heartbeat_timeout(config: InstanceConfig) -> float:
    # 0 means "never declare a worker dead" for monitoring; a doctor still wants a bound.
    return float(config.extra.run_heartbeat_timeout_seconds or STUCK_SECONDS)


def stuck_reason(run: ActiveRun, config: InstanceConfig, now: float) -> str:
    """Why an in-progress run looks stuck, or ""."""
    if run.status == RunStatus.STARTING and run.launched_at is not None:
        waited = now - run.launched_at
        if waited > STUCK_SECONDS:
            return f"STARTING for {ago(waited)}: no worker has picked it up"
    if run.status == RunStatus.STARTED:
        reference = run.heartbeat_at or run.started_at
        if reference is not None and now - reference > heartbeat_timeout(config):
            return f"STARTED, but its worker's last heartbeat was {ago(now - reference)} ago"
    if run.status == RunStatus.CANCELING and run.canceling_at is not None:
        waited = now - run.canceling_at
        if waited > STUCK_SECONDS:
            return f"CANCELING for {ago(waited)}"
    return ""


def daemon_fact(facts: DoctorFacts, name: str) -> DaemonFact | None:
    return next((d for d in facts.daemons if d.daemon == name), None)


def allowed_age(facts: DoctorFacts, daemon: DaemonFact) -> float:
    """The health rule of the Daemons page (SEMANTICS 5.4, with our short tolerance)."""
    return daemon.interval_seconds + facts.config.extra.daemon_heartbeat_tolerance_seconds
