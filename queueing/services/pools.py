"""Pool limits and slot claims.

Every claim and free takes the pool row's lock (`SELECT … FOR UPDATE` on PostgreSQL, the
database write lock on SQLite, whose transactions begin IMMEDIATE), then counts holders and
marks its entry claimed in the same transaction. No two transactions can both see the last
free slot, so a pool is never oversubscribed however many workers and hosts claim.

A step may claim slots of several pools, with a weight in each: the claim locks every one
of its pool rows in key order (the one global order of every claim and free) and takes all
its slots or none (`engine.pools.claimable`), so no step holds a pool while it waits for
another and no two claims wait on each other's locks in a cycle.

On PostgreSQL a claim and a free are each one call of a server-side function (migrations
0006 and 0002) that runs the same steps, so the lock is held for the statements, not for a client
round trip per statement; SQLite, embedded in this process, runs the Python path below.
"""

from __future__ import annotations

import json
import select
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..engine import pools as engine
from ..engine.grammar import key_problem, parse_integer, shown
from ..engine.plan import pool_summary_from_dict
from ..engine.pools import MAX_POOL_LIMIT, validate_pool_limit
from ..engine.types import RunStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..models import Pool, PoolClaim, Run
from . import tick_requests
from .audit import record

NOTIFY_CHANNEL = "concurrency_ui_pools"


@dataclass(frozen=True)
class ClaimResult:
    """The answer of `try_claim`: claimed (every slot of every pool), or waiting, with the
    step's standing in each of its pools that has a limit."""

    claimed: bool
    standings: tuple[engine.PoolStanding, ...] = ()
    # The claiming step's run: its own other steps may be among the holders.
    run_id: str = ""

    @property
    def holders(self) -> tuple[str, ...]:
        """Runs holding slots of the step's pools, each once."""
        return tuple(dict.fromkeys(h for s in self.standings for h in s.holders))

    @property
    def message(self) -> str:
        """ "waiting: needs 3 of warehouse (2 free) and 1 of partner_api (free); held by
        runs …" (`engine.pools.demand_text`)."""
        if self.claimed:
            return ""
        text = f"waiting: {engine.demand_text(self.standings)}"
        own = sum(1 for s in self.standings for h in s.holders if h == self.run_id)
        others = [h for h in self.holders if h != self.run_id]
        parts = []
        if own:
            parts.append(f"{own} other step(s) of this run")
        if others:
            more = f" +{len(others) - 3} more" if len(others) > 3 else ""
            parts.append(f"runs {', '.join(h[:8] for h in others[:3])}{more}")
        if parts:
            text += "; held by " + " and ".join(parts)
        return text


# --- limits ---------------------------------------------------------------------------


