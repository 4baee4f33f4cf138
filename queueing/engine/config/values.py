"""Validating one value of a setting by its spec, with messages that name the path, the
kind found and the rule; `{env: VAR}` resolution; tag-limit lists; back to YAML shape."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Mapping
from typing import Any

from queueing.engine.fair_share import MAX_WEIGHT
from queueing.engine.grammar import key_problem, parse_integer
from queueing.engine.inputs import FILE_PATH
from queueing.engine.staleness import QueuedBound
from queueing.engine.types import INT32_MAX, ConfigError, FairShare, TagLimit

from .specs import (
    FAIR_SHARE_KEYS,
    MAX_UNIQUE,
    PER_UNIQUE,
    QUEUED_BOUND_KEYS,
    SPECS,
    TAG_ITEM_KEYS,
)

INVALID: Any = object()  # a value that failed validation; its error is already recorded

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2
_short.maxdict = 4
_short.maxlist = 4


def fmt_int(value: int) -> str:
    # Python refuses to print ints of more than 4300 digits; a message needs only a hint.
    if abs(value) >= 10**30:
        return f"{'-' if value < 0 else ''}a number with more than 30 digits"
    return str(value)


def describe(value: Any) -> str:
    """`string '5'`, `boolean true`, `null`, ...: the YAML kind and a short rendering."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"string {_short.repr(value)}"
    if isinstance(value, int):
        return f"integer {fmt_int(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return f"mapping {_short.repr(dict(value))}"
    if isinstance(value, list | tuple):
        return f"list {_short.repr(list(value))}"
    return f"{type(value).__name__} {_short.repr(value)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def unknown_key(path: str, key: Any, allowed: tuple[str, ...] | Any) -> ConfigError:
    names = sorted(allowed)
    message = f"unknown key {_short.repr(key)}; allowed keys: {', '.join(names)}"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        return ConfigError(f"{path}.{key}" if path else key, message)
    return ConfigError(path or FILE_PATH, message)


def convert(
    name: str,
    path: str,
    raw: Any,
    errors: list[ConfigError],
    env: Mapping[str, str] | None = None,
    env_used: dict[str, str] | None = None,
    env_ok: bool = False,
) -> Any:
    """Validate one value of setting `name` and return it normalised, or `INVALID`.

    `env_ok` where `{env: VAR}` is allowed, read from `env` (None: refused, the environment is
    not available); the variable read is noted in `env_used`.
    """
    spec = SPECS[name]
    if raw is None and spec.nullable:
        return spec.null_value
    if spec.kind == "tags":
        return convert_tags(path, raw, errors)
    if spec.kind == "queued_bounds":
        return convert_queued_bounds(path, raw, errors)
    if spec.kind == "fair_share":
        return convert_fair_share(path, raw, errors)
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        errors.append(ConfigError(path, f"expected true or false, got {describe(raw)}"))
        return INVALID
    if spec.kind == "granularity":
        if raw in ("op", "run") and isinstance(raw, str):
            return raw
        errors.append(ConfigError(path, f"expected 'op' or 'run', got {describe(raw)}"))
        return INVALID

    var = None
    if env_ok and isinstance(raw, Mapping) and list(raw) == ["env"]:
        var = raw["env"]
        if not isinstance(var, str) or not var:
            errors.append(
                ConfigError(path, f"env must name an environment variable, got {describe(var)}")
            )
            return INVALID
        raw = _from_environment(var, path, env, errors)
        if raw is INVALID:
            return INVALID
        if env_used is not None:
            env_used[path] = var
    elif not _is_int(raw):
        if env_ok and isinstance(raw, Mapping):
            errors.append(
                ConfigError(path, f"expected an integer or {{env: VARIABLE}}, got {describe(raw)}")
            )
        else:
            errors.append(ConfigError(path, f"expected an integer, got {describe(raw)}"))
        return INVALID

    if spec.off_at_or_below_zero and raw <= 0:
        return 0
    low = spec.minimum
    if (low is not None and raw < low) or raw > spec.maximum:
        # A value read from the environment is never shown: it may be a secret.
        shown = fmt_int(raw) if var is None else f"the value of environment variable {var}"
        if raw > INT32_MAX:
            message = f"{shown} is too large: the maximum is {INT32_MAX}"
        elif spec.range_message:
            message = spec.range_message.format(v=shown)
        elif raw > spec.maximum:
            message = f"{shown} is too large: the maximum is {spec.maximum}"
        else:
            message = f"{shown} is invalid: it must be >= {low}"
        errors.append(ConfigError(path, message))
        return INVALID
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
        return INVALID
    if var not in env:
        errors.append(ConfigError(path, f"environment variable {var} is not set"))
        return INVALID
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
        return INVALID


