"""Reading a `dagster.yaml`: three generations of run-queue blocks, their conflicts, and the
effective values (SEMANTICS 1.1-1.5)."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queueing.engine.inputs import DEFAULT_LIMITS, FILE_PATH, InputRefused, Limits, read_yaml
from queueing.engine.types import ConfigError

from .lint import lint
from .model import (
    COORDINATORS,
    DAGSTER_SECTIONS,
    DEFAULT_COORDINATOR,
    DEFAULT_VALUES,
    KNOWN_SECTIONS,
    NULL_REFUSED,
    QUEUED_COORDINATOR,
    ConfigLayout,
    Coordinator,
    LegacyBlock,
    ParseResult,
    build,
    private_module,
)
from .specs import (
    BLOCKING,
    BLOCKING_KEYS,
    COORDINATOR_KEYS,
    EXTRA_KEYS,
    FILE_NULL_HINTS,
    LEGACY_KEYS,
    MODERN_PATHS,
    MONITORING_KEYS,
    NO_QUEUE_VALUES,
    POOLS_KEYS,
    RUNS_KEYS,
)
from .values import INVALID, convert, describe, unknown_key


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
                ConfigError(path, f"{NULL_REFUSED}: leave the key out or write {{}}")
            )
            return None
        if isinstance(value, Mapping):
            return dict(value)
        self.errors.append(ConfigError(path, f"expected a mapping, got {describe(value)}"))
        return None

    def unknown(self, path: str, key: Any, allowed: Any) -> None:
        self.errors.append(unknown_key(path, key, tuple(allowed)))

    def setting(self, name: str, path: str, raw: Any, *, env_ok: bool = False) -> None:
        if raw is None and name in FILE_NULL_HINTS:
            self.errors.append(ConfigError(path, f"{NULL_REFUSED}: {FILE_NULL_HINTS[name]}"))
            return
        value = convert(name, path, raw, self.errors, self.env, self.env_used, env_ok)
        if value is not INVALID:
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
            if key == BLOCKING:
                sub = self.read_flat(kpath, value, BLOCKING_KEYS)
                buffer = (sub or {}).get("op_concurrency_slot_buffer")
                if buffer is not None:
                    self.legacy_conflicting.append(
                        ("slot_buffer", f"{kpath}.op_concurrency_slot_buffer")
                    )
            elif key in LEGACY_KEYS:
                name, env_ok = LEGACY_KEYS[key]
                self.setting(name, kpath, value, env_ok=env_ok)
                if name in RUNS_KEYS.values() and value is not None:
                    self.legacy_conflicting.append((name, kpath))
            else:
                self.unknown(path, key, (*LEGACY_KEYS, BLOCKING))

    def read_coordinator(self, raw: Any) -> None:
        """`run_coordinator: {module, class, config}`, both names required, as Dagster reads it."""
        path = "run_coordinator"
        block = self.mapping(path, raw)
        if block is None:
            return
        for key in block:
            if key not in COORDINATOR_KEYS:
                self.unknown(path, key, COORDINATOR_KEYS)
        valid = True
        for key in ("module", "class"):
            if key not in block:
                self.errors.append(ConfigError(path, f"missing required key '{key}'"))
                valid = False
            elif not isinstance(block[key], str):
                self.errors.append(
                    ConfigError(f"{path}.{key}", f"expected a string, got {describe(block[key])}")
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
        private = private_module(module)
        known = COORDINATORS.get(cls)
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
        for name, effective in NO_QUEUE_VALUES.items():
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
                self.read_flat(f"{path}.runs", value, RUNS_KEYS)
            elif key == "pools":
                self.read_flat(f"{path}.pools", value, POOLS_KEYS)
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
                        f"set it once, as {MODERN_PATHS[name]}",
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
            f"got {describe(data)}"
        )
    reader = _Reader(env)
    ignored: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            reader.errors.append(
                ConfigError(FILE_PATH, f"section names must be strings, got {describe(key)}")
            )
        elif key in KNOWN_SECTIONS:
            sections[key] = value
        else:
            ignored[key] = copy.deepcopy(value)
            close = difflib.get_close_matches(key, KNOWN_SECTIONS, n=1, cutoff=0.8)
            if close and key not in DAGSTER_SECTIONS:
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
            reader.read_flat("run_monitoring", value, MONITORING_KEYS)
        else:
            reader.read_flat("concurrency_ui", value, EXTRA_KEYS, null_ok=True)
    reader.check_conflicts(sections)

    values = dict(DEFAULT_VALUES)
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

    warnings = (*reader.warnings, *lint(values, sources))
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
    config = build(values, ignored, layout, reader.coordinator)
    return ParseResult(config, (), ignored_sections, warnings)
