"""Read, validate and write back the instance configuration (`dagster.yaml`), SEMANTICS 1.1-1.5.

Pure Python: the caller reads the file and passes its text, the limits of the input boundary
(`inputs.Limits`) and, where `{env: VAR}` values may be resolved, the environment to read them
from (the engine never reads `os.environ`; without an environment such values are refused).
Validation is eager and complete: every problem is reported with the dotted path of the
offending key, and a file with any error yields no configuration at all.

Three generations of run-queue settings are understood (`run_coordinator.config`, `run_queue`,
`concurrency`); the effective values are merged as in SEMANTICS 1.5 and the block each one came
from is remembered in `ConfigLayout`, so `to_instance_dict` writes the same shape back.
Top-level sections concurrency-ui does not read (storage, compute_logs, ...) are kept verbatim.

What Dagster 1.13 refuses in these blocks is refused too (checked against its own loader):
null blocks (`run_queue:` with nothing under it) and null values, except
`tag_concurrency_limits: null` (empty); a `run_coordinator` without `module` or `class`, with
a dotted class, or naming a class its module does not have. `DefaultRunCoordinator` (and its
`SyncInMemoryRunCoordinator`) is read as Dagster runs it: no queue, so `max_concurrent_runs`,
tag limits and pool-aware dequeuing have no effect (warnings say so), pools still limit steps.

Decisions where SEMANTICS leaves a gap (README, "Where concurrency-ui differs from Dagster"):
- our own `concurrency_ui:` section may be null (empty).
- a negative pool buffer is rejected (the reference accepts it and silently shrinks capacity).
- a run-monitoring timeout <= 0 is stored as 0 ("disabled") without an error.
- only Dagster's own run coordinators are accepted (a custom class's behaviour is unknown).
- an explicit `concurrency.pools.granularity` wins over `block_op_concurrency_limited_runs`.
- `{env: VAR}` is accepted only for the int keys of `run_queue` / `run_coordinator.config`, as in
  the reference; export writes the resolved values. Messages name the variable, never its value.
- the default pool limit range is 0..1000; `DAGSTER_MAX_GLOBAL_OP_CONCURRENCY_LIMIT` is not read.
"""

from __future__ import annotations

import copy
import difflib
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import yaml

from queueing.engine.grammar import key_problem, parse_integer
from queueing.engine.inputs import DEFAULT_LIMITS, FILE_PATH, InputRefused, Limits, read_yaml
from queueing.engine.redaction import mask_secrets
from queueing.engine.types import INT32_MAX, ConfigError, QueueSettings, TagLimit

