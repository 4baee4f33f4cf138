"""Real Dagster instances built from a scenario, and one iteration of Dagster's own daemon.

A `Scenario` is a deployment: its `dagster.yaml` (run queue, tag limits of the three kinds,
pools, granularity, buffer, blocking), pool limit rows (explicit or written from the
default), queued runs (tags, priorities, pool demands), runs in progress, slots held by
in-progress or finished runs and steps waiting for slots. `build` writes it into a real
instance (SQLite in a folder, or PostgreSQL) through Dagster's API; `daemon_launches` runs
`QueuedRunCoordinatorDaemon.run_iteration` on it with the recording launcher.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterEvent, DagsterEventType, DagsterInstance
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunOpConcurrency
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from . import launcher

POOLS = ("p1", "p2", "p3")
RECENT_START = 1.0  # seconds ago: inside the daemon's 5 s allotment
OLD_START = 300.0  # well past it


@dataclass(frozen=True)
class RunSpec:
    tags: dict[str, str] = field(default_factory=dict)
    roots: dict[str, int] = field(default_factory=dict)
    other_pools: tuple[str, ...] = ()
    unconstrained_root: bool = False
    # "QUEUED", "STARTING", "STARTED_RECENT", "STARTED_OLD", "CANCELING", "SUCCESS", "CANCELED"
    status: str = "QUEUED"

    def op_concurrency(self) -> RunOpConcurrency | None:
        pools = set(self.roots) | set(self.other_pools)
        if not pools:
            return None
        return RunOpConcurrency(
            root_key_counts=dict(self.roots),
            has_unconstrained_root_nodes=self.unconstrained_root or not self.roots,
            all_pools=pools,
        )


@dataclass(frozen=True)
class Scenario:
    # "legacy": everything under run_queue (+ concurrency.default_op_concurrency_limit);
    # "concurrency": concurrency.runs / concurrency.pools (+ run_queue blocking switch)
    style: str = "legacy"
    max_concurrent_runs: int = 10
    tag_limits: tuple[dict[str, Any], ...] = ()
    blocking: bool | None = None  # None: key absent (on)
    buffer: int = 0
    granularity: str | None = None
    default_limit: int | None = None
    pool_limits: dict[str, int] = field(default_factory=dict)
    default_rows: tuple[str, ...] = ()  # pools whose row the default wrote before
    # Pools whose row an earlier default (`stale_default`, then changed or removed in
    # dagster.yaml) wrote: the daemon rewrites them before it reads their slots.
    stale_default: int | None = None
    stale_rows: tuple[str, ...] = ()
    queued: tuple[RunSpec, ...] = ()
    others: tuple[RunSpec, ...] = ()  # in progress or finished
    # (pool, index into others, step key): slots claimed by those runs
    held: tuple[tuple[str, int, str], ...] = ()
    page_size: int = 100

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        blocking: dict[str, Any] = {}
        if self.blocking is not None:
            blocking["enabled"] = self.blocking
        if self.style == "legacy":
            queue: dict[str, Any] = {
                "max_concurrent_runs": self.max_concurrent_runs,
                "tag_concurrency_limits": list(self.tag_limits),
            }
            if self.buffer:
                blocking["op_concurrency_slot_buffer"] = self.buffer
            if blocking:
                queue["block_op_concurrency_limited_runs"] = blocking
            doc["run_queue"] = queue
            if self.default_limit is not None:
                doc["concurrency"] = {"default_op_concurrency_limit": self.default_limit}
        else:
            pools: dict[str, Any] = {"op_granularity_run_buffer": self.buffer}
            if self.granularity:
                pools["granularity"] = self.granularity
            if self.default_limit is not None:
                pools["default_limit"] = self.default_limit
            doc["concurrency"] = {
                "runs": {
                    "max_concurrent_runs": self.max_concurrent_runs,
                    "tag_concurrency_limits": list(self.tag_limits),
                },
                "pools": pools,
            }
            if blocking:
                doc["run_queue"] = {"block_op_concurrency_limited_runs": blocking}
        return doc


def storage_block(folder: str, postgres_url: str | None) -> dict[str, Any]:
    if postgres_url:
        return {"postgres": {"postgres_url": postgres_url}}
    return {"sqlite": {"base_dir": folder}}


def write_yaml(folder: str, document: dict[str, Any], postgres_url: str | None = None) -> None:
    doc = {
        **document,
        "storage": storage_block(folder, postgres_url),
        "run_launcher": {"module": "tests.dagster.launcher", "class": "RecordingRunLauncher"},
        "telemetry": {"enabled": False},
    }
    Path(folder, "dagster.yaml").write_text(yaml.safe_dump(doc))


def fresh_instance(
    folder: str, document: dict[str, Any], postgres_url: str | None = None
) -> DagsterInstance:
    """An instance with `document` as its dagster.yaml and empty storage."""
    write_yaml(folder, document, postgres_url)
    instance = DagsterInstance.from_config(folder)
    instance.run_storage.wipe()
    instance.event_log_storage.wipe()
    instance.run_storage.wipe_daemon_heartbeats()
    # SQLite's event log wipe leaves the pool tables (in its index shard): empty them too.
    storage = instance.event_log_storage
    for run_id in storage.get_concurrency_run_ids():
        storage.free_concurrency_slots_for_run(run_id)
    for key in storage.get_concurrency_keys():
        storage.delete_concurrency_limit(key)
    assert not storage.get_concurrency_keys() and not storage.get_concurrency_run_ids()
    return instance


def scenario_instance(
    folder: str, scenario: Scenario, postgres_url: str | None = None
) -> DagsterInstance:
    """`fresh_instance` for the scenario, after its stale default rows were written under
    the old default (a dagster.yaml edited since)."""
    if not scenario.stale_rows:
        return fresh_instance(folder, scenario.document(), postgres_url)
    old = fresh_instance(
        folder,
        {"concurrency": {"default_op_concurrency_limit": scenario.stale_default}},
        postgres_url,
    )
    for key in scenario.stale_rows:
        old.event_log_storage.initialize_concurrency_limit_to_default(key)
    old.dispose()
    write_yaml(folder, scenario.document(), postgres_url)
    return DagsterInstance.from_config(folder)


_ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("scenario"), "scenario_repository"),
    "scenario_job",
)


def add_run(instance: DagsterInstance, spec: RunSpec, now: float) -> str:
    """Store one run in the state `spec.status` says, through Dagster's API."""
    run_id = str(uuid.uuid4())
    initial = {
        "QUEUED": DagsterRunStatus.QUEUED,
        "STARTING": DagsterRunStatus.STARTING,
        "CANCELING": DagsterRunStatus.CANCELING,
    }.get(spec.status, DagsterRunStatus.STARTING)
    instance.add_run(
        DagsterRun(
            job_name="scenario_job",
            run_id=run_id,
            status=initial,
            tags=spec.tags,
            remote_job_origin=_ORIGIN,
            run_op_concurrency=spec.op_concurrency(),
        )
    )
    if spec.status.startswith("STARTED"):
        ago = RECENT_START if spec.status == "STARTED_RECENT" else OLD_START
        report(instance, run_id, DagsterEventType.RUN_START, now - ago)
    elif spec.status in ("SUCCESS", "CANCELED"):
        report(instance, run_id, DagsterEventType.RUN_START, now - 2 * OLD_START)
        kind = (
            DagsterEventType.RUN_SUCCESS
            if spec.status == "SUCCESS"
            else DagsterEventType.RUN_CANCELED
        )
        report(instance, run_id, kind, now - OLD_START)
    return run_id


