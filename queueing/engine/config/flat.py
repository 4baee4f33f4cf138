"""Settings edited one by one, by name (`max_concurrent_runs`, `monitoring.enabled`, ...):
the pages, the API, the command line and the simulator all edit through these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queueing.engine.types import ConfigError

from .export import to_instance_dict
from .model import (
    DEFAULT_COORDINATOR,
    QUEUED_COORDINATOR,
    InstanceConfig,
    InvalidSetting,
    build,
    normalized,
)
from .reader import parse_instance_dict
from .specs import QUEUE_ONLY, SETTING_NAMES, SPECS
from .values import convert, to_yaml_value


def config_to_flat(config: InstanceConfig) -> dict[str, Any]:
    """Every setting by name (`SETTING_NAMES` order), as plain YAML-shaped values.

    Tag limits are lists of `{key, limit, value?}` maps, so each value passes `validate_setting`.
    """
    values = normalized(config)
    return {name: to_yaml_value(name, values[name]) for name in SETTING_NAMES}


def config_sources(config: InstanceConfig) -> dict[str, str | None]:
    """For each setting, the YAML path it was read from, or None (a default, or set in code)."""
    sources = config.layout.sources if config.layout else {}
    return {name: sources.get(name) for name in SETTING_NAMES}


def validate_setting(name: str, value: Any) -> ConfigError | None:
    """Validate one edited value (YAML-shaped, as from `config_to_flat`) with the file's rules.

    The error's path is the setting name (`tag_limits[1].limit`). Rules that involve several
    settings (conflicts, granularity vs blocking) need the whole file: see `check_config`.
    """
    if name not in SPECS:
        return ConfigError(name, f"unknown setting; known settings: {', '.join(SETTING_NAMES)}")
    errors: list[ConfigError] = []
    convert(name, name, value, errors)
    return errors[0] if errors else None


def apply_setting(config: InstanceConfig, name: str, value: Any) -> InstanceConfig:
    """A copy of `config` with one setting changed; raises `InvalidSetting` if it is invalid.

    The layout is kept, so export writes the value where the file had it.
    """
    error = validate_setting(name, value)
    if error is not None:
        raise InvalidSetting(error)
    values = normalized(config)
    new = convert(name, name, value, [])
    if config.run_coordinator == "default" and name in QUEUE_ONLY:
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
    return build(values, config.ignored, config.layout, config.run_coordinator)


def apply_settings(
    config: InstanceConfig, changes: Mapping[str, Any]
) -> tuple[InstanceConfig, tuple[ConfigError, ...]]:
    """`config` with every setting of `changes` applied, and what was refused: each invalid
    setting (its path is the setting name), or else the rules that involve several settings
    (`check_config`, YAML paths). With any error the configuration returned is `config`."""
    errors: list[ConfigError] = []
    changed = config
    for name, value in changes.items():
        try:
            changed = apply_setting(changed, name, value)
        except InvalidSetting as exc:
            errors.append(exc.error)
    if not errors:
        errors.extend(check_config(changed))
    return (config, tuple(errors)) if errors else (changed, ())


def check_config(config: InstanceConfig) -> tuple[ConfigError, ...]:
    """All errors of the file `config` would export to (cross-setting rules included)."""
    return parse_instance_dict(to_instance_dict(config), env={}).errors
