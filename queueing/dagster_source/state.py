"""A Dagster deployment as read, in concurrency-ui's own terms (no Dagster import here).

`reader.read_state` fills these from a `DagsterInstance`; everything else (pages, commands,
the doctor, the simulator, the tests) works on them, so only the reader needs the extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..engine.types import (
    ACTIVE_STATUSES,
    PoolState,
    PoolSummary,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
)

# Dagster writes a daemon heartbeat at most this often (DEFAULT_HEARTBEAT_INTERVAL_SECONDS).
HEARTBEAT_INTERVAL_SECONDS = 30.0
# Dagster's own UI calls a daemon "Running" until this long past the expected heartbeat.
DAGSTER_UI_TOLERANCE_SECONDS = 1800.0
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
MONITORING_DAEMON = "MONITORING"


def dagster_priority(tags: Mapping[str, str]) -> int:
    """`dagster/priority` as Dagster's daemon reads it: Python's int(), 0 when that fails."""
    try:
        return int(tags.get("dagster/priority", "0"))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class DagsterRun:
    run_id: str
    job_name: str
    status: RunStatus
    tags: Mapping[str, str]
    storage_id: int  # the daemon reads the queue in this order
    created_at: float | None = None
    updated_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    pool_summary: PoolSummary | None = None
    location: str = ""

    @property
    def priority(self) -> int:
        return dagster_priority(self.tags)

    def info(self) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            status=self.status,
            tags=self.tags,
            created_seq=self.storage_id,
            priority=self.priority,
            pool_summary=self.pool_summary,
            started_at=self.started_at,
        )


@dataclass(frozen=True)
class PendingStep:
    """A row of Dagster's pending-steps table: a step waiting for a slot, or holding one."""

    run_id: str
    step_key: str
    assigned: bool
    priority: int | None = None
    enqueued_at: float | None = None


@dataclass(frozen=True)
class DagsterPool:
    key: str
    has_row: bool  # a limit row exists (the daemon's concurrency keys)
    limit: int | None  # the row's limit (None without a row)
    from_default: bool
    slot_count: int  # live slot rows: what the daemon compares with
    claimed: tuple[tuple[str, str], ...] = ()  # (run id, step key) holding a slot
    pending: tuple[PendingStep, ...] = ()  # every entry, holders included

    @property
    def waiting(self) -> tuple[PendingStep, ...]:
        held = set(self.claimed)
        return tuple(p for p in self.pending if (p.run_id, p.step_key) not in held)


@dataclass(frozen=True)
class DagsterHeartbeat:
    daemon_type: str
    timestamp: float
    daemon_id: str = ""
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitoringSettings:
    enabled: bool = False
    poll_interval_seconds: int = 120
    start_timeout_seconds: int = 180
    cancel_timeout_seconds: int = 180
    free_slots_after_run_end_seconds: int = 0  # 0: never (Dagster's default)


@dataclass(frozen=True)
class Deployment:
    """Which deployment: shown on every page that reads it."""

    home: str
    storage: str  # "SQLite in /path" or "PostgreSQL db on host:port" (never a password)
    dagster_version: str
    coordinator: str
    queued_coordinator: bool
    # Why the run coordinator could not be built (Dagster checks some settings lazily).
    coordinator_error: str = ""


@dataclass(frozen=True)
class DagsterState:
    deployment: Deployment
    settings: QueueSettings  # semantics "dagster_1_13"
    dequeue_interval_seconds: int
    monitoring: MonitoringSettings
    queued: Sequence[DagsterRun]
    in_progress: Sequence[DagsterRun]  # STARTING, STARTED, CANCELING, SUSPENDED
    # Runs holding pool entries that are not in progress (finished, queued, ...).
    other_slot_runs: Sequence[DagsterRun]
    pools: Mapping[str, DagsterPool]
    heartbeats: Mapping[str, DagsterHeartbeat]
    required_daemons: tuple[str, ...]
    now: float
    last_launch_at: float | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def active(self) -> list[DagsterRun]:
        return [r for r in self.in_progress if r.status in ACTIVE_STATUSES]

    def run(self, run_id: str) -> DagsterRun | None:
        for runs in (self.queued, self.in_progress, self.other_slot_runs):
            for run in runs:
                if run.run_id == run_id:
                    return run
        return None

    def run_ids_starting_with(self, prefix: str, count: int) -> list[str]:
        """The first `count` ids, in id order, of this state's runs that start with `prefix`."""
        ids = {
            run.run_id
            for runs in (self.queued, self.in_progress, self.other_slot_runs)
            for run in runs
            if run.run_id.startswith(prefix)
        }
        return sorted(ids)[:count]

    def snapshot(self, settings: QueueSettings | None = None) -> QueueSnapshot:
        """What the daemon's next iteration evaluates (engine/dagster_1_13.py)."""
        settings = settings or self.settings
        return QueueSnapshot(
            settings=settings,
            queued=[run.info() for run in self.queued],
            active=[run.info() for run in self.active],
            pools=pool_states(self.pools, settings.default_pool_limit),
            now=self.now,
        )

    def with_pool_limits(self, limits: Mapping[str, int | None]) -> DagsterState:
        """This state after `dagster instance concurrency set/delete` (for the simulator)."""
        pools = dict(self.pools)
        for key, limit in limits.items():
            old = pools.get(key)
            claimed = old.claimed if old else ()
            pending = old.pending if old else ()
            if limit is None:
                pools[key] = DagsterPool(key, False, None, False, 0, claimed, pending)
            else:
                pools[key] = DagsterPool(key, True, limit, False, limit, claimed, pending)
        return replace(self, pools=pools)


def pool_states(pools: Mapping[str, DagsterPool], default: int | None) -> dict[str, PoolState]:
    """The pools as the daemon's pool check sees them this iteration.

    Only pools with a limit row count (Q3: the daemon reads the set before it writes
    defaults). A row that follows an old default is rewritten before its slots are read, so
    it counts with the current default (or 0 slots once the default was removed).
    """
    states = {}
    for key, pool in pools.items():
        if not pool.has_row:
            continue
        slots = pool.slot_count
        if pool.from_default and pool.limit != default:
            slots = default if default is not None else 0
        states[key] = PoolState(
            key=key,
            limit=slots,
            pending=len(pool.pending),
            holders=tuple(run_id for run_id, _ in pool.claimed),
        )
    return states
