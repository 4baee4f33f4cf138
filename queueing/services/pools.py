"""Pool limits and slot claims.

Every claim and free takes the pool row's lock (`SELECT … FOR UPDATE` on PostgreSQL, the
database write lock on SQLite, whose transactions begin IMMEDIATE), then counts holders and
marks its entry claimed in the same transaction. No two transactions can both see the last
free slot, so a pool is never oversubscribed however many workers and hosts claim.

On PostgreSQL a claim and a free are each one call of a server-side function (migration
0002) that runs the same steps, so the lock is held for the statements, not for a client
round trip per statement; SQLite, embedded in this process, runs the Python path below.
"""

from __future__ import annotations

import select
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..engine import pools as engine
from ..engine.grammar import key_problem, parse_integer, shown
from ..engine.pools import MAX_POOL_LIMIT, validate_pool_limit
from ..engine.types import RunStatus
from ..errors import Conflict, InvalidInput, NotFound
from ..models import Pool, PoolClaim, Run
from .audit import record

NOTIFY_CHANNEL = "concurrency_ui_pools"


@dataclass(frozen=True)
class ClaimResult:
    claimed: bool
    pool_key: str
    limit: int | None  # None: the pool has no limit
    held: int = 0
    ahead: int = 0  # waiters served before this one
    holders: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.claimed:
            return ""
        who = ", ".join(h[:8] for h in self.holders[:3])
        more = f" +{len(self.holders) - 3} more" if len(self.holders) > 3 else ""
        text = f"waiting for pool {self.pool_key}: {self.held} of {self.limit} slots held"
        if who:
            text += f" by runs {who}{more}"
        if self.ahead:
            text += f"; {self.ahead} step(s) ahead in line"
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
    """Per pool key: its step entries and the runs holding its slots (one query)."""
    pending: dict[str, int] = defaultdict(int)
    holders: dict[str, list[str]] = defaultdict(list)
    for key, run_id, claimed_at in PoolClaim.objects.values_list(
        "pool_key", "run__run_id", "claimed_at"
    ):
        pending[key] += 1
        if claimed_at is not None:
            holders[key].append(run_id)
    return {key: engine.PoolUsage(pending[key], tuple(holders[key])) for key in pending}


def pool_usage() -> dict[str, dict[str, int]]:
    """Per pool key: slots held and steps waiting (one query)."""
    rows = PoolClaim.objects.values("pool_key").annotate(
        held=Count("id", filter=Q(claimed_at__isnull=False)),
        waiting=Count("id", filter=Q(claimed_at__isnull=True)),
    )
    return {r["pool_key"]: {"held": r["held"], "waiting": r["waiting"]} for r in rows}


# --- claims ---------------------------------------------------------------------------


def try_claim(
    run: Run, step_key: str, pool_key: str, priority: int, default_limit: int | None
) -> ClaimResult:
    """Claim a slot of `pool_key` for one step, or record it as waiting (SEMANTICS 3.4).

    Holds the pool row lock. A waiter may take a free slot only if fewer waiters rank
    before it (priority desc, then oldest) than there are free slots, so slots go to
    waiters in priority order whichever executor asks first. A step already waiting that
    still cannot claim is answered without the lock (`_still_blocked`).
    """
    if connection.vendor == "postgresql":
        answered = _claim_in_database(run, step_key, pool_key, priority, default_limit)
        if answered is not None:
            return answered
        # A default limit to apply: the Python path below creates or updates the row.
    else:
        blocked = _still_blocked(run, step_key, pool_key, default_limit)
        if blocked is not None:
            return blocked
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(key=pool_key).first()
        if _default_to_apply(pool, default_limit):
            ensure_default_pools([pool_key], default_limit)
            pool = Pool.objects.select_for_update().filter(key=pool_key).first()
        if pool is None:
            # Unlimited: drop any stale waiting entry instead of leaving an orphan (Q11).
            PoolClaim.objects.filter(pool_key=pool_key, run=run, step_key=step_key).delete()
            return ClaimResult(True, pool_key, None)
        now = timezone.now()
        entry = PoolClaim.objects.filter(pool_key=pool_key, run=run, step_key=step_key).first()
        if entry is None:
            # Only this function creates entries, always under the pool lock held here, so
            # no savepoint is needed against a concurrent insert of the same entry.
            entry = PoolClaim.objects.create(
                pool_key=pool_key, run=run, step_key=step_key, priority=priority, enqueued_at=now
            )
        if entry.claimed_at is not None:
            return ClaimResult(True, pool_key, pool.limit)
        held, ahead = _standing(pool_key, entry)
        if held + ahead >= pool.limit:
            # No slot changed hands; at most a waiting entry was written, which a step
            # re-creates on its next attempt if a crash loses it.
            _commit_without_flush()
            holders = _holders(pool_key)
            return ClaimResult(False, pool_key, pool.limit, len(holders), ahead, holders)
        entry.claimed_at = now
        entry.save(update_fields=["claimed_at"])
        return ClaimResult(True, pool_key, pool.limit, held + 1, 0)