def report(instance: DagsterInstance, run_id: str, kind: DagsterEventType, at: float) -> None:
    instance.report_dagster_event(
        DagsterEvent(event_type_value=kind.value, job_name="scenario_job"),
        run_id=run_id,
        timestamp=at,
    )


def build(
    instance: DagsterInstance, scenario: Scenario, now: float | None = None
) -> dict[str, list[str]]:
    """Write the scenario's pools and runs; return the run ids by role."""
    now = now or time.time()
    storage = instance.event_log_storage
    for key in scenario.default_rows:
        storage.initialize_concurrency_limit_to_default(key)
    for key, limit in scenario.pool_limits.items():
        storage.set_concurrency_slots(key, limit)
    others = [add_run(instance, spec, now) for spec in scenario.others]
    for pool, index, step in scenario.held:
        storage.claim_concurrency_slot(pool, others[index], step)
    queued = [add_run(instance, spec, now) for spec in scenario.queued]
    return {"queued": queued, "others": others}


class ProcessContext:
    """What the daemon's iteration asks of a workspace process context (the recording
    launcher never loads code, so no workspace is needed)."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance

    def create_request_context(self) -> None:
        return None


def daemon_launches(instance: DagsterInstance, page_size: int = 100) -> list[str]:
    """Run ids one iteration of Dagster's queue daemon launches, in launch order."""
    launcher.LAUNCHED.clear()
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5, page_size=page_size)
    for _ in daemon.run_iteration(ProcessContext(instance)):
        pass
    return list(launcher.LAUNCHED)
