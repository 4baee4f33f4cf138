"""The configuration's data model: the effective values, where they were read from, and the
mapping between the dataclasses and the flat settings (`SETTING_NAMES`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from queueing.engine.staleness import QueuedBound, StaleRules
from queueing.engine.types import ConfigError, FairShare, QueueSettings

QUEUED_COORDINATOR = "QueuedRunCoordinator"
# Wait history older than this is pruned; 100 years is as far back as dates are sure to go.
MAX_RETENTION_DAYS = 36_500
DEFAULT_COORDINATOR = "DefaultRunCoordinator"
Coordinator = Literal["queued", "default"]
# Dagster 1.13's run coordinators and the modules it finds each in (its loader reads a module
# `dagster.x…` as `dagster._x…`): `DefaultRunCoordinator` is an alias of
# `SyncInMemoryRunCoordinator`, which launches every run at once.
COORDINATORS: dict[str, tuple[Coordinator, tuple[str, ...]]] = {
    QUEUED_COORDINATOR: (
        "queued",
        (
            "dagster",
            "dagster._core.run_coordinator",
            "dagster._core.run_coordinator.queued_run_coordinator",
        ),
    ),
    DEFAULT_COORDINATOR: (
        "default",
        ("dagster._core.run_coordinator", "dagster._core.run_coordinator.default_run_coordinator"),
    ),
    "SyncInMemoryRunCoordinator": (
        "default",
        (
            "dagster._core.run_coordinator.default_run_coordinator",
            "dagster._core.run_coordinator.sync_in_memory_run_coordinator",
        ),
    ),
}
NULL_REFUSED = "null is refused (Dagster refuses it too)"

KNOWN_SECTIONS = ("run_queue", "run_coordinator", "concurrency", "run_monitoring", "concurrency_ui")
# Section order for a configuration built in code: the current block first.
EXPORT_ORDER = ("concurrency", "run_queue", "run_coordinator", "run_monitoring", "concurrency_ui")
# Sections Dagster itself reads: never suggested as typos of ours.
DAGSTER_SECTIONS = frozenset(
    {
        "auto_materialize",
        "backfills",
        "code_servers",
        "compute_logs",
        "event_log_storage",
        "instance_class",
        "local_artifact_storage",
        "nux",
        "python_logs",
        "retention",
        "run_launcher",
        "run_retries",
        "run_storage",
        "schedule_storage",
        "scheduler",
        "schedules",
        "secrets",
        "sensors",
        "storage",
        "telemetry",
    }
)

LegacyBlock = Literal["run_queue", "run_coordinator"]


@dataclass(frozen=True)
class MonitoringConfig:
    """`run_monitoring:` (SEMANTICS 1.4, 5.2, 3.7). Timeouts and delays: 0 means disabled."""

    # On by default, unlike the reference: releasing slots of finished runs depends on it.
    enabled: bool = True
    start_timeout_seconds: int = 180
    cancel_timeout_seconds: int = 180
    max_runtime_seconds: int = 0
    max_resume_run_attempts: int = 0
    # Shorter than the reference's 120 s so that slots of finished runs are freed promptly.
    poll_interval_seconds: int = 15
    cancellation_thread_poll_interval_seconds: int = 10
    # The reference default (never) leaks slots of crashed or cancelled runs (#28456).
    free_slots_after_run_end_seconds: int = 60


@dataclass(frozen=True)
class ExtraConfig:
    """concurrency-ui's own knobs, from an optional top-level `concurrency_ui:` section.

    Dagster 1.13 refuses a file with this section (it refuses every section it does not know):
    export writes it only when a value differs from the default.
    All values are integers >= 0, except `max_queued_runs` (-1: no cap) and
    `max_queued_seconds_by_tag` (a list of `{key, value?, seconds}`) and `fair_share`
    (`{key, weights?}` or None).
    """

    # A daemon is healthy while now <= last heartbeat + 30 s + this (reference: 1800).
    daemon_heartbeat_tolerance_seconds: int = 60
    # A STARTED run whose worker has not sent a heartbeat for this long is considered dead; 0 = never.
    run_heartbeat_timeout_seconds: int = 60
    # Mirrored in QueueSettings.started_run_allotment_seconds (SEMANTICS 2.7, reference: 5).
    started_run_allotment_seconds: int = 5
    # How long the history of "why did this run wait" is kept; 0 = forever.
    wait_history_retention_days: int = 30
    # A run still STARTING after this long gets its launch request sent again; 0 = never.
    resend_starting_after_seconds: int = 30
    # Submits are refused once this many runs are queued; -1 = no cap.
    max_queued_runs: int = -1
    # Finished runs (with their steps, events and wait history) are deleted this many days
    # after they ended, in batches by run monitoring; 0 = kept forever (the default).
    run_retention_days: int = 0
    # A schedules tick after a gap (the daemon was down) launches at most this many of the
    # missed scheduled times of each schedule, the latest ones (issue 16).
    schedule_catch_up_limit: int = 5
    # A sensor's evaluation is killed (the tick fails) after this many seconds.
    sensor_timeout_seconds: int = 60
    # Run monitoring cancels a run queued longer than this; 0 = no bound (engine/staleness.py).
    max_queued_seconds: int = 0
    # Bounds for runs carrying a tag key (or key=value); the shortest applicable bound wins.
    max_queued_seconds_by_tag: tuple[QueuedBound, ...] = ()
    # Interleave runs of different values of a tag within a priority (engine/fair_share.py);
    # None: off, Dagster's order. Mirrored in QueueSettings.fair_share.
    fair_share: FairShare | None = None

    @property
    def stale_rules(self) -> StaleRules:
        return StaleRules(self.max_queued_seconds, tuple(self.max_queued_seconds_by_tag))


@dataclass(frozen=True)
class ConfigLayout:
    """Where the effective values were read from, so that export writes the same shape back.

    `sources` maps a setting name (see `SETTING_NAMES`) to the dotted YAML path its value came
    from; settings absent from it had their default. `env_vars` names the environment variable
    a value was read through.
    """

    legacy_block: LegacyBlock | None = None
    coordinator_module: str | None = None
    coordinator_class: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    # With a coordinator that has no queue: the run-queue values the file set (they have no
    # effect, the effective ones are in `NO_QUEUE_VALUES`), written back as they were.
    no_queue_values: Mapping[str, Any] = field(default_factory=dict)
    env_vars: Mapping[str, str] = field(default_factory=dict)
    section_order: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceConfig:
    """The effective instance configuration.

    Equality compares effective values and ignored sections only: `layout` is a hint for export,
    so two files that configure the same behaviour in different shapes compare equal.
    `ignored` holds the top-level sections concurrency-ui does not use, verbatim; treat it as
    read-only.
    """

    queue: QueueSettings = field(default_factory=QueueSettings)
    # "default": Dagster's DefaultRunCoordinator, no queue; `queue` then holds no limits.
    run_coordinator: Coordinator = "queued"
    dequeue_interval_seconds: int = 5
    dequeue_use_threads: bool = False
    dequeue_num_workers: int | None = None
    max_user_code_failure_retries: int = 0
    user_code_failure_retry_delay: int = 60
    default_pool_limit: int | None = None
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    extra: ExtraConfig = field(default_factory=ExtraConfig)
    ignored: Mapping[str, Any] = field(default_factory=dict)
    layout: ConfigLayout | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # The allotment is configured once (concurrency_ui) but read by the queue engine.
        if float(self.queue.started_run_allotment_seconds) != float(
            self.extra.started_run_allotment_seconds
        ):
            raise ValueError(
                "queue.started_run_allotment_seconds must equal extra.started_run_allotment_seconds"
            )
        if self.queue.fair_share != self.extra.fair_share:
            raise ValueError("queue.fair_share must equal extra.fair_share")
        clash = sorted(set(self.ignored) & set(KNOWN_SECTIONS))
        if clash:
            raise ValueError(
                f"ignored sections cannot include sections concurrency-ui reads: {clash}"
            )


@dataclass(frozen=True)
class ParseResult:
    """`config` is None as soon as there is one error; warnings never prevent loading."""

    config: InstanceConfig | None
    errors: tuple[ConfigError, ...] = ()
    ignored_sections: tuple[str, ...] = ()
    warnings: tuple[ConfigError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.config is not None


class InvalidSetting(ValueError):
    """Raised by `apply_setting` with the same error `validate_setting` returns."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


