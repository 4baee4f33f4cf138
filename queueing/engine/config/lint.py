"""Valid but dangerous settings (SEMANTICS 7, tooling item 3): warnings, never errors."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from queueing.engine.types import CONCURRENCY_KEY_TAG, ConfigError, FairShare


def lint(values: Mapping[str, Any], sources: Mapping[str, str]) -> list[ConfigError]:
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
        if limit.distinct_values:
            warnings.append(
                ConfigError(
                    f"{tags_path}[{index}].value",
                    "a distinct-values limit is concurrency-ui's own: Dagster 1.13 refuses this "
                    "entry (keep it out of the file Dagster reads)",
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
    warnings.extend(_stale_rule_warnings(values, sources))
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


def _stale_rule_warnings(
    values: Mapping[str, Any], sources: Mapping[str, str]
) -> list[ConfigError]:
    """Queue-age bounds (engine/staleness.py) that can never cancel a run."""
    found: list[ConfigError] = []
    overall = values["extra.max_queued_seconds"]
    bounds = values["extra.max_queued_seconds_by_tag"]
    if (overall or bounds) and not values["monitoring.enabled"]:
        found.append(
            ConfigError(
                sources.get("extra.max_queued_seconds", "extra.max_queued_seconds"),
                "run monitoring is off: runs queued too long are not canceled",
            )
        )
    path = sources.get("extra.max_queued_seconds_by_tag", "extra.max_queued_seconds_by_tag")
    for index, bound in enumerate(bounds):
        if overall and bound.seconds >= overall:
            found.append(
                ConfigError(
                    f"{path}[{index}].seconds",
                    f"{bound.seconds} is not shorter than max_queued_seconds ({overall}): "
                    "the shortest bound that applies wins, so this one never cancels a run",
                )
            )
    return found


def fair_share_warnings(
    rule: FairShare | None,
    queued: Mapping[str | None, int],
    in_progress: Mapping[str | None, int],
    path: str,
) -> list[ConfigError]:
    """Fair share (engine/fair_share.py) against the runs there are: a key that none of the
    queued runs carries (they all form one group: the queue keeps Dagster's order), and a
    weight for a value that no queued or in-progress run carries (it changes nothing).

    `queued` and `in_progress` count runs by their value of the key (None: without it);
    `path` is where the rule is written (`concurrency_ui.fair_share`). An empty queue says
    nothing about the key."""
    if rule is None:
        return []
    found: list[ConfigError] = []
    total = sum(queued.values())
    if total and not any(n for value, n in queued.items() if value is not None):
        found.append(
            ConfigError(
                f"{path}.key",
                f"none of the {total} queued runs carries the tag {rule.key}: fair share has "
                "nothing to interleave and the queue keeps Dagster's order",
            )
        )
    carried = sorted(
        {v for counts in (queued, in_progress) for v, n in counts.items() if v is not None and n}
    )
    for value, _ in rule.weights:
        if value in carried:
            continue
        message = (
            f"no queued or in-progress run carries {rule.key}={value}: this weight changes nothing"
        )
        close = difflib.get_close_matches(value, carried, n=1, cutoff=0.75)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        found.append(ConfigError(f"{path}.weights.{value}", message))
    return found