def _claim_in_database(
    run: Run, step_key: str, pool_key: str, priority: int, default_limit: int | None
) -> ClaimResult | None:
    """`try_claim` as one call of the PostgreSQL function `cui_claim_slot` (migration 0002).

    The function runs the steps of the Python path below, in the same order and under the
    same pool row lock, so the lock is held for the statements alone rather than across a
    round trip per statement. Returns None when a default limit must first be applied.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outcome, pool_limit, held, ahead, holders"
            " FROM cui_claim_slot(%s, %s, %s, %s, %s, %s, %s)",
            [
                pool_key,
                run.pk,
                step_key,
                priority,
                timezone.now(),
                default_limit,
                not connection.in_atomic_block,
            ],
        )
        outcome, limit, held, ahead, holders = cursor.fetchone()
    if outcome == "apply_default":
        return None
    if outcome == "unlimited":
        return ClaimResult(True, pool_key, None)
    if outcome == "claimed":
        return ClaimResult(True, pool_key, limit, held or 0, ahead or 0)
    return ClaimResult(False, pool_key, limit, held, ahead, tuple(holders))


def _default_to_apply(pool: Pool | None, default_limit: int | None) -> bool:
    """Whether `ensure_default_pools` would change this pool's row (create, update or
    delete it); when it would not, the claim skips that extra read under the lock."""
    if pool is None:
        return engine.row_under_default("", None, default_limit) is not None
    row = engine.PoolRow(pool.key, pool.limit, pool.from_default)
    return engine.row_under_default(pool.key, row, default_limit) != row


def _still_blocked(
    run: Run, step_key: str, pool_key: str, default_limit: int | None
) -> ClaimResult | None:
    """The answer for a waiting step that still cannot claim, read without the pool lock.

    Committed state read outside the lock is a valid answer as of the moment of the read:
    a slot freed after it wakes the waiter through `notify` (sent on the free's commit),
    and the retry takes the locked path. Each free wakes every waiter of the pool; in the
    profile of four processes cycling on a pool of two, these blocked attempts queued on
    the pool lock between the claims and frees that needed it. Returns None whenever the
    locked path must decide: no waiting entry yet, no limit row, a default limit to apply,
    or room to claim.
    """
    entry = PoolClaim.objects.filter(
        pool_key=pool_key, run=run, step_key=step_key, claimed_at__isnull=True
    ).first()
    if entry is None:
        return None
    pool = Pool.objects.filter(key=pool_key).first()
    if pool is None or _default_to_apply(pool, default_limit):
        return None
    held, ahead = _standing(pool_key, entry)
    if held + ahead < pool.limit:
        return None
    holders = _holders(pool_key)
    return ClaimResult(False, pool_key, pool.limit, len(holders), ahead, holders)


def _standing(pool_key: str, entry: PoolClaim) -> tuple[int, int]:
    """(slots held, waiters served before `entry`) in one query."""
    counts = PoolClaim.objects.filter(pool_key=pool_key).aggregate(
        held=Count("id", filter=Q(claimed_at__isnull=False)),
        ahead=Count("id", filter=Q(claimed_at__isnull=True) & _served_before(entry)),
    )
    return counts["held"], counts["ahead"]


def _served_before(entry: PoolClaim) -> Q:
    """The waiters of `entry`'s pool served before it, by `engine.pools.WAITER_ORDER`."""
    before = Q(pk__in=[])
    same: dict[str, object] = {}
    for name, direction in engine.WAITER_ORDER:
        value = getattr(entry, name)
        before |= Q(**same, **{f"{name}__{'gt' if direction == 'desc' else 'lt'}": value})
        same[name] = value
    return before


def _holders(pool_key: str) -> tuple[str, ...]:
    return tuple(
        PoolClaim.objects.filter(pool_key=pool_key, claimed_at__isnull=False).values_list(
            "run__run_id", flat=True
        )
    )


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
        return _free_in_database(run, step_key)
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
    return deleted


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
        return _free_in_database(run, step_key)
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

    def __init__(self) -> None:
        self._conn: Any = None  # a psycopg connection, imported only on PostgreSQL
        self._listen = connection.vendor == "postgresql"
        if self._listen:
            self._connect()

    def _connect(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds; return the pool keys notified (empty on timeout)."""
        if not self._listen:
            time.sleep(min(timeout, 0.25))
            return set()
        import psycopg

        keys: set[str] = set()
        try:
            if self._conn is None:
                self._connect()
            ready, _, _ = select.select([self._conn.fileno()], [], [], timeout)
            if ready:
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
