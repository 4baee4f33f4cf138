"""Pure rules of pools (SEMANTICS 3.3-3.4): their limits, the rows a default limit creates,
what the queue sees of them, the order waiters are served in, and when slots may be freed
by hand. The tick, the simulator, the claims and the pages all follow these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .types import IN_PROGRESS_STATUSES, INT32_MAX, INT32_MIN, PoolState, RunStatus

# The reference lets DAGSTER_MAX_GLOBAL_OP_CONCURRENCY_LIMIT override this; we do not.
MAX_POOL_LIMIT = 1000

# Waiters of a pool are served in this order: (field, direction) of their pool entry, most
# significant first. `services.pools` builds its "ranked before" query from it; the
# PostgreSQL function of migration 0002 spells the same order in SQL.
WAITER_ORDER: tuple[tuple[str, str], ...] = (
    ("priority", "desc"),
    ("enqueued_at", "asc"),
    ("id", "asc"),
)


@dataclass(frozen=True)
class PoolRow:
    """A stored pool limit; `follows_default` rows change with `default_limit`."""

    key: str
    limit: int
    follows_default: bool = False


@dataclass(frozen=True)
class PoolUsage:
    """Step entries of one pool: holding a slot (`holders`, one run id per slot) or waiting."""

    pending: int = 0
    holders: tuple[str, ...] = ()


def claim_priority(run_priority: int, op_priority: int) -> int:
    """Priority of a step's waiter row: run priority plus the step's op priority.

    Raises ValueError when the sum leaves the signed 32-bit range (the step errors).
    """
    priority = run_priority + op_priority
    if not INT32_MIN <= priority <= INT32_MAX:
        raise ValueError(
            f"claim priority {run_priority} (run) + {op_priority} (op) = {priority} is outside "
            f"the signed 32-bit range {INT32_MIN}..{INT32_MAX}"
        )
    return priority


def waiter_sort_key(
    priority: int, enqueued_at: float, waiter_id: int | str
) -> tuple[int | float | str, ...]:
    """`WAITER_ORDER` as a sort key: sorted ascending, the first is served first (priority
    descending, then oldest, then id)."""
    values: dict[str, int | float | str] = {
        "priority": priority,
        "enqueued_at": enqueued_at,
        "id": waiter_id,
    }
    key: list[int | float | str] = []
    for name, direction in WAITER_ORDER:
        value = values[name]
        if direction == "desc":
            assert not isinstance(value, str), f"{name} cannot be served descending"
            value = -value
        key.append(value)
    return tuple(key)


def validate_pool_limit(n: int) -> None:
    """Raise ValueError unless `n` is a valid number of slots for a pool (0..MAX_POOL_LIMIT)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"a pool limit must be an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"cannot have a negative number of slots (got {n})")
    if n > MAX_POOL_LIMIT:
        raise ValueError(f"cannot have more than {MAX_POOL_LIMIT} slots (got {n})")


def row_under_default(key: str, row: PoolRow | None, default: int | None) -> PoolRow | None:
    """The row of pool `key` once the default limit is applied to it (Q3): a pool without a
    row gets one that follows the default, a row following the default takes its value, and
    without a default such a row goes (the pool is unlimited). Explicit limits stay."""
    if row is None:
        return None if default is None else PoolRow(key, default, follows_default=True)
    if row.follows_default and row.limit != default:
        return None if default is None else replace(row, limit=default)
    return row


def rows_at_tick(
    rows: Mapping[str, PoolRow], default: int | None, demanded: Iterable[str]
) -> dict[str, PoolRow]:
    """`rows` after the default limit is applied to the pools `demanded` by queued runs, as a
    tick does before it evaluates (and a claim does for its own pool)."""
    result = dict(rows)
    for key in demanded:
        row = row_under_default(key, result.get(key), default)
        if row is None:
            result.pop(key, None)
        else:
            result[key] = row
    return result


def rows_after_default_change(
    rows: Mapping[str, PoolRow], default: int | None
) -> dict[str, PoolRow]:
    """`rows` once the default limit became `default` (Q7): every row that follows the
    default moves with it at once, or goes when there is no default any more."""
    return rows_at_tick(rows, default, [key for key, row in rows.items() if row.follows_default])


def pool_states(
    rows: Mapping[str, PoolRow], usage: Mapping[str, PoolUsage]
) -> dict[str, PoolState]:
    """What the queue sees of pools: one state per limit row, with its step entries (held
    and waiting) and the runs holding its slots. A pool without a row is unlimited."""
    return {
        key: PoolState(
            key=key,
            limit=row.limit,
            pending=usage.get(key, PoolUsage()).pending,
            holders=usage.get(key, PoolUsage()).holders,
        )
        for key, row in rows.items()
    }


def free_run_refusal(run_id: str, status: RunStatus) -> str | None:
    """Why the slots of a whole run may not be freed by hand now, or None.

    While a run is in progress its steps may still use their slots, so a person frees them
    by terminating it (a forced terminate frees them too); one step's slot may always be
    freed, which is how a stuck step is released. Monitoring's release of finished runs'
    slots does not ask.
    """
    if status in IN_PROGRESS_STATUSES:
        return (
            f"run {run_id} is {status}: its steps may still use the slots; terminate it "
            "first (force frees its slots too)"
        )
    return None
