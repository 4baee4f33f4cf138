"""Checks on what a user submits with a run: tags, priority and run config.

Every problem is a `ConfigError(path, message)`; callers refuse the run when any exists.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import ConfigError, parse_tag_limit_list
from .types import INT32_MAX, INT32_MIN, PRIORITY_TAG, TagLimit

MAX_TAGS = 200
MAX_TAG_KEY_LENGTH = 255
MAX_TAG_VALUE_LENGTH = 4096
RUN_CONFIG_KEYS = ("execution", "ops", "resources", "loggers")
EXECUTORS = ("multiprocess", "in_process")


def validate_tags(tags: Any, path: str = "tags") -> tuple[dict[str, str], list[ConfigError]]:
    if tags is None:
        return {}, []
    if not isinstance(tags, Mapping):
        return {}, [ConfigError(path, f"expected a mapping of strings, got {type(tags).__name__}")]
    errors: list[ConfigError] = []
    if len(tags) > MAX_TAGS:
        errors.append(ConfigError(path, f"{len(tags)} tags is too many: at most {MAX_TAGS}"))
        return {}, errors
    clean: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            errors.append(
                ConfigError(path, f"tag key {key!r} is invalid: keys are non-empty strings")
            )
            continue
        if len(key) > MAX_TAG_KEY_LENGTH:
            errors.append(
                ConfigError(
                    f"{path}.{key[:40]}…", f"key longer than {MAX_TAG_KEY_LENGTH} characters"
                )
            )
            continue
        if not isinstance(value, str):
            errors.append(
                ConfigError(f"{path}.{key}", f"expected a string value, got {type(value).__name__}")
            )
            continue
        if len(value) > MAX_TAG_VALUE_LENGTH:
            errors.append(
                ConfigError(f"{path}.{key}", f"value longer than {MAX_TAG_VALUE_LENGTH} characters")
            )
            continue
        clean[key] = value
    return clean, errors


def parse_priority(tags: Mapping[str, str], path: str = "tags") -> tuple[int, list[ConfigError]]:
    """The run's `dagster/priority`, refused unless a signed 32-bit integer (our decision)."""
    raw = tags.get(PRIORITY_TAG)
    if raw is None:
        return 0, []
    try:
        value = int(str(raw).strip())
    except ValueError:
        return 0, [
            ConfigError(
                f"{path}.{PRIORITY_TAG}",
                f"{raw!r} is not an integer: priority must be a whole number",
            )
        ]
    if not INT32_MIN <= value <= INT32_MAX:
        return 0, [
            ConfigError(
                f"{path}.{PRIORITY_TAG}",
                f"{value} is out of range: priority must be between {INT32_MIN} and {INT32_MAX}",
            )
        ]
    return value, []


def parse_tag_pair(text: str) -> tuple[str, str]:
    """`KEY=VALUE` from the command line; raises ValueError naming the rule."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r} is not KEY=VALUE with a non-empty key")
    return key.strip(), value


@dataclass(frozen=True)
class ExecutionSettings:
    """How the executor runs this run's steps (SEMANTICS 1.6 and 4)."""

    executor: str = "multiprocess"
    max_concurrent: int | None = None  # None: the worker's CPU count
    tag_limits: tuple[TagLimit, ...] = ()


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate_run_config(
    run_config: Any, step_keys: frozenset[str] | None = None
) -> tuple[ExecutionSettings, list[ConfigError]]:
    if run_config is None:
        return ExecutionSettings(), []
    if not isinstance(run_config, Mapping):
        return ExecutionSettings(), [
            ConfigError("run_config", f"expected a mapping, got {type(run_config).__name__}")
        ]
    errors: list[ConfigError] = []
    for key in run_config:
        if key not in RUN_CONFIG_KEYS:
            errors.append(
                ConfigError(
                    f"run_config.{key}",
                    f"unknown key: expected one of {', '.join(RUN_CONFIG_KEYS)}",
                )
            )
    ops = run_config.get("ops")
    if ops is not None:
        if not isinstance(ops, Mapping):
            errors.append(ConfigError("run_config.ops", "expected a mapping of step keys"))
        elif step_keys is not None:
            for key in ops:
                if key not in step_keys:
                    errors.append(
                        ConfigError(f"run_config.ops.{key}", "no step with this key in the job")
                    )
    settings, exec_errors = _parse_execution(run_config.get("execution"))
    return settings, errors + exec_errors


def _parse_execution(block: Any) -> tuple[ExecutionSettings, list[ConfigError]]:
    path = "run_config.execution"
    if block is None:
        return ExecutionSettings(), []
    if not isinstance(block, Mapping):
        return ExecutionSettings(), [ConfigError(path, "expected a mapping with a 'config' key")]
    unknown = [k for k in block if k != "config"]
    if unknown:
        return ExecutionSettings(), [
            ConfigError(f"{path}.{unknown[0]}", "unknown key: expected 'config'")
        ]
    config = block.get("config") or {}
    if not isinstance(config, Mapping) or len(config) != 1 or next(iter(config)) not in EXECUTORS:
        return ExecutionSettings(), [
            ConfigError(
                f"{path}.config", f"expected exactly one executor: {' or '.join(EXECUTORS)}"
            )
        ]
    executor, body = next(iter(config.items()))
    body = body or {}
    epath = f"{path}.config.{executor}"
    if not isinstance(body, Mapping):
        return ExecutionSettings(), [ConfigError(epath, "expected a mapping")]
    if executor == "in_process":
        if body:
            return ExecutionSettings(), [
                ConfigError(
                    f"{epath}.{next(iter(body))}", "unknown key: in_process takes no settings"
                )
            ]
        return ExecutionSettings(executor="in_process", max_concurrent=1), []
    errors: list[ConfigError] = []
    for key in body:
        if key not in ("max_concurrent", "tag_concurrency_limits"):
            errors.append(
                ConfigError(
                    f"{epath}.{key}",
                    "unknown key: expected max_concurrent or tag_concurrency_limits",
                )
            )
    max_concurrent = body.get("max_concurrent")
    if max_concurrent is not None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            errors.append(
                ConfigError(
                    f"{epath}.max_concurrent",
                    f"expected an integer, got {type(max_concurrent).__name__}",
                )
            )
            max_concurrent = None
        elif max_concurrent < 0:
            errors.append(
                ConfigError(
                    f"{epath}.max_concurrent",
                    f"{max_concurrent} is invalid: use 0 or null for the CPU count, or a positive number",
                )
            )
            max_concurrent = None
        elif max_concurrent > 1000:
            errors.append(
                ConfigError(
                    f"{epath}.max_concurrent", f"{max_concurrent} is too large: at most 1000"
                )
            )
            max_concurrent = None
        elif max_concurrent == 0:
            max_concurrent = None
    tag_limits: tuple[TagLimit, ...] = ()
    if "tag_concurrency_limits" in body:
        raw = body["tag_concurrency_limits"]
        if raw is None:
            errors.append(
                ConfigError(f"{epath}.tag_concurrency_limits", "expected a list, got null")
            )
        else:
            tag_limits, limit_errors = parse_tag_limit_list(raw, f"{epath}.tag_concurrency_limits")
            errors.extend(limit_errors)
    return ExecutionSettings("multiprocess", max_concurrent, tuple(tag_limits)), errors
