"""Weighted slots and steps on several pools at once (issue 17).

- `PoolClaim.slots`: the slots an entry holds or waits for (1 for every existing entry).
- `Step.pools`: a step's whole demand, pool -> slots (existing steps: their pool, 1 slot).
- `cui_claim_slots` replaces 0002's `cui_claim_slot`: one call claims every pool of a step,
  all or nothing, still in one round trip. It repeats on purpose the claim rule of
  `engine.pools.pool_standings` / `claimable` and `WAITER_ORDER` (as 0002 did for one
  slot): the Python path of `services.pools` (SQLite) runs the engine's functions.

Locks: the step's pool rows, `ORDER BY key FOR UPDATE`: one global order (the database's
order of keys), the same as `cui_free_slots` and `services.pools.free_run` use, so two
transactions locking overlapping pools never wait on each other in a cycle. PostgreSQL
sorts before it locks (LockRows sits above Sort), so the rows are locked in that order.

The standing query is spelled once here (`STANDING_SQL`) and inlined twice into the
function (the lock-free answer for a step still waiting, and the locked path): 0002
measured that a helper SQL function for it halved the claim rate.
"""

from django.db import migrations, models

# The claim rule in SQL, for the pools of `p_pools` that have a limit row: slots held,
# slots reserved by the waiters served before this step (priority desc, enqueued_at,
# run id, step key by code point) that can ever run (no entry of theirs needs more than
# its pool's limit), and whether this step's slots fit in every pool.
STANDING_SQL = r"""
    WITH demand AS (
        SELECT d.key AS d_key, d.slots AS d_slots, p."limit" AS d_limit
          FROM unnest(p_pools, p_slots) AS d(key, slots)
          JOIN queueing_pool p ON p.key = d.key
    ), counts AS (
        SELECT d_key, d_slots, d_limit,
               coalesce(sum(c.slots) FILTER (WHERE c.claimed_at IS NOT NULL), 0)::integer AS n_held,
               coalesce(sum(c.slots) FILTER (WHERE c.claimed_at IS NULL AND (
                    c.priority > v_priority
                 OR (c.priority = v_priority AND c.enqueued_at < v_enqueued)
                 OR (c.priority = v_priority AND c.enqueued_at = v_enqueued AND c.run_id < p_run)
                 OR (c.priority = v_priority AND c.enqueued_at = v_enqueued AND c.run_id = p_run
                     AND c.step_key COLLATE "C" < p_step_key COLLATE "C"))
                 AND NOT EXISTS (
                     SELECT 1 FROM queueing_poolclaim o JOIN queueing_pool op ON op.key = o.pool_key
                      WHERE o.run_id = c.run_id AND o.step_key = c.step_key
                        AND o.slots > op."limit")), 0)::integer AS n_ahead
          FROM demand LEFT JOIN queueing_poolclaim c ON c.pool_key = d_key
         GROUP BY d_key, d_slots, d_limit
    )
    SELECT array_agg(d_key ORDER BY d_key), array_agg(d_limit ORDER BY d_key),
           array_agg(n_held ORDER BY d_key), array_agg(n_ahead ORDER BY d_key),
           coalesce(bool_and(n_held + n_ahead + d_slots <= d_limit), true)
      INTO pool_keys, limits, held, ahead, v_fits
      FROM counts;
"""

HOLDERS_SQL = r"""
    holders := (SELECT coalesce(jsonb_object_agg(h.h_key, h.h_runs), '{}'::jsonb) FROM (
        SELECT c.pool_key AS h_key, jsonb_agg(r.run_id ORDER BY c.claimed_at, c.id) AS h_runs
          FROM queueing_poolclaim c JOIN queueing_run r ON r.id = c.run_id
         WHERE c.pool_key = ANY(p_pools) AND c.claimed_at IS NOT NULL
         GROUP BY c.pool_key) h);
"""

# A default limit to apply to one of the step's pools: a pool without a row when there is
# a default, or a row following the default whose limit is not the default any more.
DEFAULT_DUE_SQL = r"""
    EXISTS (SELECT 1 FROM unnest(p_pools) AS k(key)
              LEFT JOIN queueing_pool p ON p.key = k.key
             WHERE (p.key IS NULL AND p_default_limit IS NOT NULL)
                OR (p.from_default AND p."limit" IS DISTINCT FROM p_default_limit))
"""

