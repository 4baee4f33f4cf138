"""The claim rule (engine.pools.pool_standings / claimable) against a model, on many random
mixes of weights, pools, priorities, arrivals, finish orders and retry orders: every
outcome is the model's, no pool is ever over its limit, no claim takes slots reserved for
a waiter ahead, the head of the line claims as soon as it fits, and every step that can
ever run does (no deadlock, no starvation)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.engine.pools import ClaimEntry, claimable, pool_standings, waiter_sort_key
from tests.support.claim_model import Demand, Scenario, World, drive, scenarios


class EngineClaims:
    """The engine's rule over stored entries, as the services keep them."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = limits
        self.entries: dict[tuple[tuple[int, str], str], ClaimEntry] = {}

    def attempt(self, step: Demand, at: float) -> bool:
        limited = {p: s for p, s in step.pools.items() if p in self.limits}
        for pool, slots in limited.items():
            self.entries.setdefault(
                (step.name, pool),
                ClaimEntry(pool, step.run, step.step_key, step.priority, at, slots, False),
            )
        order = waiter_sort_key(step.priority, at, step.run, step.step_key)
        standings = pool_standings(step.pools, order, self.entries.values(), self.limits)
        if not claimable(standings):
            return False
        for pool in limited:
            old = self.entries[(step.name, pool)]
            self.entries[(step.name, pool)] = ClaimEntry(
                old.pool, old.run_id, old.step_key, old.priority, old.enqueued_at, old.slots, True
            )
        return True

    def free(self, step: Demand) -> None:
        for pool in step.pools:
            self.entries.pop((step.name, pool), None)


@settings(max_examples=600, deadline=None)
@given(scenario=scenarios(max_steps=12), data=st.data())
def test_the_claim_rule_matches_the_model_and_never_starves_or_oversubscribes(
    scenario: Scenario, data: st.DataObject
) -> None:
    claims = EngineClaims(scenario.limits)

    world = drive(scenario, data, claims.attempt, claims.free)

    possible = {s.name for s in scenario.steps if World(scenario.limits).possible(s)}
    assert possible <= set(world.claims)
    assert not claims.entries or all(not e.claimed for e in claims.entries.values())


def test_a_heavy_step_at_the_head_is_not_overtaken_by_a_stream_of_light_ones() -> None:
    limits = {"a": 4}
    claims = EngineClaims(limits)
    world = World(limits)
    holder = Demand(0, "holder", 0, {"a": 2}, 0)
    heavy = Demand(1, "heavy", 0, {"a": 4}, 0)
    assert claims.attempt(holder, 1.0)
    assert not claims.attempt(heavy, 2.0)
    # Light steps keep arriving after it: none may take a slot while it waits.
    for i in range(20):
        light = Demand(2, f"light{i}", 0, {"a": 1}, 0)
        assert not claims.attempt(light, 3.0 + i), world
    claims.free(holder)
    assert claims.attempt(heavy, 2.0)
