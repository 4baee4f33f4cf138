"""Pure rules of pools (SEMANTICS 3.3-3.4): their limits, the rows a default limit creates,
what the queue sees of them, what a step demands of them (weights and several pools), the
claim rule and the order waiters are served in, and when slots may be freed by hand. The
tick, the simulator, the claims and the pages all follow these.

The claim rule (`pool_standings`, `claimable`) is the one home of how slots are granted;
the PostgreSQL function of migration 0006 repeats it in SQL on purpose (one round trip).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .types import IN_PROGRESS_STATUSES, INT32_MAX, INT32_MIN, PoolState, RunStatus

# The reference lets DAGSTER_MAX_GLOBAL_OP_CONCURRENCY_LIMIT override this; we do not.
MAX_POOL_LIMIT = 1000

# Waiters are served in this order: (field, direction) of their pool entry, most
# significant first. Every field is the same on all the entries of one step (they are
# written together, by one claim), so the order is one total order of steps, the same in
# every pool: that is what makes multi-pool claims free of starvation cycles (`claimable`).
# The PostgreSQL function of migration 0006 spells the same order in SQL (step keys
# compared by code point, `COLLATE "C"`, as Python compares strings).
WAITER_ORDER: tuple[tuple[str, str], ...] = (
    ("priority", "desc"),
    ("enqueued_at", "asc"),
    ("run_id", "asc"),
    ("step_key", "asc"),
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
    priority: int, enqueued_at: float, run_id: int, step_key: str
) -> tuple[int | float | str, ...]:
    """`WAITER_ORDER` as a sort key: sorted ascending, the first is served first (priority
    descending, then oldest, then run, then step key)."""
    values: dict[str, int | float | str] = {
        "priority": priority,
        "enqueued_at": enqueued_at,
        "run_id": run_id,
        "step_key": step_key,
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


# --- what a step demands ----------------------------------------------------------------

# A step's demand: pool key -> slots it claims of that pool (empty: it uses no pool).
Demand = Mapping[str, int]

DEFAULT_POOL_SLOTS = 1
DEMAND_RULE = (
    f"a step claims 1 to {MAX_POOL_LIMIT} slots of each of its pools: "
    "pool='warehouse' with pool_slots=3, or pools={'warehouse': 2, 'partner_api': 1}"
)


def slots_problem(slots: object) -> str | None:
    """Why `slots` is not a valid number of slots for one step of one pool, or None."""
    if isinstance(slots, bool) or not isinstance(slots, int):
        return f"expected an integer, got {slots!r}: {DEMAND_RULE}"
    if not 1 <= slots <= MAX_POOL_LIMIT:
        return f"{slots} is out of range: {DEMAND_RULE}"
    return None


def step_demand(pool: str | None, pool_slots: object, pools: object) -> dict[str, int]:
    """The demand of a step declared with `pool=` (and `pool_slots=`) or `pools=`.

    `pool` is the pool already resolved (from `pool=` or the legacy concurrency-key tag),
    a non-empty string or None. Raises ValueError naming the argument and the rule: `pool=`
    and `pools=` together, `pool_slots=` without a pool or with `pools=`, slots that are not
    an integer from 1 to MAX_POOL_LIMIT, or `pools=` that is not a non-empty mapping of
    non-empty pool keys. The result is sorted by pool key.
    """
    if pools is None:
        if pool is None:
            if pool_slots is not None:
                raise ValueError(f"pool_slots={pool_slots!r} needs a pool: {DEMAND_RULE}")
            return {}
        slots = DEFAULT_POOL_SLOTS if pool_slots is None else pool_slots
        problem = slots_problem(slots)
        if problem:
            raise ValueError(f"pool_slots: {problem}")
        assert isinstance(slots, int)  # checked by slots_problem
        return {pool: slots}
    if pool is not None:
        raise ValueError(
            f"pool={pool!r} and pools= are mutually exclusive (the legacy concurrency-key tag "
            f"counts as pool=): give one; {DEMAND_RULE}"
        )
    if pool_slots is not None:
        raise ValueError(
            f"pool_slots= goes with pool=; with pools= give each pool its slots: {DEMAND_RULE}"
        )
    if not isinstance(pools, Mapping) or not pools:
        raise ValueError(f"pools must be a non-empty mapping, got {pools!r}: {DEMAND_RULE}")
    demand: dict[str, int] = {}
    for key, slots in pools.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"pools: a pool key must be a non-empty string, got {key!r}")
        problem = slots_problem(slots)
        if problem:
            raise ValueError(f"pools[{key!r}]: {problem}")
        demand[key] = slots
    return dict(sorted(demand.items()))


# --- the claim rule ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimEntry:
    """A step's entry in one pool (a stored claim): waiting, or holding `slots` slots."""

    pool: str
    run_id: int  # the run's database id: part of the waiter order
    step_key: str
    priority: int
    enqueued_at: float
    slots: int
    claimed: bool

    @property
    def waiter(self) -> tuple[int, str]:
        return (self.run_id, self.step_key)

    @property
    def order(self) -> tuple[int | float | str, ...]:
        return waiter_sort_key(self.priority, self.enqueued_at, self.run_id, self.step_key)


