"""Weighted slots and steps on several pools: the claim takes every slot of every pool at
once or none, and waiters ahead keep their slots reserved (engine.pools.claimable).

Run on SQLite (the Python path) and on PostgreSQL (the function of migration 0006)."""

from __future__ import annotations

import time

import pytest

from queueing.models import Pool, PoolClaim
from queueing.services import pools, runs

pytestmark = [pytest.mark.django_db(transaction=True)]


def _run():
    return runs.submit("quick", actor="test")


def _held(key: str) -> int:
    return sum(
        PoolClaim.objects.filter(pool_key=key, claimed_at__isnull=False).values_list(
            "slots", flat=True
        )
    )


def test_a_weighted_step_takes_all_its_slots_at_once():
    pools.set_limit("warehouse", 5, actor="test")
    big, other = _run(), _run()

    assert pools.try_claim(big, "big", {"warehouse": 3}, 0, None).claimed
    assert _held("warehouse") == 3
    waiting = pools.try_claim(other, "big", {"warehouse": 3}, 0, None)

    assert not waiting.claimed
    assert "needs 3 of warehouse (2 free)" in waiting.message
    assert big.run_id[:8] in waiting.message
    assert _held("warehouse") == 3
    pools.free_step(big, "big")
    assert pools.try_claim(other, "big", {"warehouse": 3}, 0, None).claimed
    assert _held("warehouse") == 3


def test_a_lighter_step_behind_a_heavy_waiter_does_not_overtake_it():
    pools.set_limit("warehouse", 5, actor="test")
    holder, heavy, light = _run(), _run(), _run()
    assert pools.try_claim(holder, "h", {"warehouse": 3}, 0, None).claimed
    assert not pools.try_claim(heavy, "s", {"warehouse": 4}, 0, None).claimed
    time.sleep(0.01)

    # 2 slots are free and the light step needs 1, but the 4 reserved for the heavy
    # waiter ahead do not fit beside it: it waits too, so the heavy one cannot starve.
    light_try = pools.try_claim(light, "s", {"warehouse": 1}, 0, None)

    assert not light_try.claimed
    assert "4 reserved for steps ahead" in light_try.message
    pools.free_step(holder, "h")
    # Now 1 slot is left beside the heavy waiter's 4: the light step may take it first,
    # and the heavy one still fits.
    assert pools.try_claim(light, "s", {"warehouse": 1}, 0, None).claimed
    assert pools.try_claim(heavy, "s", {"warehouse": 4}, 0, None).claimed
    assert _held("warehouse") == 5


def test_a_step_on_two_pools_holds_neither_while_one_is_full():
    pools.set_limit("warehouse", 4, actor="test")
    pools.set_limit("partner_api", 1, actor="test")
    api_user, both = _run(), _run()
    assert pools.try_claim(api_user, "call", {"partner_api": 1}, 0, None).claimed

    result = pools.try_claim(both, "sync", {"warehouse": 2, "partner_api": 1}, 0, None)

    assert not result.claimed
    assert result.message.startswith(
        "waiting: needs 1 of partner_api (0 free) and 2 of warehouse (free)"
    )
    # No hold-and-wait: its warehouse entry waits, it holds no warehouse slot.
    assert _held("warehouse") == 0
    assert PoolClaim.objects.filter(run=both, claimed_at__isnull=False).count() == 0
    pools.free_step(api_user, "call")
    assert pools.try_claim(both, "sync", {"warehouse": 2, "partner_api": 1}, 0, None).claimed
    assert (_held("warehouse"), _held("partner_api")) == (2, 1)
    assert pools.free_step(both, "sync") == 2
    assert PoolClaim.objects.count() == 0


def test_a_waiter_blocked_on_another_pool_leaves_what_is_not_reserved_to_others():
    pools.set_limit("warehouse", 4, actor="test")
    pools.set_limit("partner_api", 1, actor="test")
    api_user, both, small, larger = _run(), _run(), _run(), _run()
    assert pools.try_claim(api_user, "call", {"partner_api": 1}, 0, None).claimed
    assert not pools.try_claim(both, "sync", {"warehouse": 2, "partner_api": 1}, 0, None).claimed
    time.sleep(0.01)

    # 2 warehouse slots are reserved for the two-pool waiter; the other 2 are usable.
    assert pools.try_claim(small, "s", {"warehouse": 2}, 0, None).claimed
    assert not pools.try_claim(larger, "s", {"warehouse": 1}, 0, None).claimed

    pools.free_step(api_user, "call")
    assert pools.try_claim(both, "sync", {"warehouse": 2, "partner_api": 1}, 0, None).claimed
    assert _held("warehouse") == 4


def test_a_step_that_needs_more_than_the_limit_waits_without_blocking_others():
    pools.set_limit("warehouse", 2, actor="test")
    too_big, behind = _run(), _run()

    never = pools.try_claim(too_big, "s", {"warehouse": 3}, 0, None)
    time.sleep(0.01)

    assert not never.claimed
    assert "needs 3 of warehouse (its limit is 2: can never fit)" in never.message
    # It can never run, so it reserves nothing for itself.
    assert pools.try_claim(behind, "s", {"warehouse": 2}, 0, None).claimed
    pools.free_step(behind, "s")
    pools.set_limit("warehouse", 3, actor="test")
    assert pools.try_claim(too_big, "s", {"warehouse": 3}, 0, None).claimed


def test_pools_without_a_limit_are_left_out_of_a_multi_pool_claim():
    pools.set_limit("warehouse", 1, actor="test")
    run = _run()

    assert pools.try_claim(run, "s", {"warehouse": 1, "unlimited": 5}, 0, None).claimed

    assert list(PoolClaim.objects.values_list("pool_key", "slots")) == [("warehouse", 1)]


def test_the_default_limit_applies_to_every_pool_of_the_step():
    a, b = _run(), _run()

    assert pools.try_claim(a, "s", {"p": 2, "q": 1}, 0, 2).claimed
    assert not pools.try_claim(b, "s", {"p": 1}, 0, 2).claimed

    assert {(p.key, p.limit, p.from_default) for p in Pool.objects.all()} == {
        ("p", 2, True),
        ("q", 2, True),
    }


def test_a_pool_gaining_a_limit_keeps_the_waiters_place_in_line():
    pools.set_limit("p", 1, actor="test")
    holder, waiter = _run(), _run()
    assert pools.try_claim(holder, "h", {"p": 1}, 0, None).claimed
    assert not pools.try_claim(waiter, "s", {"p": 1, "q": 1}, 0, None).claimed
    first = PoolClaim.objects.get(run=waiter, pool_key="p")

    pools.set_limit("q", 1, actor="test")
    assert not pools.try_claim(waiter, "s", {"p": 1, "q": 1}, 0, None).claimed

    added = PoolClaim.objects.get(run=waiter, pool_key="q")
    assert (added.priority, added.enqueued_at, added.slots) == (
        first.priority,
        first.enqueued_at,
        1,
    )
