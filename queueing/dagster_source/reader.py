"""Read a Dagster deployment through Dagster's own Python API (needs the `dagster` extra).

Only public-facing instance and storage methods are called (`get_run_records`,
`get_concurrency_config`, `event_log_storage.get_pool_limits` / `get_concurrency_keys` /
`get_concurrency_infos` / `get_concurrency_run_ids`, `get_daemon_heartbeats`, ...), never
Dagster's tables. None of them writes, except Dagster's own one-time reconciliation of a
pre-1.6 slot table into its limit table, which any Dagster process reading pools performs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import dagster
import yaml
from dagster import DagsterInstance
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import (
    IN_PROGRESS_RUN_STATUSES,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
)
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import PAGE_SIZE

from ..engine.types import DAGSTER_1_13, PoolSummary, QueueSettings, RunStatus, TagLimit
from .state import (
    DagsterHeartbeat,
    DagsterPool,
    DagsterRun,
    DagsterState,
    Deployment,
    MonitoringSettings,
    PendingStep,
)


def open_instance(home: str) -> DagsterInstance:
    """The deployment's instance, from the `dagster.yaml` in `home` (DAGSTER_HOME)."""
    return DagsterInstance.from_config(home)


def tag_limits(raw: Iterable[Mapping[str, Any]] | None) -> tuple[TagLimit, ...]:
    """Dagster's tag_concurrency_limits items, read the way its TagConcurrencyLimitsCounter
    reads them (a string value: key=value; a falsy value or applyLimitPerUniqueValue false:
    the key; else per unique value)."""
    limits = []
    for item in raw or ():
        value = item.get("value")
        if isinstance(value, str):
            limits.append(TagLimit(item["key"], int(item["limit"]), value=value))
        elif not value or not value.get("applyLimitPerUniqueValue"):
            limits.append(TagLimit(item["key"], int(item["limit"])))
        else:
            limits.append(TagLimit(item["key"], int(item["limit"]), per_unique_value=True))
    return tuple(limits)