MAX_POOL_LIMIT = 1000
CONCURRENCY_KEY_TAG = "dagster/concurrency_key"
QUEUED_COORDINATOR = "QueuedRunCoordinator"
# Wait history older than this is pruned; 100 years is as far back as dates are sure to go.
MAX_RETENTION_DAYS = 36_500
DEFAULT_COORDINATOR = "DefaultRunCoordinator"
Coordinator = Literal["queued", "default"]
# Dagster 1.13's run coordinators and the modules it finds each in (its loader reads a module
# `dagster.x…` as `dagster._x…`): `DefaultRunCoordinator` is an alias of
# `SyncInMemoryRunCoordinator`, which launches every run at once.
_COORDINATORS: dict[str, tuple[Coordinator, tuple[str, ...]]] = {
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
_NULL_REFUSED = "null is refused (Dagster refuses it too)"

KNOWN_SECTIONS = ("run_queue", "run_coordinator", "concurrency", "run_monitoring", "concurrency_ui")
# Section order for a configuration built in code: the current block first.
_EXPORT_ORDER = ("concurrency", "run_queue", "run_coordinator", "run_monitoring", "concurrency_ui")
# Sections Dagster itself reads: never suggested as typos of ours.
_DAGSTER_SECTIONS = frozenset(
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
    All values are integers >= 0, except `max_queued_runs` (-1: no cap).
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
    # effect, the effective ones are in `_NO_QUEUE_VALUES`), written back as they were.
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


# --- setting specifications -------------------------------------------------------------------

_MAX_RUNS_MESSAGE = "{v} is invalid: use -1 for no limit or a number >= 0"
_BUFFER_MESSAGE = (
    "{v} is invalid: a buffer must be >= 0 (a negative buffer silently shrinks pool capacity; "
    "lower the pool limit instead)"
)
_POOL_LIMIT_MESSAGE = "{v} is out of range: a default pool limit must be between 0 and " + str(
    MAX_POOL_LIMIT
)


@dataclass(frozen=True)
class _Spec:
    kind: Literal["int", "bool", "granularity", "tags"]
    minimum: int | None = None
    maximum: int = INT32_MAX
    # Used instead of the generic messages when the value is outside minimum..maximum.
    range_message: str | None = None
    # Whether YAML null is accepted, and what it stands for.
    nullable: bool = False
    null_value: Any = None
    # Run-monitoring timeouts: <= 0 means "disabled" and is stored as 0 without complaint (Q9).
    off_at_or_below_zero: bool = False


_SPECS: dict[str, _Spec] = {
    "max_concurrent_runs": _Spec("int", minimum=-1, range_message=_MAX_RUNS_MESSAGE),
    "tag_limits": _Spec("tags", nullable=True, null_value=()),
    "granularity": _Spec("granularity"),
    "slot_buffer": _Spec("int", minimum=0, range_message=_BUFFER_MESSAGE),
    "default_pool_limit": _Spec(
        "int", minimum=0, maximum=MAX_POOL_LIMIT, range_message=_POOL_LIMIT_MESSAGE, nullable=True
    ),
    "dequeue_interval_seconds": _Spec("int", minimum=1),
    "dequeue_use_threads": _Spec("bool"),
    "dequeue_num_workers": _Spec("int", minimum=1, nullable=True),
    "max_user_code_failure_retries": _Spec("int", minimum=0),
    "user_code_failure_retry_delay": _Spec("int", minimum=0),
    "block_op_concurrency_limited_runs": _Spec("bool"),
    "monitoring.enabled": _Spec("bool"),
    "monitoring.start_timeout_seconds": _Spec("int", off_at_or_below_zero=True),
    "monitoring.cancel_timeout_seconds": _Spec("int", off_at_or_below_zero=True),
    "monitoring.max_runtime_seconds": _Spec("int", off_at_or_below_zero=True),
    "monitoring.max_resume_run_attempts": _Spec("int", minimum=0),
    "monitoring.poll_interval_seconds": _Spec("int", minimum=1),
    "monitoring.cancellation_thread_poll_interval_seconds": _Spec("int", minimum=1),
    "monitoring.free_slots_after_run_end_seconds": _Spec(
        "int", off_at_or_below_zero=True, nullable=True, null_value=0
    ),
    **{f"extra.{f.name}": _Spec("int", minimum=0) for f in fields(ExtraConfig)},
    "extra.wait_history_retention_days": _Spec("int", minimum=0, maximum=MAX_RETENTION_DAYS),
    "extra.max_queued_runs": _Spec(
        "int", minimum=-1, range_message="{v} is invalid: use -1 for no cap or a number >= 0"
    ),
}

# Stable order for forms and the "where does each value come from" table.
SETTING_NAMES: tuple[str, ...] = tuple(_SPECS)


@dataclass(frozen=True)
class IntRange:
    """The integers a setting accepts; each was checked to work in every daemon
    (tests/services/test_setting_ranges.py loads random ones and runs a tick of each)."""

    minimum: int | None  # None: any value <= 0 is accepted and means "off"
    maximum: int
    nullable: bool


def int_setting_range(name: str) -> IntRange | None:
    """The range of an integer setting, or None for other kinds (booleans, lists, ...)."""
    spec = _SPECS[name]
    if spec.kind != "int":
        return None
    minimum = None if spec.off_at_or_below_zero else spec.minimum
    return IntRange(minimum, spec.maximum, spec.nullable)

# YAML key -> (setting, accepts {env: VAR}) for run_queue and run_coordinator.config (1.1).
_LEGACY_KEYS: dict[str, tuple[str, bool]] = {
    "max_concurrent_runs": ("max_concurrent_runs", True),
    "tag_concurrency_limits": ("tag_limits", False),
    "dequeue_interval_seconds": ("dequeue_interval_seconds", True),
    "dequeue_use_threads": ("dequeue_use_threads", False),
    "dequeue_num_workers": ("dequeue_num_workers", True),
    "max_user_code_failure_retries": ("max_user_code_failure_retries", True),
    "user_code_failure_retry_delay": ("user_code_failure_retry_delay", True),
}
_BLOCKING = "block_op_concurrency_limited_runs"
_BLOCKING_KEYS = {
    "enabled": "block_op_concurrency_limited_runs",
    "op_concurrency_slot_buffer": "slot_buffer",
}
_RUNS_KEYS = {"max_concurrent_runs": "max_concurrent_runs", "tag_concurrency_limits": "tag_limits"}
_POOLS_KEYS = {
    "default_limit": "default_pool_limit",
    "granularity": "granularity",
    "op_granularity_run_buffer": "slot_buffer",
}
_MONITORING_KEYS = {f.name: f"monitoring.{f.name}" for f in fields(MonitoringConfig)}
_EXTRA_KEYS = {f.name: f"extra.{f.name}" for f in fields(ExtraConfig)}
_COORDINATOR_KEYS = ("module", "class", "config")
_TAG_ITEM_KEYS = ("key", "limit", "value")
_PER_UNIQUE = "applyLimitPerUniqueValue"

# A run coordinator without a queue (DefaultRunCoordinator): what the run-queue settings are.
_NO_QUEUE_VALUES: Mapping[str, Any] = {
    "max_concurrent_runs": -1,
    "tag_limits": (),
    "block_op_concurrency_limited_runs": False,
    "slot_buffer": 0,
}
# Settings only a queue reads: they cannot be edited while there is none.
_QUEUE_ONLY = frozenset({*_NO_QUEUE_VALUES, *(name for name, _ in _LEGACY_KEYS.values())})
# Settings that may be unset (None) but that Dagster refuses as YAML null: leave them out.
_FILE_NULL_HINTS = {
    "default_pool_limit": "leave it out for no default limit",
    "dequeue_num_workers": "leave it out for the default",
    "monitoring.free_slots_after_run_end_seconds": "leave it out, or write 0 to never free slots",
}

# The run-queue settings the `concurrency` block replaces (SEMANTICS 1.5 item 2).
_CONFLICT_GROUP = ("max_concurrent_runs", "tag_limits", "slot_buffer")
_MODERN_PATHS = {
    "max_concurrent_runs": "concurrency.runs.max_concurrent_runs",
    "tag_limits": "concurrency.runs.tag_concurrency_limits",
    "slot_buffer": "concurrency.pools.op_granularity_run_buffer",
}
_LEGACY_SUFFIX = {
    "max_concurrent_runs": "max_concurrent_runs",
    "tag_limits": "tag_concurrency_limits",
    "slot_buffer": f"{_BLOCKING}.op_concurrency_slot_buffer",
}

_INVALID: Any = object()  # a value that failed validation; its error is already recorded

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2
_short.maxdict = 4
_short.maxlist = 4


def _fmt_int(value: int) -> str:
    # Python refuses to print ints of more than 4300 digits; a message needs only a hint.
    if abs(value) >= 10**30:
        return f"{'-' if value < 0 else ''}a number with more than 30 digits"
    return str(value)


def _describe(value: Any) -> str:
    """`string '5'`, `boolean true`, `null`, ...: the YAML kind and a short rendering."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"string {_short.repr(value)}"
    if isinstance(value, int):
        return f"integer {_fmt_int(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return f"mapping {_short.repr(dict(value))}"
    if isinstance(value, list | tuple):
        return f"list {_short.repr(list(value))}"
    return f"{type(value).__name__} {_short.repr(value)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_key(path: str, key: Any, allowed: tuple[str, ...] | Any) -> ConfigError:
    names = sorted(allowed)
    message = f"unknown key {_short.repr(key)}; allowed keys: {', '.join(names)}"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        return ConfigError(f"{path}.{key}" if path else key, message)
    return ConfigError(path or FILE_PATH, message)


def _convert(
    name: str,
    path: str,
    raw: Any,
    errors: list[ConfigError],
    env: Mapping[str, str] | None = None,
    env_used: dict[str, str] | None = None,
    env_ok: bool = False,
) -> Any:
    """Validate one value of setting `name` and return it normalised, or `_INVALID`.

    `env_ok` where `{env: VAR}` is allowed, read from `env` (None: refused, the environment is
    not available); the variable read is noted in `env_used`.
    """
    spec = _SPECS[name]
    if raw is None and spec.nullable:
        return spec.null_value
    if spec.kind == "tags":
        return _convert_tags(path, raw, errors)
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        errors.append(ConfigError(path, f"expected true or false, got {_describe(raw)}"))
        return _INVALID
    if spec.kind == "granularity":
        if raw in ("op", "run") and isinstance(raw, str):
            return raw
        errors.append(ConfigError(path, f"expected 'op' or 'run', got {_describe(raw)}"))
        return _INVALID

    var = None
    if env_ok and isinstance(raw, Mapping) and list(raw) == ["env"]:
        var = raw["env"]
        if not isinstance(var, str) or not var:
            errors.append(
                ConfigError(path, f"env must name an environment variable, got {_describe(var)}")
            )
            return _INVALID
        raw = _from_environment(var, path, env, errors)
        if raw is _INVALID:
            return _INVALID
        if env_used is not None:
            env_used[path] = var
    elif not _is_int(raw):
        if env_ok and isinstance(raw, Mapping):
            errors.append(
                ConfigError(path, f"expected an integer or {{env: VARIABLE}}, got {_describe(raw)}")
            )
        else:
            errors.append(ConfigError(path, f"expected an integer, got {_describe(raw)}"))
        return _INVALID

    if spec.off_at_or_below_zero and raw <= 0:
        return 0
    low = spec.minimum
    if (low is not None and raw < low) or raw > spec.maximum:
        # A value read from the environment is never shown: it may be a secret.
        shown = _fmt_int(raw) if var is None else f"the value of environment variable {var}"
        if raw > INT32_MAX:
            message = f"{shown} is too large: the maximum is {INT32_MAX}"
        elif spec.range_message:
            message = spec.range_message.format(v=shown)
        elif raw > spec.maximum:
            message = f"{shown} is too large: the maximum is {spec.maximum}"
        else:
            message = f"{shown} is invalid: it must be >= {low}"
        errors.append(ConfigError(path, message))
        return _INVALID
    return raw


NO_ENVIRONMENT_MESSAGE = (
    "{{env: {var}}} is not resolved here: the server's environment is read only for an "
    "admin's import, edit or simulation; write the number itself"
)


def _from_environment(
    var: str, path: str, env: Mapping[str, str] | None, errors: list[ConfigError]
) -> Any:
    """The integer in environment variable `var`. Errors name the variable, never its value
    (it may hold a password, `SECRET_KEY`, ...): not even whether it looked like a number."""
    if env is None:
        errors.append(ConfigError(path, NO_ENVIRONMENT_MESSAGE.format(var=var)))
        return _INVALID
    if var not in env:
        errors.append(ConfigError(path, f"environment variable {var} is not set"))
        return _INVALID
    try:
        # Surrounding whitespace is ignored: env files often end values with a newline.
        return parse_integer(env[var].strip())
    except ValueError:
        errors.append(
            ConfigError(
                path,
                f"environment variable {var} does not hold a whole number (digits 0-9 with an "
                "optional sign; its value is not shown)",
            )
        )
        return _INVALID


def _convert_tags(path: str, raw: Any, errors: list[ConfigError]) -> Any:
    if not isinstance(raw, list | tuple):
        errors.append(ConfigError(path, f"expected a list of tag limits, got {_describe(raw)}"))
        return _INVALID
    limits: list[TagLimit] = []
    valid = True
    for index, item in enumerate(raw):
        limit = _convert_tag_item(f"{path}[{index}]", item, errors)
        if limit is _INVALID:
            valid = False
        else:
            limits.append(limit)
    return tuple(limits) if valid else _INVALID


def _convert_tag_item(path: str, item: Any, errors: list[ConfigError]) -> Any:
    """One `{key, limit, value?}` item (SEMANTICS 1.3); a limit must be >= 0 (our decision)."""
    if not isinstance(item, Mapping):
        errors.append(
            ConfigError(
                path,
                f"expected a mapping with key, limit and optional value, got {_describe(item)}",
            )
        )
        return _INVALID
    before = len(errors)
    for key in item:
        if key not in _TAG_ITEM_KEYS:
            errors.append(_unknown_key(path, key, _TAG_ITEM_KEYS))
    for required in ("key", "limit"):
        if required not in item:
            errors.append(ConfigError(path, f"missing required key '{required}'"))

    key = item.get("key")
    if "key" in item:
        problem = key_problem(key)
        if problem:
            errors.append(ConfigError(f"{path}.key", problem))
    limit = item.get("limit")
    if "limit" in item:
        if not _is_int(limit):
            errors.append(
                ConfigError(f"{path}.limit", f"expected an integer, got {_describe(limit)}")
            )
        elif limit < 0:
            errors.append(
                ConfigError(
                    f"{path}.limit", f"{_fmt_int(limit)} is invalid: a tag limit must be >= 0"
                )
            )
        elif limit > INT32_MAX:
            errors.append(
                ConfigError(
                    f"{path}.limit", f"{_fmt_int(limit)} is too large: the maximum is {INT32_MAX}"
                )
            )

    value: str | None = None
    per_unique = False
    raw_value = item.get("value")
    vpath = f"{path}.value"
    if isinstance(raw_value, str):
        value = raw_value
    elif isinstance(raw_value, Mapping):
        for vkey in raw_value:
            if vkey != _PER_UNIQUE:
                errors.append(_unknown_key(vpath, vkey, (_PER_UNIQUE,)))
        if _PER_UNIQUE not in raw_value:
            errors.append(ConfigError(vpath, f"missing required key '{_PER_UNIQUE}'"))
        elif not isinstance(raw_value[_PER_UNIQUE], bool):
            errors.append(
                ConfigError(
                    f"{vpath}.{_PER_UNIQUE}",
                    f"expected true or false, got {_describe(raw_value[_PER_UNIQUE])}",
                )
            )
        else:
            # `false` means the same as no value at all (SEMANTICS 1.3).
            per_unique = raw_value[_PER_UNIQUE]
    elif raw_value is not None or "value" in item:
        # `value: null` too: Dagster refuses it (leave `value` out to count every value).
        errors.append(
            ConfigError(
                vpath,
                f"expected a string or {{{_PER_UNIQUE}: true}}, got {_describe(raw_value)}",
            )
        )
    if len(errors) > before:
        return _INVALID
    return TagLimit(key=key, limit=limit, value=value, per_unique_value=per_unique)


# --- reading a file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    path: str
    value: Any


def _priority(path: str) -> int:
    """Lower wins: the concurrency block over the legacy blocks, `pools.default_limit` over
    the deprecated `default_op_concurrency_limit` (SEMANTICS 1.5, effective value merge)."""
    if path.startswith(("concurrency.runs.", "concurrency.pools.")):
        return 0
    if path.startswith("concurrency."):
        return 1
    return 2


class _Reader:
    def __init__(self, env: Mapping[str, str] | None) -> None:
        self.env = env
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []
        self.found: dict[str, list[_Found]] = {}
        self.env_used: dict[str, str] = {}
        # Non-null legacy values that the concurrency block would conflict with.
        self.legacy_conflicting: list[tuple[str, str]] = []
        self.legacy_block: LegacyBlock | None = None
        self.coordinator_module: str | None = None
        self.coordinator_class: str | None = None
        self.coordinator: Coordinator = "queued"
        self.concurrency_keys: set[str] = set()
        self.default_op_limit_set: str | None = None

    def mapping(self, path: str, value: Any, null_ok: bool = False) -> dict[Any, Any] | None:
        if value is None:
            if null_ok:
                return {}
            self.errors.append(
                ConfigError(path, f"{_NULL_REFUSED}: leave the key out or write {{}}")
            )
            return None
        if isinstance(value, Mapping):
            return dict(value)
        self.errors.append(ConfigError(path, f"expected a mapping, got {_describe(value)}"))
        return None

    def unknown(self, path: str, key: Any, allowed: Any) -> None:
        self.errors.append(_unknown_key(path, key, tuple(allowed)))

    def setting(self, name: str, path: str, raw: Any, *, env_ok: bool = False) -> None:
        if raw is None and name in _FILE_NULL_HINTS:
            self.errors.append(ConfigError(path, f"{_NULL_REFUSED}: {_FILE_NULL_HINTS[name]}"))
            return
        value = _convert(name, path, raw, self.errors, self.env, self.env_used, env_ok)
        if value is not _INVALID:
            self.found.setdefault(name, []).append(_Found(path, value))

    def read_flat(
        self, path: str, raw: Any, keys: Mapping[str, str], null_ok: bool = False
    ) -> dict[Any, Any] | None:
        """A map of plain settings (`run_monitoring`, `concurrency_ui`, `runs`, `pools`, ...)."""
        block = self.mapping(path, raw, null_ok)
        for key, value in (block or {}).items():
            if key in keys:
                self.setting(keys[key], f"{path}.{key}", value)
            else:
                self.unknown(path, key, keys)
        return block

    def read_legacy(self, path: str, raw: Any) -> None:
        """`run_queue:` or `run_coordinator.config:` (SEMANTICS 1.1)."""
        block = self.mapping(path, raw)
        for key, value in (block or {}).items():
            kpath = f"{path}.{key}"
            if key == _BLOCKING:
                sub = self.read_flat(kpath, value, _BLOCKING_KEYS)
                buffer = (sub or {}).get("op_concurrency_slot_buffer")
                if buffer is not None:
                    self.legacy_conflicting.append(
                        ("slot_buffer", f"{kpath}.op_concurrency_slot_buffer")
                    )
            elif key in _LEGACY_KEYS:
                name, env_ok = _LEGACY_KEYS[key]
                self.setting(name, kpath, value, env_ok=env_ok)
                if name in _RUNS_KEYS.values() and value is not None:
                    self.legacy_conflicting.append((name, kpath))
            else:
                self.unknown(path, key, (*_LEGACY_KEYS, _BLOCKING))

    def read_coordinator(self, raw: Any) -> None:
        """`run_coordinator: {module, class, config}`, both names required, as Dagster reads it."""
        path = "run_coordinator"
        block = self.mapping(path, raw)
        if block is None:
            return
        for key in block:
            if key not in _COORDINATOR_KEYS:
                self.unknown(path, key, _COORDINATOR_KEYS)
        valid = True
        for key in ("module", "class"):
            if key not in block:
                self.errors.append(ConfigError(path, f"missing required key '{key}'"))
                valid = False
            elif not isinstance(block[key], str):
                self.errors.append(
                    ConfigError(f"{path}.{key}", f"expected a string, got {_describe(block[key])}")
                )
                valid = False
        if not valid:
            return
        module, cls = block["module"], block["class"]
        kind = self._coordinator_kind(path, module, cls)
        if kind is None:
            return
        self.legacy_block = "run_coordinator"
        self.coordinator_module = module
        self.coordinator_class = cls
        self.coordinator = kind
        if kind == "queued":
            if "config" in block:
                self.read_legacy(f"{path}.config", block["config"])
            return
        config = self.mapping(f"{path}.config", block.get("config", {}))
        for key in config or {}:
            # Dagster's DefaultRunCoordinator schema is an empty map.
            self.errors.append(
                ConfigError(
                    f"{path}.config.{key}",
                    f"{cls} takes no configuration: it has no queue (use "
                    f"{QUEUED_COORDINATOR} to limit runs)",
                )
            )

    def _coordinator_kind(self, path: str, module: str, cls: str) -> Coordinator | None:
        if "." in cls:
            head, _, tail = cls.rpartition(".")
            self.errors.append(
                ConfigError(
                    f"{path}.class",
                    f"{cls!r} is a dotted path, but Dagster looks the class up by name in "
                    f"`module`: write module: {head} and class: {tail}",
                )
            )
            return None
        # Dagster's loader reads `dagster.core.x` as `dagster._core.x`.
        private = _private_module(module)
        known = _COORDINATORS.get(cls)
        if known is not None and private in known[1]:
            return known[0]
        if known is not None and (private == "dagster" or private.startswith("dagster.")):
            homes = ", ".join(re.sub(r"^dagster\._", "dagster.", m) for m in known[1])
            self.errors.append(
                ConfigError(
                    f"{path}.module",
                    f"Dagster has no {cls} in module {module!r} (it is in {homes})",
                )
            )
            return None
        self.errors.append(
            ConfigError(
                f"{path}.class",
                f"concurrency-ui supports Dagster's {QUEUED_COORDINATOR} and "
                f"{DEFAULT_COORDINATOR}, got {module}.{cls} (what another coordinator does "
                "with runs is unknown here)",
            )
        )
        return None

    def no_queue(self, values: dict[str, Any], sources: Mapping[str, str]) -> dict[str, Any]:
        """A coordinator without a queue: the run-queue values become "no limit"; the ones
        the file set are returned (for export) and each gets a warning."""
        cls = self.coordinator_class
        self.warnings.append(
            ConfigError(
                "run_coordinator.class",
                f"{cls} has no queue: every run is launched by the next tick, whatever "
                "max_concurrent_runs and the run tag limits say; pools still limit steps",
            )
        )
        if values["granularity"] == "run":
            self.errors.append(
                ConfigError(
                    sources["granularity"],
                    f"'run' needs the run queue, but {cls} has none: pools would be enforced "
                    f"nowhere (use {QUEUED_COORDINATOR}, or granularity 'op')",
                )
            )
        kept = {}
        for name, effective in _NO_QUEUE_VALUES.items():
            if name in sources:
                kept[name] = values[name]
                self.warnings.append(
                    ConfigError(sources[name], f"has no effect: {cls} has no queue")
                )
            values[name] = effective
        return kept

    def read_concurrency(self, raw: Any) -> None:
        """`concurrency:` (SEMANTICS 1.2); plain values, no `{env: VAR}`."""
        path = "concurrency"
        block = self.mapping(path, raw)
        for key, value in (block or {}).items():
            if key == "runs":
                self.read_flat(f"{path}.runs", value, _RUNS_KEYS)
            elif key == "pools":
                self.read_flat(f"{path}.pools", value, _POOLS_KEYS)
            elif key == "default_op_concurrency_limit":
                dpath = f"{path}.{key}"
                self.setting("default_pool_limit", dpath, value)
                if value is not None:
                    self.default_op_limit_set = dpath
            else:
                self.unknown(path, key, ("runs", "pools", "default_op_concurrency_limit"))
                continue
            # Presence alone (even `runs:` with nothing under it) triggers the conflict check.
            self.concurrency_keys.add(key)

    def check_conflicts(self, sections: Mapping[str, Any]) -> None:
        """Cross-block rules of SEMANTICS 1.5 items 1, 2 and 5 and quirk Q6."""
        if "run_queue" in sections and "run_coordinator" in sections:
            self.errors.append(
                ConfigError(
                    "run_queue",
                    "run_queue cannot be used together with run_coordinator: keep one of them "
                    "(run_queue is the short form of run_coordinator.config)",
                )
            )
        if "pools" in self.concurrency_keys and self.default_op_limit_set:
            self.errors.append(
                ConfigError(
                    self.default_op_limit_set,
                    "cannot be used together with concurrency.pools: "
                    "use concurrency.pools.default_limit instead",
                )
            )
        # `default_op_concurrency_limit` alone does not make the legacy keys conflict.
        if self.concurrency_keys & {"runs", "pools"}:
            for name, path in self.legacy_conflicting:
                self.errors.append(
                    ConfigError(
                        path,
                        "cannot be set when the concurrency block has runs or pools: "
                        f"set it once, as {_MODERN_PATHS[name]}",
                    )
                )

    def check_blocking(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        if values["block_op_concurrency_limited_runs"]:
            return
        enabled_path = sources["block_op_concurrency_limited_runs"]
        if values["granularity"] == "run":
            # Q6: the queue would ignore pools and steps do not claim: pools enforced nowhere.
            self.errors.append(
                ConfigError(
                    sources["granularity"],
                    f"'run' needs pool-aware dequeuing, but {enabled_path} is false: "
                    "pools would be enforced nowhere",
                )
            )
        if values["slot_buffer"] != 0:
            self.errors.append(
                ConfigError(
                    sources["slot_buffer"],
                    f"a buffer only applies to pool-aware dequeuing, but {enabled_path} is false",
                )
            )


def _lint(values: Mapping[str, Any], sources: Mapping[str, str]) -> list[ConfigError]:
    """Valid but dangerous settings (SEMANTICS 7, tooling item 3)."""
    warnings: list[ConfigError] = []

    def warn(name: str, message: str) -> None:
        warnings.append(ConfigError(sources.get(name, name), message))

    if values["max_concurrent_runs"] == 0:
        warn("max_concurrent_runs", "0 launches nothing: the queue is frozen until it is raised")
    tags_path = sources.get("tag_limits", "tag_limits")
    for index, limit in enumerate(values["tag_limits"]):
        if limit.limit == 0:
            warnings.append(
                ConfigError(
                    f"{tags_path}[{index}].limit",
                    "0 blocks every run carrying this tag: they stay queued until it is raised",
                )
            )
        if limit.key == CONCURRENCY_KEY_TAG:
            warnings.append(
                ConfigError(
                    f"{tags_path}[{index}].key",
                    f"{CONCURRENCY_KEY_TAG} is an op tag, which run tag limits never see: "
                    "limit it with a pool instead",
                )
            )
    if values["default_pool_limit"] == 0:
        warn(
            "default_pool_limit",
            "0 closes every pool without an explicit limit: their steps wait forever",
        )
    if values["extra.max_queued_runs"] == 0:
        warn("extra.max_queued_runs", "0 refuses every submit: no run can be queued")
    if values["dequeue_num_workers"] is not None and not values["dequeue_use_threads"]:
        warn("dequeue_num_workers", "has no effect unless dequeue_use_threads is true")
    if not values["monitoring.enabled"]:
        warn(
            "monitoring.enabled",
            "run monitoring is off: slots held by finished runs are never released, and start "
            "timeouts, cancel timeouts and max runtime are not enforced",
        )
        return warnings
    if values["monitoring.free_slots_after_run_end_seconds"] == 0:
        warn(
            "monitoring.free_slots_after_run_end_seconds",
            "slot release is disabled: a run that crashes or is cancelled while holding a pool "
            "slot keeps it forever (set e.g. 60)",
        )
    if values["monitoring.start_timeout_seconds"] == 0:
        warn(
            "monitoring.start_timeout_seconds",
            "start timeout is disabled: a run stuck in STARTING holds its queue capacity forever",
        )
    if values["monitoring.cancel_timeout_seconds"] == 0:
        warn(
            "monitoring.cancel_timeout_seconds",
            "cancel timeout is disabled: a run stuck in CANCELING holds its queue capacity forever",
        )
    return warnings


def parse_tag_limit_list(raw: Any, path: str) -> tuple[tuple[TagLimit, ...], list[ConfigError]]:
    """A `tag_concurrency_limits` list outside the instance file (executor run config),
    with the same item rules and messages as the run queue's (SEMANTICS 1.3)."""
    errors: list[ConfigError] = []
    limits = _convert_tags(path, raw, errors)
    return (() if errors else limits), errors


def parse_instance_yaml(
    text: str, env: Mapping[str, str] | None = None, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse the text of a `dagster.yaml`. See `parse_instance_dict` for `env` and the result.

    The text is read by the input boundary (`inputs.read_yaml`) within `limits`: a refusal
    (size, depth, values, a YAML type JSON cannot hold, invalid YAML) is the only error.
    Duplicate keys are warnings.
    """
    try:
        document = read_yaml(text, limits)
    except InputRefused as exc:
        return ParseResult(config=None, errors=(exc.error,))
    result = parse_instance_dict(document.value, env)
    if not document.duplicates:
        return result
    return ParseResult(
        config=result.config,
        errors=result.errors,
        ignored_sections=result.ignored_sections,
        warnings=(*document.duplicates, *result.warnings),
    )


def _file_error(message: str) -> ParseResult:
    return ParseResult(config=None, errors=(ConfigError(FILE_PATH, message),))


def parse_instance_dict(data: Any, env: Mapping[str, str] | None = None) -> ParseResult:
    """Validate an already loaded `dagster.yaml` and compute the effective configuration.

    `env` resolves `{env: VAR}` values; None refuses them (no environment to read). Every error is
    collected (not just the first); with any error `config` is None. Top-level sections that
    concurrency-ui does not read are listed in `ignored_sections` and kept in `config.ignored`.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return _file_error(
            f"the top level must be a mapping of sections (run_queue:, concurrency:, ...), "
            f"got {_describe(data)}"
        )
    reader = _Reader(env)
    ignored: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            reader.errors.append(
                ConfigError(FILE_PATH, f"section names must be strings, got {_describe(key)}")
            )
        elif key in KNOWN_SECTIONS:
            sections[key] = value
        else:
            ignored[key] = copy.deepcopy(value)
            close = difflib.get_close_matches(key, KNOWN_SECTIONS, n=1, cutoff=0.8)
            if close and key not in _DAGSTER_SECTIONS:
                reader.warnings.append(
                    ConfigError(key, f"section is ignored; did you mean {close[0]!r}?")
                )

    # In file order, so errors read top to bottom.
    for key, value in sections.items():
        if key == "run_queue":
            if reader.legacy_block is None:
                reader.legacy_block = "run_queue"
            reader.read_legacy("run_queue", value)
        elif key == "run_coordinator":
            reader.read_coordinator(value)
        elif key == "concurrency":
            reader.read_concurrency(value)
        elif key == "run_monitoring":
            reader.read_flat("run_monitoring", value, _MONITORING_KEYS)
        else:
            reader.read_flat("concurrency_ui", value, _EXTRA_KEYS, null_ok=True)
    reader.check_conflicts(sections)

    values = dict(_DEFAULT_VALUES)
    sources: dict[str, str] = {}
    env_vars: dict[str, str] = {}
    for name, candidates in reader.found.items():
        best = min(candidates, key=lambda found: _priority(found.path))
        values[name] = best.value
        sources[name] = best.path
        if best.path in reader.env_used:
            env_vars[name] = reader.env_used[best.path]
    no_queue_values: dict[str, Any] = {}
    if reader.coordinator == "default":
        no_queue_values = reader.no_queue(values, sources)
    else:
        reader.check_blocking(values, sources)

    warnings = (*reader.warnings, *_lint(values, sources))
    ignored_sections = tuple(ignored)
    if reader.errors:
        return ParseResult(None, tuple(reader.errors), ignored_sections, warnings)
    layout = ConfigLayout(
        legacy_block=reader.legacy_block,
        coordinator_module=reader.coordinator_module,
        coordinator_class=reader.coordinator_class,
        sources=sources,
        no_queue_values=no_queue_values,
        env_vars=env_vars,
        section_order=tuple(key for key in data if isinstance(key, str)),
    )
    config = _build(values, ignored, layout, reader.coordinator)
    return ParseResult(config, (), ignored_sections, warnings)


# --- flat settings ----------------------------------------------------------------------------


def _normalized(config: InstanceConfig) -> dict[str, Any]:
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


def _build(
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


_DEFAULT_VALUES: Mapping[str, Any] = _normalized(InstanceConfig())


def _tag_to_yaml(limit: TagLimit) -> dict[str, Any]:
    item: dict[str, Any] = {"key": limit.key, "limit": limit.limit}
    if limit.per_unique_value:
        item["value"] = {_PER_UNIQUE: True}
    elif limit.value is not None:
        item["value"] = limit.value
    return item


def _to_yaml_value(name: str, value: Any) -> Any:
    if name == "tag_limits":
        return [_tag_to_yaml(limit) for limit in value]
    return value


def config_to_flat(config: InstanceConfig) -> dict[str, Any]:
    """Every setting by name (`SETTING_NAMES` order), as plain YAML-shaped values.

    Tag limits are lists of `{key, limit, value?}` maps, so each value passes `validate_setting`.
    """
    values = _normalized(config)
    return {name: _to_yaml_value(name, values[name]) for name in SETTING_NAMES}


def config_sources(config: InstanceConfig) -> dict[str, str | None]:
    """For each setting, the YAML path it was read from, or None (a default, or set in code)."""
    sources = config.layout.sources if config.layout else {}
    return {name: sources.get(name) for name in SETTING_NAMES}


def validate_setting(name: str, value: Any) -> ConfigError | None:
    """Validate one edited value (YAML-shaped, as from `config_to_flat`) with the file's rules.

    The error's path is the setting name (`tag_limits[1].limit`). Rules that involve several
    settings (conflicts, granularity vs blocking) need the whole file: see `check_config`.
    """
    if name not in _SPECS:
        return ConfigError(name, f"unknown setting; known settings: {', '.join(SETTING_NAMES)}")
    errors: list[ConfigError] = []
    _convert(name, name, value, errors)
    return errors[0] if errors else None


def apply_setting(config: InstanceConfig, name: str, value: Any) -> InstanceConfig:
    """A copy of `config` with one setting changed; raises `InvalidSetting` if it is invalid.

    The layout is kept, so export writes the value where the file had it.
    """
    error = validate_setting(name, value)
    if error is not None:
        raise InvalidSetting(error)
    values = _normalized(config)
    new = _convert(name, name, value, [])
    if config.run_coordinator == "default" and name in _QUEUE_ONLY:
        if new == values[name]:
            return config
        raise InvalidSetting(
            ConfigError(
                name,
                "has no effect: the run coordinator has no queue "
                f"(run_coordinator: {DEFAULT_COORDINATOR}); switch to {QUEUED_COORDINATOR} "
                "to limit runs",
            )
        )
    values[name] = new
    return _build(values, config.ignored, config.layout, config.run_coordinator)


def check_config(config: InstanceConfig) -> tuple[ConfigError, ...]:
    """All errors of the file `config` would export to (cross-setting rules included)."""
    return parse_instance_dict(to_instance_dict(config), env={}).errors


# --- export -----------------------------------------------------------------------------------


def _home_paths(prefix: str, modern: bool) -> dict[str, str]:
    """Where each setting but `default_pool_limit` is written; `prefix` is the legacy block."""
    paths = {
        name: _MODERN_PATHS[name] if modern else f"{prefix}.{_LEGACY_SUFFIX[name]}"
        for name in _CONFLICT_GROUP
    }
    paths["granularity"] = "concurrency.pools.granularity"
    paths["block_op_concurrency_limited_runs"] = f"{prefix}.{_BLOCKING}.enabled"
    for key, (name, _) in _LEGACY_KEYS.items():
        paths.setdefault(name, f"{prefix}.{key}")
    paths.update({name: f"run_monitoring.{key}" for key, name in _MONITORING_KEYS.items()})
    paths.update({name: f"concurrency_ui.{key}" for key, name in _EXTRA_KEYS.items()})
    return paths


def _modern_layout() -> ConfigLayout:
    """How a configuration built in code is written: the current shape, every value explicit."""
    paths = _home_paths("run_queue", modern=True)
    # Settings whose default is null are written only when set.
    del paths["dequeue_num_workers"]
    return ConfigLayout(sources=paths)


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _private_module(module: str) -> str:
    """How Dagster's loader reads a module name: `dagster.core.x` as `dagster._core.x`."""
    return re.sub(r"^dagster\.([^_])", r"dagster._\1", module)


def _coordinator_block(kind: Coordinator, layout: ConfigLayout) -> dict[str, Any]:
    """`{module, class}` as the file named them, if they name a coordinator of `kind`."""
    cls = layout.coordinator_class
    known = _COORDINATORS.get(cls or "")
    if cls is None or known is None or known[0] != kind:
        cls = QUEUED_COORDINATOR if kind == "queued" else DEFAULT_COORDINATOR
        known = _COORDINATORS[cls]
    module = layout.coordinator_module
    if module is None or _private_module(module) not in known[1]:
        module = known[1][1]  # dagster._core.run_coordinator: both classes are there
    return {"module": module, "class": cls}


def to_instance_dict(config: InstanceConfig, hide_secrets: bool = False) -> dict[str, Any]:
    """The `dagster.yaml` content for `config`, such that parsing it gives back `config`.

    `hide_secrets` masks secret-looking values of the kept-verbatim sections (for anyone
    below admin, `redaction.mask_secrets`); such a document is for reading, not loading.

    A parsed configuration is written in the shape it was read in: values read from the file go
    back where they were, other non-default values go next to them. A configuration built in code
    is written in the current shape (`concurrency.runs/pools` + `run_queue` for the keys the
    concurrency block does not replace + `run_monitoring` + `concurrency_ui`). Ignored sections
    are written back verbatim. `{env: VAR}` values are written resolved.
    """
    layout = config.layout or _modern_layout()
    sources = layout.sources
    values = _normalized(config)
    no_queue = config.run_coordinator == "default"
    if no_queue:
        # The effective "no limit" values come from the coordinator, not from the file: write
        # back what the file said, and no queue setting it did not have.
        for name in _QUEUE_ONLY:
            values[name] = layout.no_queue_values.get(name, _DEFAULT_VALUES[name])
    written = [
        name
        for name in SETTING_NAMES
        # Dagster refuses null: a setting without a value is left out.
        if values[name] is not None
        and (name in sources or values[name] != _DEFAULT_VALUES[name])
        and not (no_queue and name in _QUEUE_ONLY and name not in layout.no_queue_values)
    ]

    prefix = "run_coordinator.config" if layout.legacy_block == "run_coordinator" else "run_queue"

    def sourced_under(name: str, block: str) -> bool:
        return sources.get(name, "").startswith(block + ".")

    legacy_group = any(sourced_under(name, prefix) for name in _CONFLICT_GROUP)
    needs_pools = "granularity" in written or any(
        sourced_under(name, "concurrency.pools") for name in ("default_pool_limit", "slot_buffer")
    )
    runs_sourced = any(sourced_under(name, "concurrency.runs") for name in _CONFLICT_GROUP)
    # The concurrency block cannot coexist with the legacy keys it replaces (SEMANTICS 1.5), so
    # once anything needs `pools:` (e.g. granularity edited), those keys move to it.
    modern = needs_pools or runs_sourced or not legacy_group

    paths = _home_paths(prefix, modern)
    pools_written = modern and ("granularity" in written or "slot_buffer" in written)
    deprecated_default = "concurrency.default_op_concurrency_limit"
    # `pools:` next to default_op_concurrency_limit is an error; without `pools:` the
    # deprecated key is the only place that does not conflict with legacy run-queue keys.
    if not modern or (
        not pools_written and sources.get("default_pool_limit") == deprecated_default
    ):
        paths["default_pool_limit"] = deprecated_default
    else:
        paths["default_pool_limit"] = "concurrency.pools.default_limit"

    out: dict[str, Any] = {}
    if layout.legacy_block == "run_coordinator" or no_queue:
        out["run_coordinator"] = _coordinator_block(config.run_coordinator, layout)
    elif layout.legacy_block == "run_queue":
        out["run_queue"] = {}
    for name in written:
        _put(out, paths[name], _to_yaml_value(name, values[name]))

    known_order = [key for key in layout.section_order if key in out or key in config.ignored]
    for key in (*_EXPORT_ORDER, *config.ignored):
        if key not in known_order:
            known_order.append(key)
    ordered: dict[str, Any] = {}
    for key in known_order:
        if key in out:
            ordered[key] = out[key]
        elif key in config.ignored:
            section = config.ignored[key]
            ordered[key] = mask_secrets(section) if hide_secrets else copy.deepcopy(section)
    return ordered


def to_instance_yaml(config: InstanceConfig, hide_secrets: bool = False) -> str:
    """`to_instance_dict` as YAML text."""
    data = to_instance_dict(config, hide_secrets)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    # PyYAML mangles some characters written raw (a NEL, U+0085, in a quoted string); escaping
    # everything outside ASCII is ugly but always reads back the same.
    if yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    return text
