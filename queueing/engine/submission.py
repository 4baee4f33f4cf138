"""Checks on what a user submits with a run: tags, priority and run config.

Every problem is a `ConfigError(path, message)`; callers refuse the run when any exists.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config.values import parse_tag_limit_list
from .grammar import key_problem, parse_integer, shown, text_problem
from .types import INT32_MAX, INT32_MIN, PRIORITY_TAG, ConfigError, TagLimit

MAX_TAGS = 200
MAX_TAG_VALUE_LENGTH = 4096


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON: what a run's tags or run config cost to store."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def size_problem(value: Any, max_bytes: int, setting: str) -> str | None:
    size = json_size(value)
    if size > max_bytes:
        return f"{size} bytes as JSON is more than the limit of {max_bytes} bytes ({setting})"
    return None


RUN_CONFIG_KEYS = ("execution", "ops", "resources", "loggers")
EXECUTORS = ("multiprocess", "in_process")


def validate_tags(
    tags: Any, path: str = "tags", max_bytes: int | None = None
) -> tuple[dict[str, str], list[ConfigError]]:
    """Tags as submitted: keys follow the key grammar (`grammar.key_problem`), values are
    text of at most MAX_TAG_VALUE_LENGTH characters, all of them at most `max_bytes`."""
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
        problem = key_problem(key)
        if problem:
            # The path cannot hold a key that is not one: name it in the message instead.
            errors.append(ConfigError(path, f"tag key {shown(str(key))}: {problem}"))
            continue
        kpath = f"{path}.{key}"
        if not isinstance(value, str):
            errors.append(
                ConfigError(kpath, f"expected a string value, got {type(value).__name__}")
            )
            continue
        if len(value) > MAX_TAG_VALUE_LENGTH:
            errors.append(
                ConfigError(kpath, f"value longer than {MAX_TAG_VALUE_LENGTH} characters")
            )
            continue
        problem = text_problem(value)
        if problem:
            errors.append(ConfigError(kpath, f"the value {problem}"))
            continue
        clean[key] = value
    if not errors and max_bytes is not None:
        problem = size_problem(clean, max_bytes, "RUN_TAGS_MAX_BYTES")
        if problem:
            errors.append(ConfigError(path, f"the tags take {problem}"))
    return clean, errors


def parse_priority(tags: Mapping[str, str], path: str = "tags") -> tuple[int, list[ConfigError]]:
    """The run's `dagster/priority`, refused unless a signed 32-bit integer (our decision)."""
    raw = tags.get(PRIORITY_TAG)
    if raw is None:
        return 0, []
    try:
        value = parse_integer(str(raw))
    except ValueError as exc:
        return 0, [ConfigError(f"{path}.{PRIORITY_TAG}", f"priority: {exc}")]
    if not INT32_MIN <= value <= INT32_MAX:
        return 0, [
            ConfigError(
                f"{path}.{PRIORITY_TAG}",
                f"{value} is out of range: priority must be between {INT32_MIN} and {INT32_MAX}",
            )
        ]
    return value, []


def queue_full_message(queued: int, cap: int) -> str | None:
    """Why a submit is refused with `queued` runs queued under `concurrency_ui.max_queued_runs`
    = `cap` (-1: no cap), or None. The submit, the doctor and the Overview all say this."""
    if cap < 0 or queued < cap:
        return None
    return (
        f"the queue is full: {queued} of {cap} runs queued "
        "(concurrency_ui.max_queued_runs); submit again once runs have launched, "
        "or ask an admin to raise the cap"
    )


def parse_tag_pair(text: str) -> tuple[str, str]:
    """`KEY=VALUE` (command line, filters); raises ValueError naming the rule."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{shown(text)} is not KEY=VALUE")
    problem = key_problem(key)
    if problem:
        raise ValueError(f"{shown(text)} is not KEY=VALUE with a valid key: {problem}")
    return key, value


@dataclass(frozen=True)
class ExecutionSettings:
    """How the executor runs this run's steps (SEMANTICS 1.6 and 4)."""

    executor: str = "multiprocess"
    max_concurrent: int | None = None  # None: the worker's CPU count
    tag_limits: tuple[TagLimit, ...] = ()


def merge_run_config(base: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """`override` deep-merged over `base` (nested mappings merge, anything else replaces):
    a job's default run config under the one given at launch."""
    merged = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_run_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate_run_config(
    run_config: Any, step_keys: frozenset[str] | None = None, max_bytes: int | None = None
) -> tuple[ExecutionSettings, list[ConfigError]]:
    """The executor settings of a run config (merged with the job's defaults), and every
    problem; `max_bytes` caps its stored size (RUN_CONFIG_MAX_BYTES)."""
    if run_config is None:
        return ExecutionSettings(), []
    if not isinstance(run_config, Mapping):
        return ExecutionSettings(), [
            ConfigError("run_config", f"expected a mapping, got {type(run_config).__name__}")
        ]
    if max_bytes is not None:
        problem = size_problem(run_config, max_bytes, "RUN_CONFIG_MAX_BYTES")
        if problem:
            return ExecutionSettings(), [
                ConfigError("run_config", f"the run config takes {problem}")
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
