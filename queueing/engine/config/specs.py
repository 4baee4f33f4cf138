"""What each setting accepts (its kind, range, null) and which YAML key of which block
feeds it: the table every reader, edit and form follows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from queueing.engine.types import INT32_MAX

from ..pools import MAX_POOL_LIMIT
from .model import MAX_RETENTION_DAYS, ExtraConfig, MonitoringConfig

MAX_RUNS_MESSAGE = "{v} is invalid: use -1 for no limit or a number >= 0"
BUFFER_MESSAGE = (
    "{v} is invalid: a buffer must be >= 0 (a negative buffer silently shrinks pool capacity; "
    "lower the pool limit instead)"
)
POOL_LIMIT_MESSAGE = "{v} is out of range: a default pool limit must be between 0 and " + str(
    MAX_POOL_LIMIT
)


@dataclass(frozen=True)
class Spec:
    kind: Literal["int", "bool", "granularity", "tags", "queued_bounds", "fair_share"]
    minimum: int | None = None
    maximum: int = INT32_MAX
    # Used instead of the generic messages when the value is outside minimum..maximum.
    range_message: str | None = None
    # Whether YAML null is accepted, and what it stands for.
    nullable: bool = False
    null_value: Any = None
    # Run-monitoring timeouts: <= 0 means "disabled" and is stored as 0 without complaint (Q9).
    off_at_or_below_zero: bool = False


SPECS: dict[str, Spec] = {
    "max_concurrent_runs": Spec("int", minimum=-1, range_message=MAX_RUNS_MESSAGE),
    "tag_limits": Spec("tags", nullable=True, null_value=()),
    "granularity": Spec("granularity"),
    "slot_buffer": Spec("int", minimum=0, range_message=BUFFER_MESSAGE),
    "default_pool_limit": Spec(
        "int", minimum=0, maximum=MAX_POOL_LIMIT, range_message=POOL_LIMIT_MESSAGE, nullable=True
    ),
    "dequeue_interval_seconds": Spec("int", minimum=1),
    "dequeue_use_threads": Spec("bool"),
    "dequeue_num_workers": Spec("int", minimum=1, nullable=True),
    "max_user_code_failure_retries": Spec("int", minimum=0),
    "user_code_failure_retry_delay": Spec("int", minimum=0),
    "block_op_concurrency_limited_runs": Spec("bool"),
    "monitoring.enabled": Spec("bool"),
    "monitoring.start_timeout_seconds": Spec("int", off_at_or_below_zero=True),
    "monitoring.cancel_timeout_seconds": Spec("int", off_at_or_below_zero=True),
    "monitoring.max_runtime_seconds": Spec("int", off_at_or_below_zero=True),
    "monitoring.max_resume_run_attempts": Spec("int", minimum=0),
    "monitoring.poll_interval_seconds": Spec("int", minimum=1),
    "monitoring.cancellation_thread_poll_interval_seconds": Spec("int", minimum=1),
    "monitoring.free_slots_after_run_end_seconds": Spec(
        "int", off_at_or_below_zero=True, nullable=True, null_value=0
    ),
    **{f"extra.{f.name}": Spec("int", minimum=0) for f in fields(ExtraConfig)},
    "extra.wait_history_retention_days": Spec("int", minimum=0, maximum=MAX_RETENTION_DAYS),
    "extra.run_retention_days": Spec("int", minimum=0, maximum=MAX_RETENTION_DAYS),
    "extra.schedule_catch_up_limit": Spec("int", minimum=1, maximum=1000),
    "extra.sensor_timeout_seconds": Spec("int", minimum=1, maximum=3600),
    "extra.max_queued_runs": Spec(
        "int", minimum=-1, range_message="{v} is invalid: use -1 for no cap or a number >= 0"
    ),
    "extra.max_queued_seconds_by_tag": Spec("queued_bounds", nullable=True, null_value=()),
    "extra.fair_share": Spec("fair_share", nullable=True, null_value=None),
}

# Stable order for forms and the "where does each value come from" table.
SETTING_NAMES: tuple[str, ...] = tuple(SPECS)


@dataclass(frozen=True)
class IntRange:
    """The integers a setting accepts; each was checked to work in every daemon
    (tests/services/test_setting_ranges.py loads random ones and runs a tick of each)."""

    minimum: int | None  # None: any value <= 0 is accepted and means "off"
    maximum: int
    nullable: bool


def int_setting_range(name: str) -> IntRange | None:
    """The range of an integer setting, or None for other kinds (booleans, lists, ...)."""
    spec = SPECS[name]
    if spec.kind != "int":
        return None
    minimum = None if spec.off_at_or_below_zero else spec.minimum
    return IntRange(minimum, spec.maximum, spec.nullable)


# YAML key -> (setting, accepts {env: VAR}) for run_queue and run_coordinator.config (1.1).
LEGACY_KEYS: dict[str, tuple[str, bool]] = {
    "max_concurrent_runs": ("max_concurrent_runs", True),
    "tag_concurrency_limits": ("tag_limits", False),
    "dequeue_interval_seconds": ("dequeue_interval_seconds", True),
    "dequeue_use_threads": ("dequeue_use_threads", False),
    "dequeue_num_workers": ("dequeue_num_workers", True),
    "max_user_code_failure_retries": ("max_user_code_failure_retries", True),
    "user_code_failure_retry_delay": ("user_code_failure_retry_delay", True),
}
BLOCKING = "block_op_concurrency_limited_runs"
BLOCKING_KEYS = {
    "enabled": "block_op_concurrency_limited_runs",
    "op_concurrency_slot_buffer": "slot_buffer",
}
RUNS_KEYS = {"max_concurrent_runs": "max_concurrent_runs", "tag_concurrency_limits": "tag_limits"}
POOLS_KEYS = {
    "default_limit": "default_pool_limit",
    "granularity": "granularity",
    "op_granularity_run_buffer": "slot_buffer",
}
MONITORING_KEYS = {f.name: f"monitoring.{f.name}" for f in fields(MonitoringConfig)}
EXTRA_KEYS = {f.name: f"extra.{f.name}" for f in fields(ExtraConfig)}
COORDINATOR_KEYS = ("module", "class", "config")
TAG_ITEM_KEYS = ("key", "limit", "value")
QUEUED_BOUND_KEYS = ("key", "value", "seconds")
FAIR_SHARE_KEYS = ("key", "weights")
PER_UNIQUE = "applyLimitPerUniqueValue"
# concurrency-ui's own tag-limit kind (TagLimit.distinct_values); Dagster 1.13 refuses it.
MAX_UNIQUE = "maxUniqueValues"

# A run coordinator without a queue (DefaultRunCoordinator): what the run-queue settings are.
NO_QUEUE_VALUES: Mapping[str, Any] = {
    "max_concurrent_runs": -1,
    "tag_limits": (),
    "block_op_concurrency_limited_runs": False,
    "slot_buffer": 0,
}
# Settings only a queue reads: they cannot be edited while there is none.
QUEUE_ONLY = frozenset({*NO_QUEUE_VALUES, *(name for name, _ in LEGACY_KEYS.values())})
# Settings that may be unset (None) but that Dagster refuses as YAML null: leave them out.
FILE_NULL_HINTS = {
    "default_pool_limit": "leave it out for no default limit",
    "dequeue_num_workers": "leave it out for the default",
    "monitoring.free_slots_after_run_end_seconds": "leave it out, or write 0 to never free slots",
}

# The run-queue settings the `concurrency` block replaces (SEMANTICS 1.5 item 2).
CONFLICT_GROUP = ("max_concurrent_runs", "tag_limits", "slot_buffer")
MODERN_PATHS = {
    "max_concurrent_runs": "concurrency.runs.max_concurrent_runs",
    "tag_limits": "concurrency.runs.tag_concurrency_limits",
    "slot_buffer": "concurrency.pools.op_granularity_run_buffer",
}
LEGACY_SUFFIX = {
    "max_concurrent_runs": "max_concurrent_runs",
    "tag_limits": "tag_concurrency_limits",
    "slot_buffer": f"{BLOCKING}.op_concurrency_slot_buffer",
}