@dataclass(frozen=True)
class PoolStanding:
    """Where one step stands in one of its pools, as a claim sees it under the pool's lock.

    `held`: slots held by steps. `ahead`: slots reserved by the waiters served before this
    step (`WAITER_ORDER`) that can ever run. `limit` None: the pool has no limit row.
    """

    key: str
    slots: int
    limit: int | None
    held: int = 0
    ahead: int = 0
    holders: tuple[str, ...] = ()

    @property
    def free(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.held)

    @property
    def fits(self) -> bool:
        """The step may take its slots of this pool now: they fit beside the slots held
        and the slots reserved for every waiter ahead of it."""
        return self.limit is None or self.held + self.ahead + self.slots <= self.limit

    @property
    def never_fits(self) -> bool:
        """The step needs more slots than the pool has: it can never run (until the limit
        is raised), and it reserves nothing for itself in any pool meanwhile."""
        return self.limit is not None and self.slots > self.limit

    def phrase(self) -> str:
        """ "3 of warehouse (2 free)", as `demand_text` joins them."""
        head = f"{self.slots} of {self.key}"
        if self.limit is None:
            return f"{head} (no limit)"
        if self.never_fits:
            return f"{head} (its limit is {self.limit}: can never fit)"
        if self.fits:
            return f"{head} (free)"
        free = f"{self.free} free"
        if self.ahead:
            free += f", {self.ahead} reserved for steps ahead"
        return f"{head} ({free})"


def can_ever_run(demand: Demand, limits: Mapping[str, int]) -> bool:
    """Whether every pool of `demand` that has a limit has at least the slots it needs."""
    return all(slots <= limits[key] for key, slots in demand.items() if key in limits)


def pool_standings(
    demand: Demand,
    order: tuple[int | float | str, ...],
    entries: Iterable[ClaimEntry],
    limits: Mapping[str, int],
) -> tuple[PoolStanding, ...]:
    """The standing of a step (`demand`, its `order` = `ClaimEntry.order`) in each of its
    pools, sorted by key, from the stored `entries` of those pools and of their waiters'
    other pools, and the `limits` of every pool with a row (absent: unlimited).

    A waiter ahead that can never run (`can_ever_run` false: it needs more than some
    limit) reserves nothing, so it cannot block the pool for the steps behind it.
    """
    entries = list(entries)
    wanted: dict[tuple[int, str], dict[str, int]] = {}
    for entry in entries:
        wanted.setdefault(entry.waiter, {})[entry.pool] = entry.slots
    result = []
    for key, slots in sorted(demand.items()):
        limit = limits.get(key)
        held = ahead = 0
        for entry in entries:
            if entry.pool != key:
                continue
            if entry.claimed:
                held += entry.slots
            elif entry.order < order and can_ever_run(wanted[entry.waiter], limits):
                ahead += entry.slots
        result.append(PoolStanding(key, slots, limit, held, ahead))
    return tuple(result)


def claimable(standings: Iterable[PoolStanding]) -> bool:
    """The claim rule: a step takes all of its slots, in every pool, at once, or none.

    It may claim when, in each of its pools, its slots fit beside the slots held and the
    slots reserved for the waiters ahead of it (`PoolStanding.fits`). Hence:

    - no pool is ever oversubscribed (held + slots <= limit, checked under the pool locks);
    - no step holds one pool while it waits for another (no hold-and-wait: no deadlock);
    - within a priority nothing overtakes: a waiter behind may use only the slots left
      after every waiter ahead has its slots reserved, so a heavy or multi-pool step at the
      head is never starved by lighter ones. The first waiter of the one global order
      (`WAITER_ORDER`) has nothing reserved ahead of it in any pool, and no later step can
      take slots it needs, so it runs as soon as the holders of its pools free enough.
      Higher priority is served first, as in Dagster: an endless stream of higher-priority
      steps can keep a lower one waiting.
    """
    return all(standing.fits for standing in standings)


def demand_text(standings: Iterable[PoolStanding]) -> str:
    """What a step waits for, in full: "needs 3 of warehouse (2 free) and 1 of
    partner_api (free)". The run page, the Queued tab, `explain` and the pool page say it."""
    phrases = [standing.phrase() for standing in standings]
    if not phrases:
        return "needs no pool slot"
    if len(phrases) == 1:
        return f"needs {phrases[0]}"
    return f"needs {', '.join(phrases[:-1])} and {phrases[-1]}"


# The place in line of a step that has not asked yet: behind every waiter.
LAST_IN_LINE: tuple[int | float | str, ...] = (float("inf"),)


def explain_demand(
    demand: Demand,
    entries: Iterable[ClaimEntry],
    limits: Mapping[str, int],
    order: tuple[int | float | str, ...] = LAST_IN_LINE,
) -> str:
    """What a step needs of its pools and what stands in its way, in full: "needs 3 of
    warehouse (2 free) and 1 of partner_api (free)".

    The one description of a step's demand that the run page, the Queued tab, `manage.py
    explain` and the pool pages show, by the claim rule itself (`pool_standings`). `entries`
    are the stored entries of the step's pools and of their waiters' other pools, `limits`
    the limits of the pools that have one; `order` is the step's place in line
    (`ClaimEntry.order` of its entry) when it waits, else it is placed behind every waiter,
    as a step that asks now would be.
    """
    return demand_text(pool_standings(demand, order, entries, limits))


def demand_exceeds_limits(demand: Demand, limits: Mapping[str, int]) -> list[str]:
    """One line per pool of `demand` whose limit is below what the step needs (it can never
    run): the config linter, the doctor and the run page say these."""
    return [
        f"needs {slots} slots of pool {key}, whose limit is {limits[key]}: it can never run"
        for key, slots in sorted(demand.items())
        if key in limits and slots > limits[key]
    ]