def convert_tags(path: str, raw: Any, errors: list[ConfigError]) -> Any:
    if not isinstance(raw, list | tuple):
        errors.append(ConfigError(path, f"expected a list of tag limits, got {describe(raw)}"))
        return INVALID
    limits: list[TagLimit] = []
    valid = True
    for index, item in enumerate(raw):
        limit = _convert_tag_item(f"{path}[{index}]", item, errors)
        if limit is INVALID:
            valid = False
        else:
            limits.append(limit)
    return tuple(limits) if valid else INVALID


def check_item_head(
    path: str,
    item: Mapping[Any, Any],
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    errors: list[ConfigError],
) -> Any:
    """The checks every `{key, ...}` list item shares: unknown keys, missing required keys,
    the key grammar. Returns the item's `key` (None when missing)."""
    for name in item:
        if name not in allowed:
            errors.append(unknown_key(path, name, allowed))
    for name in required:
        if name not in item:
            errors.append(ConfigError(path, f"missing required key '{name}'"))
    key = item.get("key")
    if "key" in item:
        problem = key_problem(key)
        if problem:
            errors.append(ConfigError(f"{path}.key", problem))
    return key


def _check_count(path: str, value: Any, errors: list[ConfigError]) -> None:
    """A tag limit's count (`limit`, `maxUniqueValues`): an integer 0..INT32_MAX."""
    if not _is_int(value):
        errors.append(ConfigError(path, f"expected an integer, got {describe(value)}"))
    elif value < 0:
        errors.append(ConfigError(path, f"{fmt_int(value)} is invalid: a tag limit must be >= 0"))
    elif value > INT32_MAX:
        errors.append(
            ConfigError(path, f"{fmt_int(value)} is too large: the maximum is {INT32_MAX}")
        )


def _convert_tag_item(path: str, item: Any, errors: list[ConfigError]) -> Any:
    """One `{key, limit, value?}` item (SEMANTICS 1.3); a limit must be >= 0 (our decision).

    `{key, value: {maxUniqueValues: N}}` (no `limit`) is concurrency-ui's own kind: at most N
    different values of `key` in progress (`TagLimit.distinct_values`; Dagster refuses it).
    """
    if not isinstance(item, Mapping):
        errors.append(
            ConfigError(
                path,
                f"expected a mapping with key, limit and optional value, got {describe(item)}",
            )
        )
        return INVALID
    before = len(errors)
    raw_value = item.get("value")
    vpath = f"{path}.value"
    distinct = isinstance(raw_value, Mapping) and MAX_UNIQUE in raw_value
    required = ("key",) if distinct else ("key", "limit")
    key: Any = check_item_head(path, item, TAG_ITEM_KEYS, required, errors)
    limit: Any = item.get("limit")
    if distinct and "limit" in item:
        errors.append(
            ConfigError(
                f"{path}.limit",
                f"a {{{MAX_UNIQUE}: N}} entry has no limit (each value runs uncapped); to cap "
                f"each value too, add an entry {{key, value: {{{PER_UNIQUE}: true}}, limit}}",
            )
        )
    elif "limit" in item:
        _check_count(f"{path}.limit", limit, errors)

    value: str | None = None
    per_unique = False
    if isinstance(raw_value, str):
        value = raw_value
    elif distinct:
        assert isinstance(raw_value, Mapping)
        for vkey in raw_value:
            if vkey != MAX_UNIQUE:
                errors.append(
                    ConfigError(
                        f"{vpath}.{vkey}",
                        f"{MAX_UNIQUE} stands alone: use it or {PER_UNIQUE}, not both"
                        if vkey == PER_UNIQUE
                        else f"unknown key {vkey!r}; allowed keys: {MAX_UNIQUE}",
                    )
                )
        limit = raw_value[MAX_UNIQUE]
        _check_count(f"{vpath}.{MAX_UNIQUE}", limit, errors)
    elif isinstance(raw_value, Mapping):
        for vkey in raw_value:
            if vkey != PER_UNIQUE:
                errors.append(unknown_key(vpath, vkey, (PER_UNIQUE, MAX_UNIQUE)))
        if PER_UNIQUE not in raw_value:
            errors.append(ConfigError(vpath, f"missing required key '{PER_UNIQUE}'"))
        elif not isinstance(raw_value[PER_UNIQUE], bool):
            errors.append(
                ConfigError(
                    f"{vpath}.{PER_UNIQUE}",
                    f"expected true or false, got {describe(raw_value[PER_UNIQUE])}",
                )
            )
        else:
            # `false` means the same as no value at all (SEMANTICS 1.3).
            per_unique = raw_value[PER_UNIQUE]
    elif raw_value is not None or "value" in item:
        # `value: null` too: Dagster refuses it (leave `value` out to count every value).
        errors.append(
            ConfigError(
                vpath,
                f"expected a string, {{{PER_UNIQUE}: true}} or {{{MAX_UNIQUE}: N}}, "
                f"got {describe(raw_value)}",
            )
        )
    if len(errors) > before:
        return INVALID
    return TagLimit(
        key=key, limit=limit, value=value, per_unique_value=per_unique, distinct_values=distinct
    )