CLAIM_SQL = (
    r"""
CREATE OR REPLACE FUNCTION cui_claim_slots(
    p_run bigint, p_step_key text, p_pools text[], p_slots integer[], p_priority integer,
    p_now timestamptz, p_default_limit integer, p_async_commit boolean,
    OUT outcome text, OUT pool_keys text[], OUT limits integer[], OUT held integer[],
    OUT ahead integer[], OUT holders jsonb
) LANGUAGE plpgsql AS $$
DECLARE
    v_priority integer;
    v_enqueued timestamptz;
    v_entries integer;
    v_waiting integer;
    v_fits boolean;
    v_rows integer;
    v_stale boolean;
BEGIN
    -- A step waiting in every limited pool that still cannot claim is answered without
    -- the locks (committed state is a valid answer as of the read; a free wakes it).
    SELECT min(priority), min(enqueued_at), count(*), count(*) FILTER (WHERE claimed_at IS NULL)
      INTO v_priority, v_enqueued, v_entries, v_waiting
      FROM queueing_poolclaim WHERE run_id = p_run AND step_key = p_step_key;
    IF v_entries > 0 AND v_waiting = v_entries
       AND v_entries = (SELECT count(*) FROM queueing_pool WHERE key = ANY(p_pools))
       AND NOT """
    + DEFAULT_DUE_SQL
    + r""" THEN
"""
    + STANDING_SQL
    + r"""
        IF NOT v_fits THEN
            outcome := 'waiting';
"""
    + HOLDERS_SQL
    + r"""
            RETURN;
        END IF;
    END IF;

    -- The pool rows in one global order: no cycle of waits with another claim or a free.
    -- The same statement counts them and sees a row that follows a default it no longer has.
    SELECT count(*), coalesce(bool_or(l.from_default
                                      AND l."limit" IS DISTINCT FROM p_default_limit), false)
      INTO v_rows, v_stale
      FROM (SELECT from_default, "limit" FROM queueing_pool WHERE key = ANY(p_pools)
             ORDER BY key FOR UPDATE) l;
    IF v_stale OR (p_default_limit IS NOT NULL AND v_rows < cardinality(p_pools)) THEN
        -- The caller applies the default limit (creating or updating rows) and asks again.
        outcome := 'apply_default';
        RETURN;
    END IF;
    IF v_rows < cardinality(p_pools) THEN
        -- Pools without a limit row are unlimited: drop any stale entry there (Q11).
        DELETE FROM queueing_poolclaim c
         WHERE c.run_id = p_run AND c.step_key = p_step_key AND c.pool_key = ANY(p_pools)
           AND NOT EXISTS (SELECT 1 FROM queueing_pool p WHERE p.key = c.pool_key);
        IF v_rows = 0 THEN
            outcome := 'unlimited';
            RETURN;
        END IF;
    END IF;
    SELECT min(priority), min(enqueued_at), count(*) FILTER (WHERE claimed_at IS NOT NULL)
      INTO v_priority, v_enqueued, v_entries
      FROM queueing_poolclaim WHERE run_id = p_run AND step_key = p_step_key;
    IF v_entries > 0 THEN
        -- Claims are all or nothing: one claimed entry means the step holds its slots.
        outcome := 'claimed';
        RETURN;
    END IF;
    IF v_priority IS NULL THEN
        v_priority := p_priority;
        v_enqueued := p_now;
    END IF;
    -- Entries are created only here and in the Python path, both under the pool locks
    -- held now. Every entry of a step has the same priority and enqueued_at (its place in
    -- the one waiter order), also when a pool gained a limit after the step began waiting.
    INSERT INTO queueing_poolclaim (pool_key, run_id, step_key, priority, enqueued_at, slots)
    SELECT d.key, p_run, p_step_key, v_priority, v_enqueued, d.slots
      FROM unnest(p_pools, p_slots) AS d(key, slots)
      JOIN queueing_pool p ON p.key = d.key
     WHERE NOT EXISTS (SELECT 1 FROM queueing_poolclaim c
                        WHERE c.pool_key = d.key AND c.run_id = p_run AND c.step_key = p_step_key);
"""
    + STANDING_SQL
    + r"""
    IF NOT v_fits THEN
        -- No slot changed hands: this commit need not wait for its WAL flush.
        IF p_async_commit THEN
            PERFORM set_config('synchronous_commit', 'off', true);
        END IF;
        outcome := 'waiting';
"""
    + HOLDERS_SQL
    + r"""
        RETURN;
    END IF;
    UPDATE queueing_poolclaim SET claimed_at = p_now
     WHERE run_id = p_run AND step_key = p_step_key AND pool_key = ANY(p_pools);
    outcome := 'claimed';
END;
$$;
"""
)

DROP_OLD_SQL = """
DROP FUNCTION IF EXISTS cui_claim_slot(text, bigint, text, integer, timestamptz, integer, boolean);
"""

DROP_NEW_SQL = """
DROP FUNCTION IF EXISTS cui_claim_slots(
    bigint, text, text[], integer[], integer, timestamptz, integer, boolean
);
"""


def create_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_OLD_SQL)
        schema_editor.execute(CLAIM_SQL)


def drop_functions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        schema_editor.execute(DROP_NEW_SQL)
        schema_editor.execute(
            import_module("queueing.migrations.0002_pool_slot_functions").CLAIM_SQL
        )


def steps_demand(apps, schema_editor):
    """Steps stored before weights claim one slot of their pool."""
    Step = apps.get_model("queueing", "Step")
    for step in Step.objects.exclude(pool="").only("pk", "pool").iterator():
        Step.objects.filter(pk=step.pk).update(pools={step.pool: 1})


class Migration(migrations.Migration):
    # Assigned number 0006; chained after main's 0009 when main was merged in.
    dependencies = [("queueing", "0007_schedules_sensors_partitions_backfills")]

    operations = [
        migrations.AddField(
            model_name="poolclaim",
            name="slots",
            field=models.PositiveIntegerField(db_default=1, default=1),
        ),
        migrations.AddField(
            model_name="step",
            name="pools",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddConstraint(
            model_name="poolclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(("slots__gte", 1), ("slots__lte", 1000)),
                name="poolclaim_slots_range",
            ),
        ),
        migrations.RunPython(steps_demand, migrations.RunPython.noop),
        migrations.RunPython(create_functions, drop_functions),
    ]
