"""Pure rules of pool slot claims (SEMANTICS 3.3-3.4)."""

from __future__ import annotations

from .types import INT32_MAX, INT32_MIN

# The reference lets DAGSTER_MAX_GLOBAL_OP_CONCURRENCY_LIMIT override this; we do not.
MAX_POOL_LIMIT = 1000


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
) -> tuple[int, float, int | str]:
    """Sort key serving waiters by priority descending, then oldest first, then id."""
    return (-priority, enqueued_at, waiter_id)


def validate_pool_limit(n: int) -> None:
    """Raise ValueError unless `n` is a valid number of slots for a pool (0..MAX_POOL_LIMIT)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"a pool limit must be an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"cannot have a negative number of slots (got {n})")
    if n > MAX_POOL_LIMIT:
        raise ValueError(f"cannot have more than {MAX_POOL_LIMIT} slots (got {n})")
