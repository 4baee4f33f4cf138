"""Reading and changing the deployment configuration (one validated `dagster.yaml` document)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from django.db import transaction

from ..engine.config.export import setting_paths, to_instance_dict
from ..engine.config.flat import apply_settings, config_sources, config_to_flat
from ..engine.config.lint import fair_share_warnings
from ..engine.config.model import InstanceConfig, ParseResult
from ..engine.config.reader import parse_instance_dict, parse_instance_yaml
from ..engine.types import ACTIVE_STATUSES, ConfigError, RunStatus
from ..errors import InvalidInput
from ..inputs import limits, server_environment
from ..models import AuditEntry, DeploymentSettings, Run
from . import pools, tick_requests
from .audit import record

DEFAULT_FLAT = config_to_flat(InstanceConfig())


def settings_row(lock: bool = False) -> DeploymentSettings:
    """The settings row, created on first use; `lock=True` takes its row lock.

    The dequeue tick holds this lock for its whole transaction, so configuration edits
    and ticks are serialised: a tick never sees half of an edit.
    """
    row, _ = DeploymentSettings.objects.get_or_create(pk=1)
    if lock:
        row = DeploymentSettings.objects.select_for_update().get(pk=1)
    return row


def config_from_row(row: DeploymentSettings) -> InstanceConfig:
    # The stored document is an export: `{env: VAR}` values were written resolved, so no
    # environment is needed to read it back.
    result = parse_instance_dict(row.document or {}, env=None)
    if result.config is None:
        # Only validated documents are ever stored. Refuse loudly rather than run on
        # guessed limits.
        raise InvalidInput(result.errors)
    return result.config


def current_config() -> InstanceConfig:
    return config_from_row(settings_row())


def sources() -> dict[str, str]:
    row = settings_row()
    flat = config_to_flat(config_from_row(row))
    return {name: row.sources.get(name, "default") for name in flat}


SOURCE_WORDS = {
    "default": "default",
    "imported": "file import",
    "browser": "dashboard edit",
    "api": "API edit",
    "cli": "command-line edit",
}
# Audit entries read to find who last edited each setting.
AUDIT_LOOKBACK = 500


def source_labels() -> dict[str, str]:
    """Per setting, where its value comes from in words: "default", "file import by alice",
    "dashboard edit by bob" (the actor of the latest audited change of it)."""
    raw = sources()
    who: dict[str, str] = {}
    entries = AuditEntry.objects.filter(action__in=["config.import", "config.update"])
    for actor, new in entries.values_list("actor", "new_value")[:AUDIT_LOOKBACK]:
        for name in new if isinstance(new, dict) else ():
            who.setdefault(name, actor)
    labels = {}
    for name, source in raw.items():
        words = SOURCE_WORDS.get(source, source)
        labels[name] = f"{words} by {who[name]}" if source != "default" and name in who else words
    return labels


# The setting name of `concurrency_ui.fair_share` (engine/config/specs.py).
FAIR_SHARE = "extra.fair_share"


def check_yaml(text: str, trusted: bool = True) -> ParseResult:
    """Parse a `dagster.yaml` through the input boundary. `{env: VAR}` values are read from
    the server's environment only for a `trusted` caller (an admin, the command line).
    Its warnings include the linter's about the runs there are (`run_warnings`)."""
    result = parse_instance_yaml(text, server_environment(trusted), limits())
    if result.config is None:
        return result
    return replace(result, warnings=(*result.warnings, *run_warnings(result.config)))


def run_warnings(config: InstanceConfig) -> list[ConfigError]:
    """The linter's warnings that need the runs (engine.config.lint.fair_share_warnings):
    a fair-share key no queued run carries, weights for values no run carries. Two grouped
    queries, only with fair share on."""
    rule = config.queue.fair_share
    if rule is None:
        return []
    by_status = Run.objects.filter(
        status__in=[RunStatus.QUEUED, *ACTIVE_STATUSES]
    ).count_by_tag_value(rule.key)
    queued: dict[str | None, int] = {}
    in_progress: dict[str | None, int] = {}
    for (status, value), n in by_status.items():
        counts = queued if status == RunStatus.QUEUED else in_progress
        counts[value] = counts.get(value, 0) + n
    path = setting_paths(config).get(FAIR_SHARE, FAIR_SHARE)
    return fair_share_warnings(rule, queued, in_progress, path)


