"""What-if: read the queue as the next tick will, and ask the engine about a proposed change.

Nothing here writes: the proposal is validated with the same rules as a real edit (setting
by setting, a whole `dagster.yaml`, or pool limits) and only simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone

from ..engine import simulate as engine
from ..engine.config.flat import apply_settings
from ..engine.config.model import InstanceConfig
from ..engine.run_queue import decide
from ..engine.types import ACTIVE_STATUSES, Gate, Launch, TickDecision
from ..errors import InvalidInput
from ..models import Run
from . import pools, staleness
from .config import check_yaml, current_config
from .run_queue import backlog_turns, run_infos


def queue_state(
    config: InstanceConfig | None = None,
    now: datetime | None = None,
    bounds: tuple[int | None, ...] = (),
) -> engine.QueueState:
    """The queue, active runs, pool rows and pool entries as stored now (four queries), fair
    share's memory of the backlog (with the rule), and the ages of the runs queued at least
    the shortest of `bounds` and of the configuration's queue-age bounds."""
    config = config or current_config()
    at = timezone.now() if now is None else now
    queued = run_infos(Run.objects.queued().in_queue_order())
    active = run_infos(Run.objects.filter(status__in=list(ACTIVE_STATUSES)))
    shortest = [b for b in (config.extra.stale_rules.shortest(), *bounds) if b is not None]
    return engine.QueueState(
        settings=config.queue,
        default_pool_limit=config.default_pool_limit,
        queued=queued,
        active=active,
        pool_rows=pools.limit_rows(),
        pool_usage=pools.claim_usage(),
        now=at.timestamp(),
        fair_finished=backlog_turns(config),
        stale_rules=config.extra.stale_rules,
        ages=staleness.queued_ages(min(shortest), at) if shortest else [],
    )


def next_tick(now: datetime | None = None) -> TickDecision:
    """What the next tick will launch if nothing changes before it."""
    return decide(engine.next_tick_snapshot(queue_state(now=now)))


def proposed_config(
    settings: Mapping[str, Any] | None = None,
    yaml_text: str | None = None,
    trusted: bool = False,
) -> InstanceConfig:
    """The configuration a change would produce, validated like a real edit (InvalidInput).

    `{env: VAR}` in `yaml_text` is read from the server's environment only when `trusted`
    (an admin); otherwise it is refused with a message asking for the number."""
    if yaml_text is not None:
        result = check_yaml(yaml_text, trusted)
        if result.config is None:
            raise InvalidInput(result.errors)
        config = result.config
    else:
        config = current_config()
    if settings:
        if not isinstance(settings, Mapping):
            raise InvalidInput.one("settings", "expected an object of setting name: value")
        config, errors = apply_settings(config, settings)
        if errors:
            raise InvalidInput(errors)
    return config


def simulate(
    settings: Mapping[str, Any] | None = None,
    yaml_text: str | None = None,
    pool_limits: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    trusted: bool = False,
) -> engine.Simulation:
    """Predict the next tick under a change: settings by name (as the configuration API
    names them, e.g. `{"max_concurrent_runs": 3}`), a whole `dagster.yaml`, and/or pool
    limits (`{"api": 2}`; null removes a pool's limit). Raises InvalidInput, like the edit.
    `trusted` (an admin) lets `{env: VAR}` in the YAML read the server's environment."""
    current = current_config()
    changed = yaml_text is not None or bool(settings)
    config = proposed_config(settings, yaml_text, trusted) if changed else current
    limits: dict[str, int | None] = {}
    if pool_limits:
        if not isinstance(pool_limits, Mapping):
            raise InvalidInput.one("pools", "expected an object of pool key: limit")
        for key, limit in pool_limits.items():
            key = pools.validate_key(key, "pools")
            limits[key] = None if limit is None else pools.parse_limit(limit, f"pools.{key}")
    fair = config.queue.fair_share
    proposal = engine.Proposal(
        settings=config.queue,
        change_default_pool_limit=config.default_pool_limit != current.default_pool_limit,
        default_pool_limit=config.default_pool_limit,
        pool_limits=limits,
        # A proposal that turns fair share on or changes its key has its own memory.
        fair_finished=None
        if fair is None or fair.key == getattr(current.queue.fair_share, "key", None)
        else backlog_turns(config),
        stale_rules=config.extra.stale_rules,
    )
    bounds = (config.extra.stale_rules.shortest(),)
    return engine.simulate(queue_state(current, now, bounds), proposal)


WAITING_SHOWN = 200


def _gate_or_none(gate: Gate | None) -> dict[str, Any] | None:
    return None if gate is None else gate.to_dict(holders=False)


def simulation_to_dict(simulation: engine.Simulation) -> dict[str, Any]:
    """JSON for the API and the page: launches now and after, the runs whose verdict
    changes (start, wait, or another rule: the diff against today), and what the change
    costs."""
    proposed = simulation.proposed
    changes = simulation.changes
    waiting_ids = [r for r in proposed.order if not isinstance(proposed.verdicts[r], Launch)]
    # A queue of 100k runs would make an unreadable answer: the head of the queue is enough.
    waiting = {
        run_id: proposed.verdicts[run_id].blocking.to_dict(holders=False)  # type: ignore[union-attr]
        for run_id in waiting_ids[:WAITING_SHOWN]
    }
    return {
        "launch_now": list(simulation.current.launch),
        "launch": list(simulation.launch),
        "newly_launched": list(simulation.newly_launched),
        "no_longer_launched": list(simulation.no_longer_launched),
        "waiting": waiting,
        "waiting_total": len(waiting_ids),
        "changes": [
            {
                "run_id": change.run_id,
                "today": _gate_or_none(change.today),
                "proposed": _gate_or_none(change.proposed),
            }
            for change in changes[:WAITING_SHOWN]
        ],
        "changes_total": len(changes),
        "over_limit": [
            {
                "rule": o.rule,
                "subject": o.subject,
                "count": o.count,
                "limit": o.limit,
                "holders": list(o.holders),
            }
            for o in simulation.over_limit
        ],
        "canceled_for_queue_age": [
            {
                "run_id": t.run_id,
                "rule": t.bound.rule,
                "subject": t.bound.subject,
                "seconds": t.bound.seconds,
                "waited_seconds": round(t.waited),
            }
            for t in simulation.overdue[:WAITING_SHOWN]
        ],
        "canceled_for_queue_age_total": len(simulation.overdue),
        "canceled_for_queue_age_now": len(simulation.overdue_now),
        "bottlenecks": [
            {
                "rule": b.rule,
                "subject": b.subject,
                "waiting_now": b.waiting_now,
                "waiting_after": b.waiting_after,
            }
            for b in simulation.bottlenecks
        ],
    }