def parse_limit(value: object, path: str = "limit") -> int:
    """A pool limit given as a number or as text (the command line, the simulator form),
    read by the one number grammar."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput.one(path, f"expected an integer between 0 and {MAX_POOL_LIMIT}")
    try:
        number = value if isinstance(value, int) else parse_integer(value)
    except ValueError as exc:
        raise InvalidInput.one(path, f"{exc}; a limit is between 0 and {MAX_POOL_LIMIT}") from None
    try:
        validate_pool_limit(number)
    except ValueError as exc:
        # The engine's message says which bound was crossed; add the whole rule.
        raise InvalidInput.one(path, f"{exc}: a limit is between 0 and {MAX_POOL_LIMIT}") from None
    return number


def validate_key(key: object, path: str = "key") -> str:
    """A pool key by the one key grammar (`grammar.key_problem`): refused, never trimmed, so
    the key stored is the key typed and stays addressable as /api/pools/{key}/."""
    problem = key_problem(key)
    if problem:
        raise InvalidInput.one(path, problem)
    return key  # type: ignore[return-value]


def set_limit(key: str, limit: object, actor: str) -> Pool:
    """Set an explicit limit; raising it lets waiting steps claim at once (they are notified)."""
    key = validate_key(key)
    number = parse_limit(limit)
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(key=key).first()
        old = None if pool is None else pool.limit
        if pool is None:
            pool = Pool.objects.create(key=key, limit=number, from_default=False)
        else:
            pool.limit = number
            pool.from_default = False
            pool.save(update_fields=["limit", "from_default", "updated_at"])
        record(actor, "pool.set_limit", key, old, number)
        notify(key)
        tick_requests.request_run_queue_tick()
    return pool


def delete_pool(key: str, actor: str) -> None:
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(key=key).first()
        if pool is None:
            raise NotFound(f"pool {key!r} does not exist")
        pool.delete()
        record(actor, "pool.delete", key, pool.limit, None)
        # Without a limit row the pool is unlimited: waiting steps may start now.
        notify(key)
        tick_requests.request_run_queue_tick()


def limit_rows(keys: Iterable[str] | None = None) -> dict[str, engine.PoolRow]:
    """The stored pool limits (of `keys` only, if given), as the engine reads them."""
    rows = Pool.objects.all() if keys is None else Pool.objects.filter(key__in=list(keys))
    return {
        key: engine.PoolRow(key, limit, follows)
        for key, limit, follows in rows.values_list("key", "limit", "from_default")
    }


def _write_rows(before: Mapping[str, engine.PoolRow], after: Mapping[str, engine.PoolRow]) -> None:
    """Store the rows the engine computed from `before`, touching only what changed; rows
    whose limit changed or that went are notified (their waiters may start now)."""
    gone = [key for key in before if key not in after]
    new = [row for key, row in after.items() if key not in before]
    changed: dict[int, list[str]] = {}
    for key, row in after.items():
        if key in before and row != before[key]:
            changed.setdefault(row.limit, []).append(key)
    touched = sorted([*gone, *(k for keys in changed.values() for k in keys)])
    if touched and transaction.get_connection().in_atomic_block:
        # Lock the rows to change in key order first, as claims do, so a default change
        # and a multi-pool claim cannot wait on each other's row locks in a cycle.
        _lock_pools(touched)
    if gone:
        Pool.objects.filter(key__in=gone, from_default=True).delete()
    if new:
        Pool.objects.bulk_create(
            [Pool(key=r.key, limit=r.limit, from_default=r.follows_default) for r in new],
            ignore_conflicts=True,
        )
    for limit, keys in changed.items():
        Pool.objects.filter(key__in=keys, from_default=True).update(limit=limit)
    for key in [*gone, *(k for keys in changed.values() for k in keys)]:
        notify(key)


def ensure_default_pools(keys: Iterable[str], default_limit: int | None) -> None:
    """Create or refresh the default-limit rows of `keys` before anything evaluates them
    (Q3, `engine.pools.rows_at_tick`)."""
    keys = set(keys)
    if not keys:
        return
    before = limit_rows(keys)
    _write_rows(before, engine.rows_at_tick(before, default_limit, keys))


def apply_default_limit(default_limit: int | None) -> None:
    """After the default changed: every pool that follows it changes now, waiters are woken
    (Q7, `engine.pools.rows_after_default_change`)."""
    before = {key: row for key, row in limit_rows().items() if row.follows_default}
    _write_rows(before, engine.rows_after_default_change(before, default_limit))


def claim_usage() -> dict[str, engine.PoolUsage]:
    """Per pool key: the slots of its step entries (holding or waiting) and the runs
    holding its slots, one run id per slot held (one query)."""
    pending: dict[str, int] = defaultdict(int)
    holders: dict[str, list[str]] = defaultdict(list)
    for key, run_id, claimed_at, slots in PoolClaim.objects.values_list(
        "pool_key", "run__run_id", "claimed_at", "slots"
    ):
        pending[key] += slots
        if claimed_at is not None:
            holders[key].extend([run_id] * slots)
    return {key: engine.PoolUsage(pending[key], tuple(holders[key])) for key in pending}


def pool_usage() -> dict[str, dict[str, int]]:
    """Per pool key: slots held, steps waiting and slots they wait for (one query)."""
    rows = PoolClaim.objects.values("pool_key").annotate(
        held=Coalesce(Sum("slots", filter=Q(claimed_at__isnull=False)), 0),
        waiting=Count("id", filter=Q(claimed_at__isnull=True)),
        waiting_slots=Coalesce(Sum("slots", filter=Q(claimed_at__isnull=True)), 0),
    )
    return {
        r["pool_key"]: {
            "held": r["held"],
            "waiting": r["waiting"],
            "waiting_slots": r["waiting_slots"],
        }
        for r in rows
    }


# --- claims ---------------------------------------------------------------------------


def try_claim(
    run: Run,
    step_key: str,
    demand: str | Mapping[str, int],
    priority: int,
    default_limit: int | None,
) -> ClaimResult:
    """Claim every slot a step needs, of every pool, at once, or record it as waiting in
    each (SEMANTICS 3.4; the rule: `engine.pools.claimable`).

    `demand` is the step's pools and slots (`{"warehouse": 2, "partner_api": 1}`), or one
    pool key for one slot. Holds the row locks of the step's pools, taken in key order
    (the one global order every claim and free uses: no deadlock). The step may claim
    only if in each pool its slots fit beside the slots held and those reserved for the
    waiters ahead of it, so slots go to waiters in priority order whichever executor asks
    first and nothing lighter overtakes a heavy step. A step already waiting that still
    cannot claim is answered without the locks.
    """
    wanted = {demand: 1} if isinstance(demand, str) else dict(demand)
    if not wanted:
        return ClaimResult(True)
    if connection.vendor == "postgresql":
        answered = _claim_in_database(run, step_key, wanted, priority, default_limit)
        if answered is not None:
            return answered
        # A default limit to apply: the Python path below creates or updates the rows.
    else:
        blocked = _still_blocked(run, step_key, wanted, default_limit)
        if blocked is not None:
            return blocked
    keys = sorted(wanted)
    with transaction.atomic():
        locked = _lock_pools(keys)
        if any(_default_to_apply(locked.get(key), default_limit) for key in keys):
            ensure_default_pools(keys, default_limit)
            locked = _lock_pools(keys)
        limits = {key: pool.limit for key, pool in locked.items()}
        mine = PoolClaim.objects.filter(run=run, step_key=step_key)
        # Pools without a limit row are unlimited: drop any stale entry there (Q11).
        mine.filter(pool_key__in=keys).exclude(pool_key__in=list(limits)).delete()
        if not limits:
            return ClaimResult(True)
        entries = list(mine.filter(pool_key__in=keys))
        if any(e.claimed_at is not None for e in entries):
            # All or nothing: one claimed entry means the step holds its slots.
            return ClaimResult(True, _standings(run, step_key, wanted, limits, entries[0]))
        now = timezone.now()
        # Every entry of a step shares its place in the waiter order, also an entry added
        # when a pool gained a limit after the step began waiting.
        first = entries[0] if entries else None
        have = {e.pool_key for e in entries}
        # Entries are created only here and in the PostgreSQL function, both under the
        # pool locks held now, so no savepoint is needed against a concurrent insert.
        PoolClaim.objects.bulk_create(
            [
                PoolClaim(
                    pool_key=key,
                    run=run,
                    step_key=step_key,
                    priority=priority if first is None else first.priority,
                    enqueued_at=now if first is None else first.enqueued_at,
                    slots=wanted[key],
                )
                for key in sorted(limits)
                if key not in have
            ]
        )
        entry = first or mine.filter(pool_key__in=keys).first()
        assert entry is not None  # just created
        standings = _standings(run, step_key, wanted, limits, entry)
        if not engine.claimable(standings):
            # No slot changed hands; at most waiting entries were written, which a step
            # re-creates on its next attempt if a crash loses them.
            _commit_without_flush()
            return ClaimResult(False, _with_holders(standings), run.run_id)
        mine.filter(pool_key__in=keys).update(claimed_at=now)
        return ClaimResult(True, standings)


def _lock_pools(keys: list[str]) -> dict[str, Pool]:
    """Lock the limit rows of `keys` in the database's order of keys (as the PostgreSQL
    functions and `free_run` do), so overlapping claims and frees never wait in a cycle."""
    return {p.key: p for p in Pool.objects.select_for_update().filter(key__in=keys).order_by("key")}


def _pool_view(
    keys: Iterable[str], limits: Mapping[str, int] | None = None
) -> tuple[list[engine.ClaimEntry], dict[str, int]]:
    """The stored entries of pools `keys` and the other entries of the steps waiting in
    them, with the limits of every pool these name (`limits` of `keys` if already read
    under their locks): what `engine.pools.pool_standings` needs (three queries)."""
    keys = list(keys)
    fields = ("pool_key", "run_id", "step_key", "priority", "enqueued_at", "slots", "claimed_at")
    rows = list(PoolClaim.objects.filter(pool_key__in=keys).values_list(*fields))
    waiters = {(r[1], r[2]) for r in rows if r[6] is None}
    others = [
        r
        for r in PoolClaim.objects.filter(run_id__in={w[0] for w in waiters})
        .exclude(pool_key__in=keys)
        .values_list(*fields)
        if (r[1], r[2]) in waiters
    ]
    if limits is None:
        known = dict(Pool.objects.filter(key__in=keys).values_list("key", "limit"))
    else:
        known = dict(limits)
    missing = {r[0] for r in others} - set(known)
    if missing:
        known.update(Pool.objects.filter(key__in=missing).values_list("key", "limit"))
    return [_claim_entry(*r) for r in rows + others], known


def _standings(
    run: Run,
    step_key: str,
    demand: Mapping[str, int],
    limits: Mapping[str, int],
    entry: PoolClaim,
) -> tuple[engine.PoolStanding, ...]:
    """The step's standing in each pool of `demand` that has a limit, by the engine's rule
    (`engine.pools.pool_standings`)."""
    keys = [key for key in demand if key in limits]
    entries, all_limits = _pool_view(keys, {key: limits[key] for key in keys})
    me = _claim_entry(entry.pool_key, run.pk, step_key, entry.priority, entry.enqueued_at, 1, None)
    return engine.pool_standings({key: demand[key] for key in keys}, me.order, entries, all_limits)


def explain_steps(
    run: Run, default_limit: int | None, statuses: Iterable[str] = ("PENDING", "WAITING")
) -> dict[str, str]:
    """Step key -> what the step needs of its pools and what stands in its way
    (`engine.pools.explain_demand`), for the run's steps with pools in `statuses`. A pool
    without a limit row gets `default_limit` when there is one, as a claim would give it."""
    steps = [
        (key, pools)
        for key, pools in run.steps.filter(status__in=list(statuses)).values_list(
            "step_key", "pools"
        )
        if pools
    ]
    if not steps:
        return {}
    entries, limits = _pool_view({key for _, pools in steps for key in pools})
    if default_limit is not None:
        for _, pools in steps:
            for key in pools:
                limits.setdefault(key, default_limit)
    places = {e.step_key: e.order for e in entries if e.run_id == run.pk and not e.claimed}
    return {
        key: engine.explain_demand(pools, entries, limits, places.get(key, engine.LAST_IN_LINE))
        for key, pools in steps
    }


def explain_root_demands(
    summaries: Mapping[str, Any], default_limit: int | None
) -> dict[str, list[str]]:
    """Run id -> what each weighted or multi-pool root step of the queued run would need
    of its pools if it asked now (`engine.pools.explain_demand`), from the runs' stored
    pool summaries; runs without such roots are left out (their pool gate says it all)."""
    needs = {
        run_id: pool_summary_from_dict(summary).root_demands
        for run_id, summary in summaries.items()
        if summary
    }
    needs = {run_id: roots for run_id, roots in needs.items() if roots}
    if not needs:
        return {}
    entries, limits = _pool_view({key for roots in needs.values() for d in roots for key in d})
    if default_limit is not None:
        for roots in needs.values():
            for d in roots:
                for key in d:
                    limits.setdefault(key, default_limit)
    texts: dict[str, list[str]] = {}
    for run_id, roots in needs.items():
        distinct = {tuple(sorted(d.items())): d for d in roots}
        texts[run_id] = [
            f"root step {engine.explain_demand(d, entries, limits)}" for d in distinct.values()
        ]
    return texts


def _claim_entry(
    pool_key: str,
    run_id: int,
    step_key: str,
    priority: int,
    enqueued_at: Any,
    slots: int,
    claimed_at: Any,
) -> engine.ClaimEntry:
    return engine.ClaimEntry(
        pool_key, run_id, step_key, priority, enqueued_at.timestamp(), slots, claimed_at is not None
    )


def _with_holders(standings: tuple[engine.PoolStanding, ...]) -> tuple[engine.PoolStanding, ...]:
    """`standings` with the runs holding slots of each pool (for the waiting message)."""
    holders: dict[str, list[str]] = defaultdict(list)
    for key, run_id in (
        PoolClaim.objects.filter(pool_key__in=[s.key for s in standings], claimed_at__isnull=False)
        .order_by("claimed_at", "id")
        .values_list("pool_key", "run__run_id")
    ):
        holders[key].append(run_id)
    return tuple(replace(s, holders=tuple(holders[s.key])) for s in standings)


def _claim_in_database(
    run: Run, step_key: str, demand: Mapping[str, int], priority: int, default_limit: int | None
) -> ClaimResult | None:
    """`try_claim` as one call of the PostgreSQL function `cui_claim_slots` (migration 0006).

    The function runs the steps of the Python path below, in the same order and under the
    same pool row locks, so the locks are held for the statements alone rather than across
    a round trip per statement. Returns None when a default limit must first be applied.
    """
    keys = sorted(demand)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outcome, pool_keys, limits, held, ahead, holders"
            " FROM cui_claim_slots(%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                run.pk,
                step_key,
                keys,
                [demand[key] for key in keys],
                priority,
                timezone.now(),
                default_limit,
                not connection.in_atomic_block,
            ],
        )
        outcome, pool_keys, limits, held, ahead, holders = cursor.fetchone()
    if outcome == "apply_default":
        return None
    if outcome == "unlimited":
        return ClaimResult(True)
    # Django leaves jsonb undecoded (its JSONField decodes): a string, or None.
    holders = json.loads(holders) if isinstance(holders, str) else holders or {}
    standings = tuple(
        engine.PoolStanding(key, demand[key], limit, used, reserved, tuple(holders.get(key, ())))
        for key, limit, used, reserved in zip(
            pool_keys or (), limits or (), held or (), ahead or (), strict=True
        )
    )
    return ClaimResult(outcome == "claimed", standings, run.run_id)


def _default_to_apply(pool: Pool | None, default_limit: int | None) -> bool:
    """Whether `ensure_default_pools` would change this pool's row (create, update or
    delete it); when it would not, the claim skips that extra read under the lock."""
    if pool is None:
        return engine.row_under_default("", None, default_limit) is not None
    row = engine.PoolRow(pool.key, pool.limit, pool.from_default)
    return engine.row_under_default(pool.key, row, default_limit) != row


def _still_blocked(
    run: Run, step_key: str, demand: Mapping[str, int], default_limit: int | None
) -> ClaimResult | None:
    """The answer for a waiting step that still cannot claim, read without the pool locks.

    Committed state read outside the locks is a valid answer as of the moment of the read:
    a slot freed after it wakes the waiter through `notify` (sent on the free's commit),
    and the retry takes the locked path. Each free wakes every waiter of the pool; in the
    profile of four processes cycling on a pool of two, these blocked attempts queued on
    the pool lock between the claims and frees that needed it. Returns None whenever the
    locked path must decide: no waiting entry in some limited pool, a default limit to
    apply, or room to claim.
    """
    entries = list(PoolClaim.objects.filter(run=run, step_key=step_key, pool_key__in=list(demand)))
    if not entries or any(e.claimed_at is not None for e in entries):
        return None
    rows = {p.key: p for p in Pool.objects.filter(key__in=list(demand))}
    if any(_default_to_apply(rows.get(key), default_limit) for key in demand):
        return None
    if {e.pool_key for e in entries} != set(rows):
        return None
    standings = _standings(run, step_key, demand, {k: p.limit for k, p in rows.items()}, entries[0])
    if engine.claimable(standings):
        return None
    return ClaimResult(False, _with_holders(standings), run.run_id)


def _commit_without_flush() -> None:
    """Let the current transaction commit without waiting for its WAL flush (PostgreSQL),
    unless it is the caller's transaction (an outer `atomic` block) whose other writes
    must keep the durability they were written with.

    Claims and frees on one pool are serialised by the pool row lock, which is released
    only when the commit returns; a flushed commit (3.5 ms against 0.05 ms unflushed on
    the benchmark machine) then dominates every claim, free and blocked attempt. Only
    transactions whose loss in a database crash cannot add a holder use it: a free, or an
    attempt that claimed nothing. WAL is flushed in order, so a later durable commit (a
    claim that used the freed slot) makes everything before it durable too.
    """
    # `atomic_blocks` holds the open `atomic` blocks of this connection: ours is the only one.
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def free_step(run: Run, step_key: str) -> int:
    """Free the slot (or waiting entry) of one step and wake the pool's waiters.

    The commit does not wait for its WAL flush (`_commit_without_flush`): a crash can
    only lose a free that no durable commit depended on, leaving the slot looking held
    until the run-end release frees it, never an extra holder.
    """
    if connection.vendor == "postgresql":
        return _freed(_free_in_database(run, step_key))
    with transaction.atomic():
        _commit_without_flush()
        keys = list(
            PoolClaim.objects.filter(run=run, step_key=step_key).values_list("pool_key", flat=True)
        )
        for key in keys:
            # Take the pool lock so a concurrent claim never counts a half-freed slot.
            list(Pool.objects.select_for_update().filter(key=key))
        deleted, _ = PoolClaim.objects.filter(run=run, step_key=step_key).delete()
        for key in keys:
            notify(key)
    return _freed(deleted)


def free_run(run: Run, step_key: str | None = None, actor: str | None = None) -> int:
    """Free every slot and waiting entry of a run (or one step of it); audited when manual.

    A manual free (`actor` given) of a whole run in progress is refused (Conflict,
    `engine.pools.free_run_refusal`), from the dashboard, the doctor, the API and the
    command line alike; one step's slot may always be freed.

    On PostgreSQL an unaudited free commits without waiting for its WAL flush, as
    `free_step` does: if a database crash loses it, the finished run still holds its
    claims and run monitoring frees them again (`FreeSlots`).
    """
    if step_key is not None:
        # The same refusal from the dashboard, the API and the command line.
        if not isinstance(step_key, str):
            raise InvalidInput.one("step_key", f"expected a string, got {type(step_key).__name__}")
        if not run.steps.filter(step_key=step_key).exists():
            raise InvalidInput.one("step_key", f"run {run.run_id} has no step {shown(step_key)}")
    if actor is not None and step_key is None:
        refusal = engine.free_run_refusal(run.run_id, RunStatus(run.status))
        if refusal:
            raise Conflict(refusal)
    if actor is None and connection.vendor == "postgresql":
        return _freed(_free_in_database(run, step_key))
    with transaction.atomic():
        claims = PoolClaim.objects.filter(run=run)
        if step_key is not None:
            claims = claims.filter(step_key=step_key)
        held = list(claims.values("pool_key", "step_key", "claimed_at"))
        keys = sorted({c["pool_key"] for c in held})
        list(Pool.objects.select_for_update().filter(key__in=keys).order_by("key"))
        deleted, _ = claims.delete()
        if actor is not None:
            target = run.run_id if step_key is None else f"{run.run_id}:{step_key}"
            record(
                actor,
                "pool.free_slots",
                target,
                [f"{c['pool_key']}:{c['step_key']}" for c in held],
                [],
            )
        for key in keys:
            notify(key)
    return _freed(deleted)


def _freed(deleted: int) -> int:
    """After a free: a run held by a pool (block_op_concurrency_limited_runs) may launch
    now, so a run-queue tick is requested when anything was freed."""
    if deleted:
        tick_requests.request_run_queue_tick()
    return deleted


def _free_in_database(run: Run, step_key: str | None) -> int:
    """`free_step`/`free_run` as one call of the PostgreSQL function `cui_free_slots`:
    the same pool locks in key order, delete, and notifications, in one round trip. Its
    commit skips the WAL flush wait when it is its own transaction (`_commit_without_flush`).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT cui_free_slots(%s, %s, %s, %s)",
            [run.pk, step_key, NOTIFY_CHANNEL, not connection.in_atomic_block],
        )
        return cursor.fetchone()[0]


