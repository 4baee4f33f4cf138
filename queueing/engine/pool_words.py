"""The words every page, command and check uses about a pool's limit and usage.

One home, so a pool at limit 0 reads "closed" on the Overview, the run page, the Queued
tab, the pool page and in the doctor alike, and no count ever reads as more holders than
slots: the queue's dequeue count (steps of started runs holding *or waiting for* a slot,
plus the runs it lets through this tick) is said to *count against* the slots, while
"held" is only ever said of steps that hold one.
"""

from __future__ import annotations

from collections.abc import Iterable

CLOSED = "closed"
NO_LIMIT = "no limit"


def is_closed(limit: int | None) -> bool:
    """A pool at limit 0: no step using it may start (an unlimited pool is never closed)."""
    return limit == 0


def limit_unused(limit: int | None, used_by_code: bool, held: int, waiting: int) -> bool:
    """A limit no loaded code uses and no step claims: likely a typo of a pool key."""
    return limit is not None and not used_by_code and not held and not waiting


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def limit_words(limit: int | None, from_default: bool = False) -> str:
    """ "no limit", "closed (limit 0)", "limit 3", with " (default)" when the limit follows
    `default_limit`."""
    if limit is None:
        return NO_LIMIT
    text = f"{CLOSED} (limit 0)" if is_closed(limit) else f"limit {limit}"
    return f"{text} (default)" if from_default else text


def usage_words(limit: int | None, held: int, waiting: int) -> str:
    """Slots held and steps waiting, never more holders than slots: a pool's state in one line.

    `held` may exceed `limit` only after the limit was lowered under its holders; the
    sentence then says so instead of "5 of 2".
    """
    waits = f"; {plural(waiting, 'step')} waiting" if waiting else ""
    if limit is None:
        return f"{NO_LIMIT}: {plural(held, 'step')} running in it{waits}"
    if is_closed(limit):
        if held:
            return (
                f"{CLOSED} (limit 0): no step may start; {plural(held, 'step')} that started "
                f"before it closed still hold slots{waits}"
            )
        return f"{CLOSED} (limit 0): no step may start{waits}"
    if held > limit:
        return (
            f"all {plural(limit, 'slot')} held, and {held - limit} more step(s) that started "
            f"before the limit was lowered{waits}"
        )
    return f"{held} of {plural(limit, 'slot')} held{waits}"


def dequeue_count_words(key: str, count: int, limit: int, buffer: int = 0) -> str:
    """The run queue's pool gate (granularity op): `count` steps of started runs (holding or
    waiting for a slot, or let through this tick) against `limit` slots (+ the slot buffer)."""
    slots = limit - buffer
    if is_closed(slots) and buffer <= 0:
        return f"pool {key} is {CLOSED} (limit 0): runs using it stay queued"
    room = plural(slots, "slot")
    if buffer:
        sign = "+" if buffer > 0 else "-"
        room += f" {sign} buffer {abs(buffer)}"
    counted = f"{plural(count, 'step')} of started runs (holding or waiting) {'counts' if count == 1 else 'count'} against its {room}"
    if count >= limit:
        return f"pool {key} is full: {counted}"
    return f"pool {key}: {counted}"


def run_count_words(key: str, count: int, limit: int) -> str:
    """The run queue's pool gate (granularity run): runs in progress that use the pool."""
    if is_closed(limit):
        return f"pool {key} is {CLOSED} (limit 0): runs using it stay queued"
    return f"pool {key}: {count} of {plural(limit, 'run')} using it in progress"


def step_wait_words(
    key: str,
    limit: int | None,
    held: int,
    holders: Iterable[str],
    own_run: str | None = None,
    ahead: int = 0,
) -> str:
    """Why one step of a started run waits for a slot of `key`; `holders` are run ids, one
    per slot held (shown as their first 8 characters), `own_run` the step's own run, which
    may hold slots of the pool through its other steps."""
    if is_closed(limit):
        return f"waiting for pool {key}: {CLOSED} (limit 0), no step may start"
    ids = list(holders)
    own = sum(1 for h in ids if h == own_run) if own_run else 0
    others = [h for h in ids if h != own_run]
    text = f"waiting for pool {key}: {usage_words(limit, held, 0)}"
    parts = []
    if own:
        parts.append(f"{plural(own, 'other step')} of this run")
    if others:
        shown = ", ".join(dict.fromkeys(h[:8] for h in others[:3]))
        more = len(others) - min(len(others), 3)
        parts.append(f"runs {shown}" + (f" +{more} more" if more else ""))
    if parts:
        text += " by " + " and ".join(parts)
    if ahead:
        text += f"; {plural(ahead, 'step')} ahead in line"
    return text