def _timestamp(value: datetime | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _run(record: RunRecord) -> DagsterRun:
    run = record.dagster_run
    concurrency = run.run_op_concurrency
    summary = None
    if concurrency is not None:
        summary = PoolSummary(
            root_pool_counts=dict(concurrency.root_key_counts),
            all_pools=frozenset(concurrency.all_pools or ()),
            has_unconstrained_root=bool(concurrency.has_unconstrained_root_nodes),
        )
    origin = run.remote_job_origin
    return DagsterRun(
        run_id=run.run_id,
        job_name=run.job_name,
        status=RunStatus(run.status.value),
        tags=dict(run.tags),
        storage_id=record.storage_id,
        created_at=_timestamp(record.create_timestamp),
        updated_at=_timestamp(record.update_timestamp),
        started_at=_timestamp(record.start_time),
        ended_at=_timestamp(record.end_time),
        pool_summary=summary,
        location=origin.location_name if origin is not None else "",
    )


def describe_storage(instance: DagsterInstance, home: str) -> str:
    """Where the deployment's runs live, without credentials."""
    data = instance.get_ref().storage_data or instance.get_ref().run_storage_data
    if data is None:
        return f"unknown storage in {home}"
    config = yaml.safe_load(data.config_yaml) or {}
    name = data.class_name
    if "Postgres" in name:
        url = config.get("postgres_url")
        if url:
            parts = urlsplit(str(url))
            where = f"{parts.hostname or ''}:{parts.port or 5432}"
            database = parts.path.lstrip("/")
        else:
            db = config.get("postgres_db") or {}
            where = f"{_plain(db.get('hostname'))}:{_plain(db.get('port')) or 5432}"
            database = _plain(db.get("db_name"))
        return f"PostgreSQL database {database} on {where}"
    if "Sqlite" in name:
        return f"SQLite in {config.get('base_dir') or home}"
    return name


def _plain(value: Any) -> str:
    # {env: VAR} values are shown as the variable's name, never its value.
    if isinstance(value, Mapping) and "env" in value:
        return f"${value['env']}"
    return "" if value is None else str(value)


def _queue_settings(instance: DagsterInstance) -> tuple[QueueSettings, int, str]:
    """(settings, dequeue interval, why the coordinator could not be built)."""
    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config
    pools = concurrency.pool_config
    allotment = float(
        os.getenv("DAGSTER_OP_CONCURRENCY_KEYS_ALLOTTED_FOR_STARTED_RUN_SECONDS", "5")
    )
    common: dict[str, Any] = dict(
        semantics=DAGSTER_1_13,
        default_pool_limit=pools.default_pool_limit,
        run_queue_page_size=PAGE_SIZE,
        started_run_allotment_seconds=allotment,
        granularity=pools.pool_granularity.value if pools.pool_granularity else "op",
    )
    if queue is None:
        return QueueSettings(**common), 5, ""
    coordinator = instance.run_coordinator
    interval = getattr(coordinator, "dequeue_interval_seconds", 5)
    settings = QueueSettings(
        max_concurrent_runs=queue.max_concurrent_runs,
        tag_limits=tag_limits(queue.tag_concurrency_limits),
        block_op_concurrency_limited_runs=queue.should_block_op_concurrency_limited_runs,
        slot_buffer=queue.op_concurrency_slot_buffer,
        **common,
    )
    return settings, interval, ""


def _monitoring(instance: DagsterInstance) -> MonitoringSettings:
    raw = instance.run_monitoring_settings or {}
    return MonitoringSettings(
        enabled=bool(instance.run_monitoring_enabled),
        poll_interval_seconds=int(raw.get("poll_interval_seconds", 120)),
        start_timeout_seconds=int(raw.get("start_timeout_seconds", 180)),
        cancel_timeout_seconds=int(raw.get("cancel_timeout_seconds", 180)),
        free_slots_after_run_end_seconds=int(raw.get("free_slots_after_run_end_seconds") or 0),
    )


def _pools(instance: DagsterInstance, demanded: set[str]) -> dict[str, DagsterPool]:
    storage = instance.event_log_storage
    rows = {limit.name: limit for limit in storage.get_pool_limits()}
    keys = set(storage.get_concurrency_keys())
    infos = storage.get_concurrency_infos(sorted(keys | set(rows) | demanded))
    pools = {}
    for key, info in infos.items():
        row = rows.get(key)
        pools[key] = DagsterPool(
            key=key,
            has_row=key in keys,
            limit=row.limit if row is not None else None,
            from_default=bool(row.from_default) if row is not None else False,
            slot_count=info.slot_count,
            claimed=tuple((s.run_id, s.step_key) for s in info.claimed_slots),
            pending=tuple(
                PendingStep(
                    run_id=p.run_id,
                    step_key=p.step_key,
                    assigned=p.assigned_timestamp is not None,
                    priority=p.priority,
                    enqueued_at=_timestamp(p.enqueued_timestamp),
                )
                for p in info.pending_steps
            ),
        )
    return pools


def _heartbeats(instance: DagsterInstance) -> dict[str, DagsterHeartbeat]:
    beats = {}
    for daemon_type, beat in instance.get_daemon_heartbeats().items():
        errors = tuple((e.message or "").strip().splitlines()[0] for e in beat.errors or () if e)
        beats[daemon_type] = DagsterHeartbeat(
            daemon_type=daemon_type,
            timestamp=float(beat.timestamp),
            daemon_id=beat.daemon_id or "",
            errors=errors,
        )
    return beats


def _required_daemons(instance: DagsterInstance, coordinator_error: str) -> tuple[str, ...]:
    if coordinator_error:
        # Dagster asks the coordinator which daemons it needs; the queue one is meant.
        return ("QUEUED_RUN_COORDINATOR",)
    return tuple(instance.get_required_daemon_types())


def read_state(instance: DagsterInstance, home: str, now: float) -> DagsterState:
    """Everything the pages, the commands and the doctor show, read once."""
    errors: list[str] = []
    coordinator_error = ""
    try:
        settings, interval, _ = _queue_settings(instance)
    except Exception as exc:  # Dagster validates some settings only when building the coordinator
        coordinator_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        settings, interval = QueueSettings(semantics=DAGSTER_1_13), 5
    try:
        coordinator = instance.run_coordinator
        coordinator_name = type(coordinator).__name__
        queued_coordinator = isinstance(coordinator, QueuedRunCoordinator)
    except Exception:
        coordinator_name, queued_coordinator = "(could not be built)", False
    queued = [
        _run(r)
        for r in instance.get_run_records(
            RunsFilter(statuses=[DagsterRunStatus.QUEUED]), ascending=True
        )
    ]
    in_progress = [
        _run(r) for r in instance.get_run_records(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
    ]
    demanded = {key for run in queued if run.pool_summary for key in run.pool_summary.all_pools}
    pools = _pools(instance, demanded)
    known = {r.run_id for r in queued} | {r.run_id for r in in_progress}
    slot_run_ids = set(instance.event_log_storage.get_concurrency_run_ids())
    for pool in pools.values():
        slot_run_ids |= {run_id for run_id, _ in pool.claimed}
    missing = sorted(slot_run_ids - known)
    other = (
        [_run(r) for r in instance.get_run_records(RunsFilter(run_ids=missing))] if missing else []
    )
    recent = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]), limit=20
    )
    launches = [r.start_time for r in recent if r.start_time] + [
        (run.started_at or run.updated_at or 0.0) for run in in_progress
    ]
    deployment = Deployment(
        home=home,
        storage=describe_storage(instance, home),
        dagster_version=dagster.__version__,
        coordinator=coordinator_name,
        queued_coordinator=queued_coordinator,
        coordinator_error=coordinator_error,
    )
    return DagsterState(
        deployment=deployment,
        settings=settings,
        dequeue_interval_seconds=interval,
        monitoring=_monitoring(instance),
        queued=queued,
        in_progress=in_progress,
        other_slot_runs=other,
        pools=pools,
        heartbeats=_heartbeats(instance),
        required_daemons=_required_daemons(instance, coordinator_error),
        now=now,
        last_launch_at=max(launches) if launches else None,
        errors=tuple(errors),
    )
