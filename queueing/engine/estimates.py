"""When will a queued run start? The queue replayed forward with the engine's own `decide`.

From a snapshot of the queue, simulated time advances tick by tick (`tick_seconds`, the
dequeue interval): at each tick the runs in progress whose expected end has passed finish
and free their capacity, tag counts and pool slots, then `run_queue.decide` (the function
the tick calls) launches what it would launch. A run's estimate is the first tick at which
it launches. Assumptions, shown with every estimate:

- a run lasts its job's typical duration: the median of its job's recent successful runs
  (`durations`); a run in progress ends after that median minus the time it already ran,
  or at the next tick if it already ran longer;
- a job that never succeeded lasts `fallback_seconds` (the median over every job with a
  history); without any history at all there is no estimate ("no estimate: no job has run");
- nothing is submitted, canceled or re-prioritised meanwhile, and limits do not change.

A run the replay never launches gets why: `blocked` (nothing in progress would ever free
what holds it, e.g. a closed pool or `max_concurrent_runs: 0`) or `beyond` (past
`horizon_seconds`, or past `max_rounds` simulated ticks).

Two replays give the same estimates. `replay_ticks` is the plain one: at every simulated
tick with a run ending it asks `decide` about the remaining queue, so it costs one pass over
the queue per tick (minutes at 10,000 runs held by tags and pools); it is the replay of
Dagster 1.13's semantics, whose `decide` pages and fixes up the queue its own way.
`replay_events` (every other case) keeps the tag and pool counters of `gates.Walk` from one
tick to the next, taking back what ends, and gives each run its verdict from the same
`Walk.consider` as the tick, but only re-examines runs whose gates could have changed: a
run a tag limit or a pool held is parked with the runs that limit (or that pool demand)
holds, and they are looked at again only once a run counted by it ends (or a started run's
pool allotment is over); runs held by `max_concurrent_runs` are looked at in queue order
until the slots are used up again. Every run parked on one gate fails that same gate, so
when the first of them (in queue order) still does, the rest are not looked at. Runs held
by a distinct-values cap (whose gate depends on the run's own value) are never parked.
Most runs looked at are held by another gate than the one that woke them (on the bench
workload, a database limit and a team's per-value limit in turn): without fair share and
while max_concurrent_runs has room, such a run is moved to that gate's group from the
counters alone (`TagCounter.first_full`, the pools' answer kept while their counts are
unchanged); `Walk.consider` still gives the verdict of every run that launches.
With fair share, the order is computed again only when a run launched ahead of an earlier
run of its own value (which changes that value's turns). The property test
(tests/engine/test_estimates.py) checks that both replays agree on random queues.
The caller caches the result for a whole tick.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .fair_share import Turn, fair_order
from .gates import Capacity, Walk, queue_order
from .run_queue import decide
from .tags import Bucket
from .types import (
    DAGSTER_1_13,
    FairShare,
    Launch,
    PoolState,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    Wait,
)

Kind = Literal["estimate", "blocked", "beyond", "no_history"]
# A replay never simulates more than this far ahead.
HORIZON_SECONDS = 24 * 3600.0
# Head of the remaining queue `decide` is asked about first (grown while runs could launch).
FIRST_HEAD = 64
# A replay stops after this many simulated ticks with a run ending: later runs get
# "beyond". `replay_ticks` decides the whole remaining queue at each one when limits other
# than max_concurrent_runs hold most of it, so it stops early; `replay_events` only looks at
# the runs whose gates could have changed, and the horizon is what stops it in practice.
TICKS_MAX_ROUNDS = 200
MAX_ROUNDS = 100_000


@dataclass(frozen=True)
class Estimate:
    run_id: str
    kind: Kind
    starts_in: float | None = None  # seconds after the snapshot, for kind "estimate"
    reason: str = ""  # the rule holding a blocked run, or why there is no estimate
    # Jobs never run whose fallback duration this estimate rests on.
    assumed_jobs: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """`starts in about 4 min`, `blocked: pool redshift: 0 of 0 …`, `no estimate: …`."""
        if self.kind == "estimate" and self.starts_in is not None:
            return f"starts {about(self.starts_in)}"
        if self.kind == "blocked":
            return f"blocked: {self.reason}"
        if self.kind == "beyond":
            return "no estimate: later than the replay looks ahead"
        return f"no estimate: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "starts_in_seconds": None if self.starts_in is None else round(self.starts_in),
            "label": self.label,
            "reason": self.reason,
            "assumed_jobs": list(self.assumed_jobs),
        }


def about(seconds: float) -> str:
    if seconds < 1:
        return "at the next tick"
    return f"in about {about_span(seconds)}"


def about_span(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


ASSUMPTION = (
    "Replays the queue with the run queue's own rules: each run lasts the median of its job's "
    "recent successful runs (runs in progress: minus the time they already ran); jobs never "
    "run last the median of all jobs; nothing is submitted, canceled or changed meanwhile."
)


def typical_durations(
    samples: Mapping[str, Sequence[float]],
) -> tuple[dict[str, float], float | None]:
    """(median duration by job, the fallback: the median of those medians, or None)."""
    medians = {job: statistics.median(values) for job, values in samples.items() if values}
    fallback = statistics.median(medians.values()) if medians else None
    return medians, fallback


@dataclass
class _Running:
    run: RunInfo
    ends_at: float
    assumed: tuple[str, ...]


def estimate_starts(
    snapshot: QueueSnapshot,
    job_of: Mapping[str, str],
    durations: Mapping[str, float],
    fallback_seconds: float | None,
    tick_seconds: float,
    horizon_seconds: float = HORIZON_SECONDS,
) -> dict[str, Estimate]:
    """An estimate for every queued run of `snapshot` (module docstring): `replay_events`,
    or `replay_ticks` for Dagster 1.13's semantics.

    `job_of` maps run ids (queued and active) to job names; `durations` the typical duration
    of each job. Times are relative to `snapshot.now`.
    """
    if snapshot.settings.semantics == DAGSTER_1_13:
        return replay_ticks(
            snapshot, job_of, durations, fallback_seconds, tick_seconds, horizon_seconds
        )
    return replay_events(
        snapshot, job_of, durations, fallback_seconds, tick_seconds, horizon_seconds
    )


def replay_ticks(
    snapshot: QueueSnapshot,
    job_of: Mapping[str, str],
    durations: Mapping[str, float],
    fallback_seconds: float | None,
    tick_seconds: float,
    horizon_seconds: float = HORIZON_SECONDS,
    max_rounds: int = TICKS_MAX_ROUNDS,
) -> dict[str, Estimate]:
    """The plain replay: `decide` over the remaining queue at every simulated tick with a
    run ending (arguments as `estimate_starts`)."""
    queued = snapshot.queued
    if fallback_seconds is None:
        return _no_history(queued)
    tick = max(1.0, float(tick_seconds))
    now = snapshot.now
    duration = _durations(job_of, durations, fallback_seconds)
    running = _in_progress(snapshot, duration)
    # Fair share reorders the queue as runs end; otherwise the order never changes.
    remaining = list(queued) if snapshot.settings.fair_share else queue_order(queued)
    pools = dict(snapshot.pools)
    fair = snapshot.settings.fair_share
    finished: dict[str | None, int] = dict(snapshot.fair_finished)
    relied_on: set[str] = set()  # jobs never run whose fallback an ended run used
    estimates: dict[str, Estimate] = {}
    t = now
    rounds = 0
    while remaining:
        rounds += 1
        state = replace(snapshot, pools=pools, fair_finished=finished, now=t)
        launched, last_wait, rest_wait = _launch_round(state, remaining, running)
        if launched:
            launched_ids = set()
            behind = tuple(sorted(relied_on | {j for r in running for j in r.assumed}))
            for run in launched:
                launched_ids.add(run.run_id)
                estimates[run.run_id] = Estimate(
                    run.run_id, "estimate", t - now, assumed_jobs=behind
                )
                length, assumed = duration(run.run_id)
                started = replace(run, status=RunStatus.STARTING, started_at=None)
                running.append(_Running(started, t + length, assumed))
            remaining = [run for run in remaining if run.run_id not in launched_ids]
            if not remaining:
                break
        if not running:
            # Nothing in progress: nothing will ever free what holds the rest.
            for run in remaining:
                wait = last_wait.get(run.run_id)
                reason = wait.message if wait is not None else rest_wait
                estimates[run.run_id] = Estimate(run.run_id, "blocked", reason=reason)
            break
        # The next tick at or after the earliest end.
        first_end = min(r.ends_at for r in running)
        steps = max(1, -int(-(first_end - t) // tick))
        t += steps * tick
        if t - now > horizon_seconds or rounds >= max_rounds:
            for run in remaining:
                estimates[run.run_id] = Estimate(run.run_id, "beyond")
            break
        ended = [r for r in running if r.ends_at <= t]
        running = [r for r in running if r.ends_at > t]
        for done in ended:
            _free_pools(pools, done.run.run_id)
            relied_on.update(done.assumed)
            if fair is not None:
                value = done.run.tags.get(fair.key)
                finished[value] = finished.get(value, 0) + 1
    return estimates


def replay_events(
    snapshot: QueueSnapshot,
    job_of: Mapping[str, str],
    durations: Mapping[str, float],
    fallback_seconds: float | None,
    tick_seconds: float,
    horizon_seconds: float = HORIZON_SECONDS,
    max_rounds: int = MAX_ROUNDS,
) -> dict[str, Estimate]:
    """The incremental replay (module docstring): the estimates of `replay_ticks`, with the
    run queue's own semantics only. Simulated ticks, rounds and the horizon are counted as
    there."""
    settings = snapshot.settings
    if settings.semantics == DAGSTER_1_13:
        raise ValueError("replay_events replays concurrency_ui's semantics only")
    queued = snapshot.queued
    if fallback_seconds is None:
        return _no_history(queued)
    tick = max(1.0, float(tick_seconds))
    now = snapshot.now
    duration = _durations(job_of, durations, fallback_seconds)
    fair = settings.fair_share
    pools = dict(snapshot.pools)
    finished: dict[str | None, int] = dict(snapshot.fair_finished)

    # The counters of a pass over `snapshot`, kept from tick to tick.
    start = Walk.start(replace(snapshot, queued=()), complete=False)
    tags, pool_counter = start.tags, start.pools
    running: list[tuple[float, int, _Running]] = []  # a heap by expected end
    assumed_running: dict[str, int] = {}
    seq = 0

    def begin(entry: _Running) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(running, (entry.ends_at, seq, entry))
        for job in entry.assumed:
            assumed_running[job] = assumed_running.get(job, 0) + 1

    for entry in _in_progress(snapshot, duration):
        begin(entry)

    queue = _Parked(queued, fair, finished)
    if fair is not None:
        queue.place([entry[2].run for entry in running])
    relied_on: set[str] = set()
    estimates: dict[str, Estimate] = {}
    t = now
    rounds = 0
    while queue.remaining:
        rounds += 1
        if pool_counter is not None:
            queue.wake_pools(pool_counter.expire(t))
        walk = Walk(
            settings,
            Capacity(settings.max_concurrent_runs, len(running)),
            tags,
            pool_counter,
            complete=False,
        )
        launched = queue.walk(walk)
        if launched:
            behind = tuple(sorted(relied_on | {j for j, n in assumed_running.items() if n}))
            for run in launched:
                estimates[run.run_id] = Estimate(
                    run.run_id, "estimate", t - now, assumed_jobs=behind
                )
            for run in launched:
                length, assumed = duration(run.run_id)
                started = replace(run, status=RunStatus.STARTING, started_at=None)
                begin(_Running(started, t + length, assumed))
            if not queue.remaining:
                break
            if fair is not None and queue.launched_out_of_turn(launched):
                queue.place([entry[2].run for entry in running])
        if not running:
            # Nothing in progress: nothing will ever free what holds the rest. Their
            # reasons are those of the tick's own `decide`, asked once.
            state = replace(snapshot, pools=pools, fair_finished=finished, now=t)
            rest = queue.in_order()
            none, last_wait, rest_wait = _launch_round(state, rest, [])
            assert not none, "a run the replay held would launch"
            for run in rest:
                wait = last_wait.get(run.run_id)
                reason = wait.message if wait is not None else rest_wait
                estimates[run.run_id] = Estimate(run.run_id, "blocked", reason=reason)
            break
        first_end = running[0][0]
        steps = max(1, -int(-(first_end - t) // tick))
        t += steps * tick
        if t - now > horizon_seconds or rounds >= max_rounds:
            for run in queue.in_order():
                estimates[run.run_id] = Estimate(run.run_id, "beyond")
            break
        while running and running[0][0] <= t:
            done = heapq.heappop(running)[2]
            run_id = done.run.run_id
            for job in done.assumed:
                assumed_running[job] -= 1
            relied_on.update(done.assumed)
            tags.remove(run_id, done.run.tags)
            queue.wake_tags(tags.gate_ids(done.run.tags))
            if pool_counter is not None:
                queue.wake_pools(pool_counter.remove(run_id))
                for key in _free_pools(pools, run_id):
                    pool_counter.set_state(key, pools[key])
                    queue.wake_pools([key])
            else:
                _free_pools(pools, run_id)
            if fair is not None:
                value = done.run.tags.get(fair.key)
                finished[value] = finished.get(value, 0) + 1
    return estimates


Place = tuple[Hashable, ...]
# Where a run of `replay_events` waits: the queue in order (`READY`), or parked with the
# runs one gate holds: ("tag", kind, subject) or ("pool", what the pools read of its demand).
READY: Place = ("ready",)


class _Parked:
    """The remaining queue of `replay_events`: runs by their place in the pass order, each
    either ready (looked at every pass, in order, until max_concurrent_runs is used up) or
    parked on the gate that held it. A parked group is open when what holds it may have
    room (a run it counted ended) and closed when its first run in order is held by it
    again: every run of a group fails its gate alike, and counts only grow during a pass.
    """

    def __init__(
        self,
        queued: Sequence[RunInfo],
        fair: FairShare | None,
        finished: dict[str | None, int],
    ) -> None:
        self._fair = fair
        self._finished = finished
        self.remaining = len(queued)
        self._runs: list[RunInfo] = queue_order(queued)
        self._position = {run.run_id: i for i, run in enumerate(self._runs)}
        self._turns: Mapping[str, Turn] = {}
        self._where: dict[int, Place] = dict.fromkeys(range(len(self._runs)), READY)
        self._groups: dict[Place, list[int]] = {READY: list(range(len(self._runs)))}
        self._open: set[Place] = {READY}
        self._by_pool: dict[str, set[Place]] = {}
        # The pass's heap of (position, group) over the heads of open groups; entries that
        # no longer name a group's head are skipped.
        self._heads: list[tuple[int, Place]] = []
        self._offer(READY)
        # Fair share: the runs of each value, in Dagster's order, not launched yet.
        self._of_value: dict[str | None, list[tuple[int, int, str]]] = {}
        # Without fair share a run's position never changes: what it reads of the counters,
        # by position (its tag limits, or None with a distinct-values one; its pool place).
        self._limits: dict[int, tuple[tuple[Place, Bucket, int], ...] | None] = {}
        self._pool_place: dict[int, tuple[Place, frozenset[str]]] = {}
        # The counter and limit of each tag place, and whether the pools have room for the
        # runs of each pool place at `_room_version` of the pool counter.
        self._tag_limits: dict[Place, tuple[Bucket, int]] = {}
        self._rooms: dict[Place, bool] = {}
        self._room_version = -1

    def place(self, active: Sequence[RunInfo]) -> None:
        """(Fair share) order the remaining runs as `fair_order` does now."""
        assert self._fair is not None
        left = self.in_order()
        placed = fair_order(left, active, self._fair, self._finished)
        old = {pos: run.run_id for pos, run in enumerate(self._runs)}
        self._runs = placed.runs
        self._turns = placed.turns
        self._position = {run.run_id: i for i, run in enumerate(self._runs)}
        where: dict[int, Place] = {}
        groups: dict[Place, list[int]] = {}
        for pos, place in self._where.items():
            new = self._position[old[pos]]
            where[new] = place
            groups.setdefault(place, []).append(new)
        for members in groups.values():
            heapq.heapify(members)
        self._where, self._groups = where, groups
        self._groups.setdefault(READY, [])
        self._heads = []
        for group in self._open:
            self._offer(group)
        self._of_value = {}
        key = self._fair.key
        for run in sorted(left, key=lambda r: (-r.priority, r.created_seq)):
            self._of_value.setdefault(run.tags.get(key), []).append(
                (-run.priority, run.created_seq, run.run_id)
            )
        for runs in self._of_value.values():
            runs.reverse()  # popped from the end, first in order last

    def launched_out_of_turn(self, launched: Sequence[RunInfo]) -> bool:
        """(Fair share) whether a run launched while an earlier run of its value (in
        Dagster's order) still waits: that run's turn changed, and the order with it."""
        assert self._fair is not None
        key = self._fair.key
        out = False
        for run in sorted(launched, key=lambda r: (-r.priority, r.created_seq)):
            runs = self._of_value.get(run.tags.get(key), [])
            if runs and runs[-1][2] == run.run_id:
                runs.pop()
            else:
                out = True
        return out

    def in_order(self) -> list[RunInfo]:
        """The runs not launched, in the pass order."""
        return [self._runs[pos] for pos in sorted(self._where)]

    def wake_tags(self, gate_ids: Sequence[tuple[str, str]]) -> None:
        for kind, subject in gate_ids:
            self._wake(("tag", kind, subject))

    def wake_pools(self, keys: Sequence[str]) -> None:
        for key in keys:
            for group in self._by_pool.get(key, ()):
                self._wake(group)

    def _wake(self, group: Place) -> None:
        if group in self._groups and group not in self._open:
            self._open.add(group)
            self._offer(group)

    def _offer(self, group: Place) -> None:
        members = self._groups.get(group)
        if members:
            heapq.heappush(self._heads, (members[0], group))

    def walk(self, walk: Walk) -> list[RunInfo]:
        """One pass: the heads of the open groups in order, each given its verdict by
        `walk`, until max_concurrent_runs is used up. Returns the runs launched."""
        launched: list[RunInfo] = []
        later: list[int] = []  # held by a distinct-values cap: ready again after the pass
        heads, groups, where, runs = self._heads, self._groups, self._where, self._runs
        is_open, tag_limits, is_full = self._open, self._tag_limits, walk.tags.is_full
        heappop, heappush = heapq.heappop, heapq.heappush
        # Without fair share (whose turns `consider` reads) and while max_concurrent_runs
        # has room, runs held by a limit are moved without a whole verdict (below).
        fast = self._fair is None and walk.capacity.gate().passed
        while heads:
            pos, group = heappop(heads)
            members = groups.get(group)
            if group not in is_open or not members or members[0] != pos:
                continue
            run = runs[pos]
            if group != READY:
                limit = tag_limits.get(group)
                if is_full(*limit) if limit is not None else self._fails(group, run, walk):
                    # Its gate still fails the group's first run, so it holds them all:
                    # closed without a whole verdict (the tick's pass gives this run a Wait).
                    is_open.discard(group)
                    continue
            if fast:
                # Most runs looked at are held by another limit than the one that woke
                # them: found from the counters alone, without a whole verdict (which
                # `consider` gives when nothing holds the run, and would give as a Wait on
                # that same limit otherwise).
                holder = self._first_full(pos, run, walk)
                if holder is not None and holder != group:
                    heappop(members)
                    # Parked on a gate that fails it: closed, so not offered.
                    is_open.discard(holder)
                    where[pos] = holder
                    parked = groups.get(holder)
                    if parked is None:
                        groups[holder] = [pos]
                    else:
                        heappush(parked, pos)
                    if members:
                        heappush(heads, (members[0], group))
                    continue
            heappop(members)
            del where[pos]
            verdict = walk.consider(run, pos + 1, self._turns.get(run.run_id))
            if isinstance(verdict, Launch):
                launched.append(run)
                self.remaining -= 1
                self._offer(group)
                fast = fast and walk.capacity.gate().passed
                continue
            gate = verdict.blocking
            if gate.rule in ("max_concurrent_runs", "fair_share"):
                # Every later run of this pass waits on it too; it stays first in its group.
                self._park(pos, group)
                break
            if gate.rule == "tag" and gate.kind == "distinct_values":
                later.append(pos)
                self._offer(group)
                continue
            if gate.rule == "tag":
                held: Place = ("tag", gate.kind, gate.subject)
            else:
                # Runs whose pool demands read the same get the same answer from the pools.
                summary = run.pool_summary
                assert summary is not None and walk.pools is not None
                room, read = walk.pools.room_key(summary)
                held = ("pool", room)
                for key in read:
                    self._by_pool.setdefault(key, set()).add(held)
            self._open.discard(held)
            self._park(pos, held)
            if held != group:
                if group != READY and _still_holds(group, verdict, run, walk):
                    # Its own gate fails this run too (though not first): it holds the rest.
                    self._open.discard(group)
                else:
                    self._offer(group)
        for pos in later:
            self._park(pos, READY)
        return launched

    def _fails(self, group: Place, run: RunInfo, walk: Walk) -> bool:
        """Whether the gate `group` is parked on fails `run` (a run of the group) now."""
        if group[0] == "tag":
            limit = self._tag_limits.get(group)
            if limit is None:
                return _holds(group, run, walk)
            return walk.tags.is_full(*limit)
        return not self._room(group, run, walk)

    def _room(self, place: Place, run: RunInfo, walk: Walk) -> bool:
        """Whether the pools have room for `run`, parked (or to be parked) on pool `place`:
        one answer for every run of that place while the pool counts are unchanged."""
        pools = walk.pools
        assert pools is not None
        if pools.version != self._room_version:
            self._rooms.clear()
            self._room_version = pools.version
        room = self._rooms.get(place)
        if room is None:
            room = self._rooms[place] = pools.check(run)[1]
        return room

    def _tag_places(self, run: RunInfo, walk: Walk) -> tuple[tuple[Place, Bucket, int], ...] | None:
        """(place, counter, limit) of each tag limit counting `run`, in `check`'s order;
        None when a distinct-values limit counts it."""
        limits = walk.tags.limits_of(run.tags)
        if limits is None:
            return None
        found = []
        for kind, subject, bucket, limit in limits:
            place: Place = ("tag", kind, subject)
            self._tag_limits[place] = (bucket, limit)
            found.append((place, bucket, limit))
        return tuple(found)

    def _first_full(self, pos: int, run: RunInfo, walk: Walk) -> Place | None:
        """The place of the first limit (tags in order, then pools) that holds `run` now,
        or None when none does or a distinct-values limit counts it."""
        try:
            limits = self._limits[pos]
        except KeyError:
            limits = self._limits[pos] = self._tag_places(run, walk)
        if limits is None:
            return None
        if limits:
            full = walk.tags.first_full(limits)
            if full is not None:
                return full
        summary = run.pool_summary
        if summary is None or walk.pools is None:
            return None
        found = self._pool_place.get(pos)
        if found is None:
            room, read = walk.pools.room_key(summary)
            found = self._pool_place[pos] = (("pool", room), read)
        place, read = found
        if self._room(place, run, walk):
            return None
        for key in read:
            self._by_pool.setdefault(key, set()).add(place)
        return place

    def _park(self, pos: int, group: Place) -> None:
        self._where[pos] = group
        members = self._groups.setdefault(group, [])
        heapq.heappush(members, pos)
        if group in self._open and members[0] == pos:
            heapq.heappush(self._heads, (pos, group))


def _holds(group: Place, run: RunInfo, walk: Walk) -> bool:
    """Whether the gate `group` is parked on fails `run` (a run of the group) now, asking
    only that gate's counter."""
    if group[0] == "tag":
        return any(
            not gate.passed and (gate.kind, gate.subject) == group[1:]
            for gate in walk.tags.check(run.tags)
        )
    return walk.pools is not None and not walk.pools.check(run)[1]


def _still_holds(group: Place, verdict: Wait, run: RunInfo, walk: Walk) -> bool:
    """Whether the gate `group` is parked on fails `run` (a run of the group) now."""
    if group[0] == "tag":
        return any(
            gate.rule == "tag" and not gate.passed and (gate.kind, gate.subject) == group[1:]
            for gate in verdict.gates
        )
    return walk.pools is not None and not walk.pools.check(run)[1]


def _no_history(queued: Sequence[RunInfo]) -> dict[str, Estimate]:
    return {
        run.run_id: Estimate(run.run_id, "no_history", reason="no job has finished a run yet")
        for run in queued
    }


def _durations(
    job_of: Mapping[str, str], durations: Mapping[str, float], fallback_seconds: float
) -> Callable[[str], tuple[float, tuple[str, ...]]]:
    """A run's expected length and the jobs never run whose fallback it rests on."""

    def duration(run_id: str) -> tuple[float, tuple[str, ...]]:
        job = job_of.get(run_id, "")
        if job in durations:
            return durations[job], ()
        return float(fallback_seconds), (job,)

    return duration


def _in_progress(
    snapshot: QueueSnapshot, duration: Callable[[str], tuple[float, tuple[str, ...]]]
) -> list[_Running]:
    """The runs in progress, each ending after its job's typical length minus what it ran."""
    now = snapshot.now
    running = []
    for run in snapshot.active:
        length, assumed = duration(run.run_id)
        ran = 0.0 if run.started_at is None else max(0.0, now - run.started_at)
        running.append(_Running(run, now + max(length - ran, 0.0), assumed))
    return running


def _launch_round(
    snapshot: QueueSnapshot, remaining: list[RunInfo], running: list[_Running]
) -> tuple[list[RunInfo], dict[str, Wait], str]:
    """What `decide` launches in `snapshot` (its time, pools, turns): asked about the head of the remaining queue, grown
    while runs past it could still launch (without fair share, whose order needs it all)."""
    active = tuple(r.run for r in running)
    fair = snapshot.settings.fair_share is not None
    head = len(remaining) if fair else FIRST_HEAD
    by_id = {run.run_id: run for run in remaining} if fair else None
    while True:
        part = remaining[:head]
        decision = decide(replace(snapshot, queued=part, active=active), complete=False)
        if decision.later_runs_wait_on is not None or head >= len(remaining):
            break
        head *= 4
    if by_id is None:
        by_id = {run.run_id: run for run in part}
    waits = {k: v for k, v in decision.verdicts.items() if isinstance(v, Wait)}
    later = decision.later_runs_wait_on
    rest = later.message if later is not None else "held by a rule nothing running frees"
    return [by_id[run_id] for run_id in decision.launch], waits, rest


def _free_pools(pools: dict[str, PoolState], run_id: str) -> list[str]:
    """A run ended: its steps' slots and waiting entries leave the pools. Returns the pools
    it was in."""
    changed = []
    for key, state in pools.items():
        if run_id in state.holders:
            held = state.holders.count(run_id)
            pools[key] = replace(
                state,
                pending=max(0, state.pending - held),
                holders=tuple(h for h in state.holders if h != run_id),
            )
            changed.append(key)
    return changed