def convert_queued_bounds(path: str, raw: Any, errors: list[ConfigError]) -> Any:
    """`max_queued_seconds_by_tag`: a list of `{key, value?, seconds}` (engine/staleness.py)."""
    if not isinstance(raw, list | tuple):
        errors.append(
            ConfigError(path, f"expected a list of {{key, value?, seconds}}, got {describe(raw)}")
        )
        return INVALID
    before = len(errors)
    bounds: list[QueuedBound] = []
    for index, item in enumerate(raw):
        ipath = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            errors.append(
                ConfigError(
                    ipath,
                    f"expected a mapping with key, seconds and optional value, got {describe(item)}",
                )
            )
            continue
        start = len(errors)
        key: Any = check_item_head(ipath, item, QUEUED_BOUND_KEYS, ("key", "seconds"), errors)
        seconds: Any = item.get("seconds")
        if "seconds" in item:
            if not _is_int(seconds):
                errors.append(
                    ConfigError(f"{ipath}.seconds", f"expected an integer, got {describe(seconds)}")
                )
            elif seconds < 1 or seconds > INT32_MAX:
                errors.append(
                    ConfigError(
                        f"{ipath}.seconds",
                        f"{fmt_int(seconds)} is invalid: a bound must be between 1 and "
                        f"{INT32_MAX} seconds (leave the item out for no bound)",
                    )
                )
        value = item.get("value")
        if "value" in item and not isinstance(value, str):
            errors.append(
                ConfigError(
                    f"{ipath}.value",
                    f"expected a string (leave it out for every value), got {describe(value)}",
                )
            )
        if len(errors) == start:
            bounds.append(QueuedBound(key=key, seconds=seconds, value=value))
    return tuple(bounds) if len(errors) == before else INVALID


def convert_fair_share(path: str, raw: Any, errors: list[ConfigError]) -> Any:
    """`fair_share: {key, weights?: {value: weight}}` (engine/fair_share.py); weights are
    whole numbers 1..MAX_WEIGHT (0 would starve a value: leave the rule out instead)."""
    if not isinstance(raw, Mapping):
        errors.append(
            ConfigError(
                path, f"expected a mapping with key and optional weights, got {describe(raw)}"
            )
        )
        return INVALID
    before = len(errors)
    key: Any = check_item_head(path, raw, FAIR_SHARE_KEYS, ("key",), errors)
    weights: list[tuple[str, int]] = []
    raw_weights = raw.get("weights", {})
    wpath = f"{path}.weights"
    if raw_weights is None or not isinstance(raw_weights, Mapping):
        errors.append(
            ConfigError(
                wpath, f"expected a mapping of tag value to weight, got {describe(raw_weights)}"
            )
        )
    else:
        for value, weight in raw_weights.items():
            if not isinstance(value, str):
                errors.append(ConfigError(wpath, f"a tag value is a string, got {describe(value)}"))
            elif not _is_int(weight) or not 1 <= weight <= MAX_WEIGHT:
                errors.append(
                    ConfigError(
                        f"{wpath}.{value}",
                        f"expected a whole number from 1 to {MAX_WEIGHT}, got {describe(weight)}",
                    )
                )
            else:
                weights.append((value, weight))
    if len(errors) > before:
        return INVALID
    return FairShare(key=key, weights=tuple(sorted(weights)))


def parse_tag_limit_list(raw: Any, path: str) -> tuple[tuple[TagLimit, ...], list[ConfigError]]:
    """A `tag_concurrency_limits` list outside the instance file (executor run config),
    with the same item rules and messages as the run queue's (SEMANTICS 1.3)."""
    errors: list[ConfigError] = []
    limits = convert_tags(path, raw, errors)
    return (() if errors else limits), errors


def _tag_to_yaml(limit: TagLimit) -> dict[str, Any]:
    if limit.distinct_values:
        return {"key": limit.key, "value": {MAX_UNIQUE: limit.limit}}
    item: dict[str, Any] = {"key": limit.key, "limit": limit.limit}
    if limit.per_unique_value:
        item["value"] = {PER_UNIQUE: True}
    elif limit.value is not None:
        item["value"] = limit.value
    return item


def _bound_to_yaml(bound: QueuedBound) -> dict[str, Any]:
    item: dict[str, Any] = {"key": bound.key}
    if bound.value is not None:
        item["value"] = bound.value
    item["seconds"] = bound.seconds
    return item


def to_yaml_value(name: str, value: Any) -> Any:
    if name == "tag_limits":
        return [_tag_to_yaml(limit) for limit in value]
    if SPECS[name].kind == "queued_bounds":
        return [_bound_to_yaml(bound) for bound in value]
    if SPECS[name].kind == "fair_share" and value is not None:
        shared: dict[str, Any] = {"key": value.key}
        if value.weights:
            shared["weights"] = dict(value.weights)
        return shared
    return value
