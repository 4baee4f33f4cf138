"""Writing a configuration back as `dagster.yaml`, in the shape it was read in."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from queueing.engine.redaction import mask_secrets

from .model import (
    COORDINATORS,
    DEFAULT_COORDINATOR,
    DEFAULT_VALUES,
    EXPORT_ORDER,
    QUEUED_COORDINATOR,
    ConfigLayout,
    Coordinator,
    InstanceConfig,
    normalized,
    private_module,
)
from .specs import (
    BLOCKING,
    CONFLICT_GROUP,
    EXTRA_KEYS,
    LEGACY_KEYS,
    LEGACY_SUFFIX,
    MODERN_PATHS,
    MONITORING_KEYS,
    QUEUE_ONLY,
    SETTING_NAMES,
)
from .values import to_yaml_value


def _home_paths(prefix: str, modern: bool) -> dict[str, str]:
    """Where each setting but `default_pool_limit` is written; `prefix` is the legacy block."""
    paths = {
        name: MODERN_PATHS[name] if modern else f"{prefix}.{LEGACY_SUFFIX[name]}"
        for name in CONFLICT_GROUP
    }
    paths["granularity"] = "concurrency.pools.granularity"
    paths["block_op_concurrency_limited_runs"] = f"{prefix}.{BLOCKING}.enabled"
    for key, (name, _) in LEGACY_KEYS.items():
        paths.setdefault(name, f"{prefix}.{key}")
    paths.update({name: f"run_monitoring.{key}" for key, name in MONITORING_KEYS.items()})
    paths.update({name: f"concurrency_ui.{key}" for key, name in EXTRA_KEYS.items()})
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


def _coordinator_block(kind: Coordinator, layout: ConfigLayout) -> dict[str, Any]:
    """`{module, class}` as the file named them, if they name a coordinator of `kind`."""
    cls = layout.coordinator_class
    known = COORDINATORS.get(cls or "")
    if cls is None or known is None or known[0] != kind:
        cls = QUEUED_COORDINATOR if kind == "queued" else DEFAULT_COORDINATOR
        known = COORDINATORS[cls]
    module = layout.coordinator_module
    if module is None or private_module(module) not in known[1]:
        module = known[1][1]  # dagster._core.run_coordinator: both classes are there
    return {"module": module, "class": cls}


def _placement(
    config: InstanceConfig,
) -> tuple[ConfigLayout, dict[str, Any], list[str], dict[str, str], bool]:
    """(layout, values, the settings written, the YAML path of every setting, no queue)."""
    layout = config.layout or _modern_layout()
    sources = layout.sources
    values = normalized(config)
    no_queue = config.run_coordinator == "default"
    if no_queue:
        # The effective "no limit" values come from the coordinator, not from the file: write
        # back what the file said, and no queue setting it did not have.
        for name in QUEUE_ONLY:
            values[name] = layout.no_queue_values.get(name, DEFAULT_VALUES[name])
    written = [
        name
        for name in SETTING_NAMES
        # Dagster refuses null: a setting without a value is left out.
        if values[name] is not None
        and (name in sources or values[name] != DEFAULT_VALUES[name])
        and not (no_queue and name in QUEUE_ONLY and name not in layout.no_queue_values)
    ]

    prefix = "run_coordinator.config" if layout.legacy_block == "run_coordinator" else "run_queue"

    def sourced_under(name: str, block: str) -> bool:
        return sources.get(name, "").startswith(block + ".")

    legacy_group = any(sourced_under(name, prefix) for name in CONFLICT_GROUP)
    needs_pools = "granularity" in written or any(
        sourced_under(name, "concurrency.pools") for name in ("default_pool_limit", "slot_buffer")
    )
    runs_sourced = any(sourced_under(name, "concurrency.runs") for name in CONFLICT_GROUP)
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

    return layout, values, written, paths, no_queue


def setting_paths(config: InstanceConfig) -> dict[str, str]:
    """The YAML path under which each setting is (or, at its default, would be) written in
    the deployment's `dagster.yaml`: the block the file used (`run_queue` by default, or
    `run_coordinator.config`, or `concurrency`), as the export writes it."""
    return _placement(config)[3]


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
    layout, values, written, paths, no_queue = _placement(config)
    out: dict[str, Any] = {}
    if layout.legacy_block == "run_coordinator" or no_queue:
        out["run_coordinator"] = _coordinator_block(config.run_coordinator, layout)
    elif layout.legacy_block == "run_queue":
        out["run_queue"] = {}
    for name in written:
        _put(out, paths[name], to_yaml_value(name, values[name]))

    known_order = [key for key in layout.section_order if key in out or key in config.ignored]
    for key in (*EXPORT_ORDER, *config.ignored):
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