def normalized(config: InstanceConfig) -> dict[str, Any]:
    queue = config.queue
    values: dict[str, Any] = {
        "max_concurrent_runs": queue.max_concurrent_runs,
        "tag_limits": tuple(queue.tag_limits),
        "block_op_concurrency_limited_runs": queue.block_op_concurrency_limited_runs,
        "slot_buffer": queue.slot_buffer,
        "granularity": queue.granularity,
        "dequeue_interval_seconds": config.dequeue_interval_seconds,
        "dequeue_use_threads": config.dequeue_use_threads,
        "dequeue_num_workers": config.dequeue_num_workers,
        "max_user_code_failure_retries": config.max_user_code_failure_retries,
        "user_code_failure_retry_delay": config.user_code_failure_retry_delay,
        "default_pool_limit": config.default_pool_limit,
    }
    for f in fields(MonitoringConfig):
        values[f"monitoring.{f.name}"] = getattr(config.monitoring, f.name)
    for f in fields(ExtraConfig):
        values[f"extra.{f.name}"] = getattr(config.extra, f.name)
    return values


def build(
    values: Mapping[str, Any],
    ignored: Mapping[str, Any],
    layout: ConfigLayout | None,
    run_coordinator: Coordinator = "queued",
) -> InstanceConfig:
    extra = ExtraConfig(**{f.name: values[f"extra.{f.name}"] for f in fields(ExtraConfig)})
    monitoring = MonitoringConfig(
        **{f.name: values[f"monitoring.{f.name}"] for f in fields(MonitoringConfig)}
    )
    queue = QueueSettings(
        max_concurrent_runs=values["max_concurrent_runs"],
        tag_limits=tuple(values["tag_limits"]),
        block_op_concurrency_limited_runs=values["block_op_concurrency_limited_runs"],
        slot_buffer=values["slot_buffer"],
        granularity=values["granularity"],
        started_run_allotment_seconds=float(extra.started_run_allotment_seconds),
        fair_share=extra.fair_share,
    )
    return InstanceConfig(
        queue=queue,
        run_coordinator=run_coordinator,
        dequeue_interval_seconds=values["dequeue_interval_seconds"],
        dequeue_use_threads=values["dequeue_use_threads"],
        dequeue_num_workers=values["dequeue_num_workers"],
        max_user_code_failure_retries=values["max_user_code_failure_retries"],
        user_code_failure_retry_delay=values["user_code_failure_retry_delay"],
        default_pool_limit=values["default_pool_limit"],
        monitoring=monitoring,
        extra=extra,
        ignored=ignored,
        layout=layout,
    )


DEFAULT_VALUES: Mapping[str, Any] = normalized(InstanceConfig())


def private_module(module: str) -> str:
    """How Dagster's loader reads a module name: `dagster.core.x` as `dagster._core.x`."""
    return re.sub(r"^dagster\.([^_])", r"dagster._\1", module)