# --- waking waiters -------------------------------------------------------------------


def notify(pool_key: str) -> None:
    """Tell waiting executors that `pool_key` may have room, once the transaction commits.

    PostgreSQL delivers NOTIFY only on commit, which is exactly when the freed slot becomes
    visible; other databases have no such channel and their waiters poll briefly.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, pool_key])


class PoolWakeup:
    """Blocks an executor until a pool may have room, without polling on PostgreSQL.

    The LISTEN connection is the executor's own; if it dies (database restart, failover),
    `wait` listens again on a new one. A notification sent while it was down is missed,
    which the executor's periodic claim retry (`RETRY_CLAIM_SECONDS`) makes up for.
    """

    def __init__(self, listen: bool = True) -> None:
        """`listen=False` when nothing will wait on a pool: no LISTEN connection is opened
        (a new database session costs more than a run of quick steps), and `wait` only
        waits for its descriptors or the timeout."""
        self._conn: Any = None  # a psycopg connection, imported only on PostgreSQL
        self._listen = listen and connection.vendor == "postgresql"
        if self._listen:
            self._connect()

    def _connect(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float, also: Sequence[int] = ()) -> set[str]:
        """Wait up to `timeout` seconds, or until one of the descriptors `also` is readable
        (a step process ended); return the pool keys notified (empty on timeout)."""
        if not self._listen:
            if also:
                select.select(list(also), [], [], min(timeout, 0.25))
            else:
                time.sleep(min(timeout, 0.25))
            return set()
        import psycopg

        keys: set[str] = set()
        try:
            if self._conn is None:
                self._connect()
            ready, _, _ = select.select([self._conn.fileno(), *also], [], [], timeout)
            if self._conn.fileno() in ready:
                for note in self._conn.notifies(timeout=0, stop_after=100):
                    keys.add(note.payload)
        except (psycopg.Error, OSError, ValueError):
            # The connection is gone (ValueError: a closed socket has no fileno). Drop it,
            # wait as a poller would, and listen again on the next call.
            self._drop()
            time.sleep(min(timeout, 0.25))
        return keys

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken: nothing left to close cleanly
                pass
            self._conn = None

    def close(self) -> None:
        self._listen = False
        self._drop()
