"""A model of the pool claim rule and a driver of random scenarios, shared by the property
tests of the engine (tests/engine/test_claim_fairness.py) and of the database paths
(tests/concurrency/test_claim_fairness_db.py).

The model restates the documented rule plainly (README "Weighted slots and several pools"):
steps are served in one order (priority descending, then first attempt, then run, then
step key); a step takes all its slots of all its limited pools at once when, in each, they
fit beside the slots held and the slots of the waiters ahead of it that can ever run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

POOLS = ("a", "b", "c")


@dataclass(frozen=True)
class Demand:
    """One step of a scenario: `run` orders runs (their database ids are created in this
    order), `batch` is when it arrives."""

    run: int
    step_key: str
    priority: int
    pools: dict[str, int]
    batch: int

    @property
    def name(self) -> tuple[int, str]:
        return (self.run, self.step_key)


@dataclass(frozen=True)
class Scenario:
    limits: dict[str, int]  # pools absent here have no limit
    steps: tuple[Demand, ...]


@st.composite
def scenarios(draw: st.DrawFn, max_steps: int = 10) -> Scenario:
    limits = {
        key: draw(st.integers(1, 4), label=f"limit {key}")
        for key in POOLS
        if draw(st.integers(0, 5), label=f"{key} limited") > 0
    }
    count = draw(st.integers(1, max_steps), label="steps")
    steps = []
    for i in range(count):
        keys = draw(st.lists(st.sampled_from(POOLS), min_size=1, max_size=3, unique=True))
        # Now and then a step needs more than its pool's limit: it can never run.
        pools = {key: draw(st.integers(1, 5 if i % 4 == 3 else 3)) for key in sorted(keys)}
        steps.append(
            Demand(
                run=draw(st.integers(0, 3), label="run"),
                step_key=f"s{i}",
                priority=draw(st.sampled_from([0, 0, 0, 1, 2])),
                pools=pools,
                batch=draw(st.integers(0, 3), label="arrival"),
            )
        )
    return Scenario(limits, tuple(steps))


@dataclass
class World:
    """The model's state: who waits (with its place in line), who holds."""

    limits: dict[str, int]
    waiting: dict[tuple[int, str], tuple[float, Demand]] = field(default_factory=dict)
    holding: dict[tuple[int, str], Demand] = field(default_factory=dict)
    claims: list[tuple[int, str]] = field(default_factory=list)

    @staticmethod
    def order(step: Demand, at: float) -> tuple[int, float, int, str]:
        return (-step.priority, at, step.run, step.step_key)

    def possible(self, step: Demand) -> bool:
        return all(s <= self.limits[p] for p, s in step.pools.items() if p in self.limits)

    def held(self, pool: str) -> int:
        return sum(step.pools.get(pool, 0) for step in self.holding.values())

    def reserved_ahead(self, pool: str, place: tuple[int, float, int, str]) -> int:
        return sum(
            w.pools[pool]
            for at, w in self.waiting.values()
            if pool in w.pools and self.order(w, at) < place and self.possible(w)
        )

    def fits(self, step: Demand, at: float) -> bool:
        place = self.order(step, at)
        return all(
            self.held(p) + self.reserved_ahead(p, place) + s <= self.limits[p]
            for p, s in step.pools.items()
            if p in self.limits
        )

    def head(self) -> Demand | None:
        """The first waiter of the one order that can ever run."""
        ranked = sorted(
            (self.order(w, at), w) for at, w in self.waiting.values() if self.possible(w)
        )
        return ranked[0][1] if ranked else None


# attempt(step, first_attempt_at) -> whether the implementation under test claimed it
Attempt = Callable[[Demand, float], bool]
# free(step) -> None
Free = Callable[[Demand], None]


def drive(scenario: Scenario, data: st.DataObject, attempt: Attempt, free: Free) -> World:
    """Play `scenario`: steps arrive batch by batch, holders finish in an order `data`
    draws, and after every event each waiter retries, in an order `data` draws (executors
    race). Every attempt's outcome must be the model's; after each round no pool is over
    its limit, no claim ate into a reservation ahead of it, and the head of the line claimed
    if it fit. The run ends when nothing holds and nothing arrives: then every step that
    can ever run has run (no deadlock, no starvation)."""
    world = World(dict(scenario.limits))
    arrivals = sorted({s.batch for s in scenario.steps})
    clock = 0.0

    def try_one(step: Demand, at: float) -> None:
        expected = world.fits(step, at)
        claimed = attempt(step, at)
        assert claimed == expected, (step, at, world)
        if not claimed:
            return
        place = world.order(step, at)
        world.waiting.pop(step.name, None)
        # The claim ate into no reservation of a waiter ahead of it.
        for pool in step.pools:
            if pool in world.limits:
                assert (
                    world.held(pool) + step.pools[pool] + world.reserved_ahead(pool, place)
                    <= world.limits[pool]
                ), (step, pool, world)
        world.holding[step.name] = step
        world.claims.append(step.name)
        for pool, limit in world.limits.items():
            assert world.held(pool) <= limit, (pool, world)

    def retry_round() -> None:
        head = world.head()
        head_fits = head is not None and world.fits(head, world.waiting[head.name][0])
        names = list(world.waiting)
        for name in data.draw(st.permutations(names), label="retry order"):
            if name in world.waiting:
                at, step = world.waiting[name]
                try_one(step, at)
        if head_fits:
            assert head is not None and head.name in world.holding, (head, world)

    while True:
        if arrivals and (not world.holding or data.draw(st.booleans(), label="arrive")):
            batch = arrivals.pop(0)
            for step in [s for s in scenario.steps if s.batch == batch]:
                clock += 1.0
                world.waiting[step.name] = (clock, step)
                try_one(step, clock)
        elif world.holding:
            name = data.draw(st.sampled_from(sorted(world.holding)), label="finishes")
            free(world.holding.pop(name))
        else:
            break
        retry_round()
    stuck = [w for _, w in world.waiting.values() if world.possible(w)]
    assert not stuck, ("waiters that could run never did", stuck, world)
    return world
