"""Changes to the attached Dagster deployment: off unless DAGSTER_WRITES_ENABLED, audited.

Each goes through Dagster's own API (the calls `dagster instance concurrency set`, the
Concurrency page and the run coordinator make), then appends one entry to concurrency-ui's
audit log naming the deployment. Dagster's storage is not ours, so the two cannot share a
transaction: the entry is written once Dagster has confirmed the change, and a change
Dagster refuses leaves no entry. Views and commands check the admin role before calling.
"""

from __future__ import annotations

from typing import Any

from ..engine.pools import free_run_refusal, validate_pool_limit
from ..engine.types import RunStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..services import audit
from . import check_available, instance, writes_enabled

DISABLED = (
    "changes to the Dagster deployment are disabled: set DAGSTER_WRITES_ENABLED=true to allow "
    "admins to make them (each is recorded in the audit log)"
)


def _require_enabled() -> Any:
    if not writes_enabled():
        raise Conflict(DISABLED)
    return instance()


def _target(what: str) -> str:
    return f"dagster {check_available()}: {what}"


def _pool_key(key: str) -> str:
    key = (key or "").strip()
    if not key:
        raise InvalidInput.one("key", "a pool key is required")
    if len(key) > 255:
        raise InvalidInput.one("key", "a pool key has at most 255 characters")
    return key


def _current_limit(dagster: Any, key: str) -> int | None:
    for row in dagster.event_log_storage.get_pool_limits():
        if row.name == key:
            return int(row.limit)
    return None


def set_pool_limit(key: str, limit: Any, actor: str) -> int | None:
    """Set pool `key` to `limit` slots (0..1000); returns the old limit (None: no row)."""
    dagster = _require_enabled()
    key = _pool_key(key)
    try:
        validate_pool_limit(limit)
    except ValueError as exc:
        raise InvalidInput.one("limit", str(exc)) from None
    old = _current_limit(dagster, key)
    dagster.event_log_storage.set_concurrency_slots(key, limit)
    audit.record(actor, "dagster.pool.set", _target(f"pool {key}"), old, limit)
    return old


def delete_pool_limit(key: str, actor: str) -> int:
    """Remove pool `key`'s limit row (it becomes unlimited, or takes the default again)."""
    dagster = _require_enabled()
    key = _pool_key(key)
    old = _current_limit(dagster, key)
    if old is None:
        raise NotFound(f"pool {key} has no limit in the Dagster deployment")
    dagster.event_log_storage.delete_concurrency_limit(key)
    audit.record(actor, "dagster.pool.delete", _target(f"pool {key}"), old, None)
    return old


def _run(dagster: Any, run_id: str) -> Any:
    run = dagster.get_run_by_id(run_id) if run_id else None
    if run is None:
        raise NotFound(f"run {run_id} is not in the Dagster deployment")
    return run


def free_run_slots(run_id: str, actor: str) -> int:
    """Free every slot and pool entry of a run that is not in progress; returns how many
    entries it had. Refused (Conflict) while the run is in progress: its steps may run."""
    dagster = _require_enabled()
    run = _run(dagster, run_id)
    refusal = free_run_refusal(run_id, RunStatus(run.status.value))
    if refusal:
        raise Conflict(refusal)
    storage = dagster.event_log_storage
    entries = []
    for key in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(key)
        entries += [f"{key}:{p.step_key}" for p in info.pending_steps if p.run_id == run_id]
    storage.free_concurrency_slots_for_run(run_id)
    audit.record(actor, "dagster.slots.free", _target(f"run {run_id}"), entries, [])
    return len(entries)


def terminate_queued(run_id: str, actor: str) -> None:
    """Cancel a QUEUED run the way Dagster's UI does (the run coordinator's cancel_run)."""
    dagster = _require_enabled()
    run = _run(dagster, run_id)
    if run.status.value != "QUEUED":
        raise Conflict(
            f"run {run_id} is {run.status.value}: only queued runs are terminated from here"
        )
    if not dagster.run_coordinator.cancel_run(run_id):
        raise Conflict(f"Dagster did not cancel run {run_id}")
    audit.record(actor, "dagster.run.terminate", _target(f"run {run_id}"), "QUEUED", "CANCELED")