def diff_flat(old: InstanceConfig, new: InstanceConfig) -> dict[str, tuple[Any, Any]]:
    before = config_to_flat(old)
    after = config_to_flat(new)
    return {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}


def load_yaml(text: str, actor: str, dry_run: bool = False) -> tuple[ParseResult, dict]:
    """Replace the configuration with an imported `dagster.yaml`.

    Returns the parse result and the diff {setting: (old, new)}. Raises InvalidInput, and
    changes nothing, when the file has any error. A file that gives back the stored document
    (e.g. the output of `instance show`) changes nothing either: no save, no audit entry.
    """
    result = check_yaml(text)
    if result.config is None:
        raise InvalidInput(result.errors)
    with transaction.atomic():
        row = settings_row(lock=True)
        old = config_from_row(row)
        diff = diff_flat(old, result.config)
        document = to_instance_dict(result.config)
        if dry_run or (not diff and document == row.document):
            return result, diff
        row.document = document
        # A setting the file writes (even to its default value) or that differs from the
        # default came from the file.
        flat = config_to_flat(result.config)
        written = {k for k, path in config_sources(result.config).items() if path}
        row.sources = {
            k: "imported" for k, v in flat.items() if k in written or DEFAULT_FLAT.get(k) != v
        }
        row.save()
        record(
            actor, "config.import", "deployment", _jsonable_diff(diff, 0), _jsonable_diff(diff, 1)
        )
        _after_change(old, result.config)
    return result, diff


def update_document(
    mutate: Callable[[dict], None], actor: str, source: str = "browser", dry_run: bool = False
) -> tuple[InstanceConfig, dict]:
    """Apply `mutate` to the stored document, validate the result like an import, and save.

    `source` ("browser", "api", "cli") is recorded as the origin of every changed setting.
    """
    with transaction.atomic():
        row = settings_row(lock=True)
        old = config_from_row(row)
        document = to_instance_dict(old)
        mutate(document)
        result = parse_instance_dict(document, env=None)
        if result.config is None:
            raise InvalidInput(result.errors)
        diff = diff_flat(old, result.config)
        if dry_run or not diff:
            return result.config, diff
        row.document = to_instance_dict(result.config)
        row.sources = {**row.sources, **{k: source for k in diff}}
        row.save()
        record(
            actor, "config.update", "deployment", _jsonable_diff(diff, 0), _jsonable_diff(diff, 1)
        )
        _after_change(old, result.config)
    return result.config, diff


# Computes the changes {setting name: value} from the current flat settings.
Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def edit_settings(
    edit: Edit | Mapping[str, Any],
    actor: str,
    source: str = "browser",
    dry_run: bool = False,
) -> tuple[InstanceConfig, dict]:
    """Change settings by name (`max_concurrent_runs`, `tag_limits`, `monitoring.enabled`, ...),
    for the dashboard, the API and the command line alike.

    `edit` is the changes, or a function of the current flat settings returning them; it
    runs under the settings row lock (`update_document`), so adding a tag limit never loses
    a concurrent one. The engine's setting rules (`apply_settings`) and writer put each value
    where the stored file keeps it (legacy `run_queue` or the `concurrency` block). Raises
    InvalidInput naming each refused setting, and changes nothing.
    """

    def mutate(document: dict) -> None:
        config = parse_instance_dict(document, env=None).config
        if config is None:  # the stored document is always valid (config_from_row)
            raise InvalidInput.one("configuration", "the stored configuration is invalid")
        changes = edit(config_to_flat(config)) if callable(edit) else edit
        if not isinstance(changes, Mapping):
            raise InvalidInput.one("settings", "expected an object of setting name: value")
        changed, errors = apply_settings(config, changes)
        if errors:
            raise InvalidInput(errors)
        document.clear()
        document.update(to_instance_dict(changed))

    return update_document(mutate, actor, source=source, dry_run=dry_run)


def _after_change(old: InstanceConfig, new: InstanceConfig) -> None:
    # A raised limit (runs, tags, pools) may let queued runs launch now.
    tick_requests.request_run_queue_tick()
    if old.default_pool_limit != new.default_pool_limit:
        # Pools that follow the default change with it at once, and waiters are woken (Q7).
        pools.apply_default_limit(new.default_pool_limit)


def _jsonable_diff(diff: dict[str, tuple[Any, Any]], side: int) -> dict[str, Any]:
    return {k: _jsonable(v[side]) for k, v in diff.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f: _jsonable(getattr(value, f)) for f in value.__dataclass_fields__}
    return value
