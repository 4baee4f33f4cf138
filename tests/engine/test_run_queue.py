from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.engine.run_queue import (
    decide,
    explain,
    pool_summaries_full_now,
    queue_order,
    tags_full_now,
)
from queueing.engine.types import (
    PoolState,
    PoolSummary,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TagLimit,
    Wait,
)

NOW = 1_000.0
_seq = iter(range(1, 10**9))


def run(
    run_id: str,
    *,
    status: RunStatus = RunStatus.QUEUED,
    priority: int = 0,
    tags: dict[str, str] | None = None,
    roots: dict[str, int] | None = None,
    pools: set[str] | None = None,
    unconstrained_root: bool = False,
    started_at: float | None = None,
    seq: int | None = None,
) -> RunInfo:
    summary = None
    if roots is not None or pools is not None:
        roots = roots or {}
        summary = PoolSummary(
            root_pool_counts=roots,
            all_pools=frozenset(pools if pools is not None else roots),
            has_unconstrained_root=unconstrained_root,
        )
    return RunInfo(
        run_id=run_id,
        status=status,
        tags=tags or {},
        created_seq=seq if seq is not None else next(_seq),
        priority=priority,
        pool_summary=summary,
        started_at=started_at,
    )


def active(run_id: str, **kwargs) -> RunInfo:
    kwargs.setdefault("status", RunStatus.STARTED)
    kwargs.setdefault("started_at", NOW - 3600)
    return run(run_id, **kwargs)


def snapshot(
    queued: list[RunInfo],
    active_runs: list[RunInfo] | None = None,
    pools: dict[str, PoolState] | None = None,
    **settings_kwargs,
) -> QueueSnapshot:
    return QueueSnapshot(
        settings=QueueSettings(**settings_kwargs),
        queued=queued,
        active=active_runs or [],
        pools=pools or {},
        now=NOW,
    )


def pool(key: str, limit: int, pending: int = 0, holders: tuple[str, ...] = ()) -> PoolState:
    return PoolState(key=key, limit=limit, pending=pending, holders=holders)


def launched(snap: QueueSnapshot) -> list[str]:
    return list(decide(snap).launch)


def blocking(snap: QueueSnapshot, run_id: str):
    verdict = decide(snap).verdicts[run_id]
    assert isinstance(verdict, Wait), f"{run_id} was launched"
    return verdict.blocking


# --- capacity (SEMANTICS 1.1, 2.2) -------------------------------------------------


def test_default_max_concurrent_runs_is_ten():
    queued = [run(f"q{i}") for i in range(15)]

    assert launched(snapshot(queued)) == [f"q{i}" for i in range(10)]


def test_minus_one_launches_every_queued_run():
    queued = [run(f"q{i}") for i in range(50)]

    assert len(launched(snapshot(queued, [active("a")] * 3, max_concurrent_runs=-1))) == 50


def test_unlimited_capacity_gate_passes_and_reports_the_count():
    verdict = decide(snapshot([run("q1")], [active("a")], max_concurrent_runs=-1)).verdicts["q1"]

    gate = verdict.gates[0]
    assert gate.passed
    assert gate.message == "max_concurrent_runs is -1 (no limit): 1 runs in progress"


def test_zero_launches_nothing_and_says_so():
    snap = snapshot([run("q1")], max_concurrent_runs=0)

    assert launched(snap) == []
    assert blocking(snap, "q1").message == "max_concurrent_runs is 0: the queue launches nothing"


def test_active_runs_use_up_capacity():
    snap = snapshot(
        [run("q1"), run("q2"), run("q3")],
        [active("a1", status=RunStatus.STARTING), active("a2", status=RunStatus.CANCELING)],
        max_concurrent_runs=3,
    )

    assert launched(snap) == ["q1"]
    gate = blocking(snap, "q2")
    assert gate.rule == "max_concurrent_runs"
    assert gate.message == "max_concurrent_runs: 3 of 3 runs in progress"


def test_more_active_runs_than_the_limit_launches_nothing():
    snap = snapshot([run("q1")], [active(f"a{i}") for i in range(5)], max_concurrent_runs=2)

    assert launched(snap) == []
    assert blocking(snap, "q1").count == 5


def test_max_concurrent_runs_below_minus_one_is_refused():
    with pytest.raises(ValueError, match="max_concurrent_runs"):
        decide(snapshot([run("q1")], max_concurrent_runs=-5))


# --- order (SEMANTICS 2.3) ---------------------------------------------------------


def test_queue_is_ordered_by_priority_then_creation():
    runs = [
        run("old_low", seq=1, priority=-5),
        run("old", seq=2),
        run("new_high", seq=5, priority=10),
        run("new", seq=3),
        run("older_high", seq=4, priority=10),
    ]

    decision = decide(snapshot(runs, max_concurrent_runs=-1))

    assert decision.order == ("older_high", "new_high", "old", "new", "old_low")
    assert decision.launch == decision.order
    assert [decision.verdicts[r].position for r in decision.order] == [1, 2, 3, 4, 5]


def test_queue_order_is_stable_for_equal_keys():
    a, b = run("a", seq=7), run("b", seq=7)

    assert [r.run_id for r in queue_order([b, a])] == ["b", "a"]


def test_capacity_goes_to_the_highest_priority_runs():
    runs = [run("fifo1"), run("fifo2"), run("urgent", priority=3)]

    assert launched(snapshot(runs, max_concurrent_runs=2)) == ["urgent", "fifo1"]


# --- gates, skip-based queue, Q2 (SEMANTICS 2.4) ------------------------------------


def test_it_blocks_run_when_tag_limit_is_full():
    snap = snapshot(
        [run("q1", tags={"database": "redshift"})],
        [active("r1", tags={"database": "redshift"})],
        tag_limits=(TagLimit("database", 1),),
    )

    gate = blocking(snap, "q1")
    assert (gate.rule, gate.subject, gate.holders) == ("tag", "database", ("r1",))


def test_blocked_high_priority_run_does_not_block_later_runs():
    snap = snapshot(
        [run("high", priority=10, tags={"team": "a"}), run("low", priority=-5)],
        [active("a1", tags={"team": "a"})],
        tag_limits=(TagLimit("team", 1),),
    )

    assert launched(snap) == ["low"]
    assert blocking(snap, "high").subject == "team"


def test_runs_accepted_earlier_in_the_tick_count_against_later_ones():
    snap = snapshot(
        [run("q1", tags={"db": "x"}), run("q2", tags={"db": "y"}), run("q3", tags={"db": "z"})],
        tag_limits=(TagLimit("db", 2),),
    )

    assert launched(snap) == ["q1", "q2"]
    gate = blocking(snap, "q3")
    assert gate.holders == ("q1", "q2")
    assert gate.message == "tag db: 2 of 2 runs, held by q1, q2"


def test_pool_blocked_run_does_not_consume_tag_budget():
    # The verified starvation of #25743: team:1, pool foo at 0 slots.
    snap = snapshot(
        [run("older", tags={"team": "x"}, roots={"foo": 1}), run("younger", tags={"team": "x"})],
        pools={"foo": pool("foo", 0)},
        tag_limits=(TagLimit("team", 1),),
    )

    assert launched(snap) == ["younger"]
    assert blocking(snap, "older").rule == "pool"


def test_tag_blocked_run_does_not_consume_pool_room():
    snap = snapshot(
        [run("tagged", tags={"team": "x"}, roots={"p": 1}), run("other", roots={"p": 1})],
        [active("a", tags={"team": "x"})],
        pools={"p": pool("p", 1)},
        tag_limits=(TagLimit("team", 1),),
    )

    assert launched(snap) == ["other"]


def test_capacity_blocked_run_does_not_consume_tag_budget():
    snap = snapshot(
        [run("q1", tags={"t": "1"}), run("q2", tags={"t": "1"})],
        tag_limits=(TagLimit("t", 1),),
        max_concurrent_runs=1,
    )

    decision = decide(snap)
    assert decision.launch == ("q1",)
    # q2 waits for capacity first; its tag gate shows q1 only.
    verdict = decision.verdicts["q2"]
    assert isinstance(verdict, Wait)
    assert verdict.blocking.rule == "max_concurrent_runs"
    assert [(g.rule, g.passed) for g in verdict.gates] == [
        ("max_concurrent_runs", False),
        ("tag", False),
    ]


def test_wait_lists_every_gate_including_the_ones_that_passed():
    snap = snapshot(
        [run("q1", tags={"a": "1", "b": "1"}, roots={"p": 1})],
        [active("r1", tags={"b": "1"})],
        pools={"p": pool("p", 0)},
        tag_limits=(TagLimit("a", 5), TagLimit("b", 1)),
    )

    verdict = decide(snap).verdicts["q1"]

    assert isinstance(verdict, Wait)
    assert [(g.rule, g.subject, g.passed) for g in verdict.gates] == [
        ("max_concurrent_runs", "max_concurrent_runs", True),
        ("tag", "a", True),
        ("tag", "b", False),
        ("pool", "p", False),
    ]
    assert verdict.blocking.subject == "b"
    assert verdict.message == "tag b: 1 of 1 runs, held by r1"


def test_launch_carries_the_gates_it_passed():
    verdict = decide(
        snapshot([run("q1", tags={"a": "1"})], tag_limits=(TagLimit("a", 5),))
    ).verdicts["q1"]

    assert [(g.rule, g.passed) for g in verdict.gates] == [
        ("max_concurrent_runs", True),
        ("tag", True),
    ]


def test_one_greedy_pass_over_the_whole_queue():
    # Q4: max 3, t:1, u:1, A{t}, B{u}, T1, T2, C{t,u, priority 5} launches C, T1, T2.
    queued = [
        run("A", tags={"t": "1"}),
        run("B", tags={"u": "1"}),
        run("T1"),
        run("T2"),
        run("C", tags={"t": "1", "u": "1"}, priority=5),
    ]
    snap = snapshot(queued, max_concurrent_runs=3, tag_limits=(TagLimit("t", 1), TagLimit("u", 1)))

    assert launched(snap) == ["C", "T1", "T2"]
    assert blocking(snap, "A").holders == ("C",)


def test_every_queued_run_gets_a_verdict_in_a_long_queue():
    queued = [run(f"q{i}", tags={"k": str(i % 3)}) for i in range(500)]
    snap = snapshot(
        queued, max_concurrent_runs=7, tag_limits=(TagLimit("k", 2, per_unique_value=True),)
    )

    decision = decide(snap)

    assert len(decision.verdicts) == 500
    assert len(decision.launch) == 6  # 3 values x 2
    assert Counter(type(v).__name__ for v in decision.verdicts.values()) == {
        "Launch": 6,
        "Wait": 494,
    }


# --- pools, op granularity (SEMANTICS 2.7) ------------------------------------------


def test_buffer_one_lets_two_runs_into_a_one_slot_pool():
    queued = [run(f"q{i}", roots={"p": 1}) for i in range(3)]

    assert launched(snapshot(queued, pools={"p": pool("p", 1)}, slot_buffer=1)) == ["q0", "q1"]


def test_negative_buffer_shrinks_the_pool():
    queued = [run(f"q{i}", roots={"p": 1}) for i in range(3)]
    snap = snapshot(queued, pools={"p": pool("p", 2)}, slot_buffer=-1)

    assert launched(snap) == ["q0"]
    assert blocking(snap, "q1").message == (
        "pool p is full: 1 step of started runs (holding or waiting) counts against its 2 slots - buffer 1; runs counted: q0"
    )


def test_pending_step_entries_use_pool_room():
    snap = snapshot(
        [run("q1", roots={"redshift": 1})],
        pools={"redshift": pool("redshift", 2, pending=2, holders=("r1", "r2"))},
    )

    assert launched(snap) == []
    assert blocking(snap, "q1").message == (
        "pool redshift is full: 2 steps of started runs (holding or waiting) count against its 2 slots; runs counted: r1, r2"
    )


def test_a_run_demanding_several_root_slots_adds_them_all():
    snap = snapshot(
        [run("big", roots={"p": 3}), run("small", roots={"p": 1})],
        pools={"p": pool("p", 3)},
    )

    assert launched(snap) == ["big"]
    assert blocking(snap, "small").count == 3


def test_starting_runs_are_allotted_their_root_pools():
    snap = snapshot(
        [run("q1", roots={"p": 1})],
        [active("a1", status=RunStatus.STARTING, started_at=None, roots={"p": 1})],
        pools={"p": pool("p", 1)},
    )

    assert launched(snap) == []
    assert blocking(snap, "q1").holders == ("a1",)


def test_runs_started_less_than_five_seconds_ago_are_allotted_their_root_pools():
    fresh = active("fresh", started_at=NOW - 4.9, roots={"p": 1})
    old = active("old", started_at=NOW - 5.0, roots={"p": 1})
    queued = [run("q1", roots={"p": 1})]

    assert launched(snapshot(queued, [fresh], pools={"p": pool("p", 1)})) == []
    # After the allotment a started run counts only through its real step entries.
    assert launched(snapshot(queued, [old], pools={"p": pool("p", 1)})) == ["q1"]


def test_allotment_window_is_configurable():
    queued = [run("q1", roots={"p": 1})]
    started = [active("a", started_at=NOW - 8, roots={"p": 1})]

    snap = snapshot(queued, started, pools={"p": pool("p", 1)}, started_run_allotment_seconds=10)

    assert launched(snap) == []


def test_canceling_runs_are_not_allotted_in_op_granularity():
    snap = snapshot(
        [run("q1", roots={"p": 1})],
        [active("c", status=RunStatus.CANCELING, roots={"p": 1})],
        pools={"p": pool("p", 1)},
    )

    assert launched(snap) == ["q1"]


def test_root_pool_without_a_limit_row_never_blocks():
    snap = snapshot(
        [run("q1", roots={"limited": 1, "free": 1})],
        pools={"limited": pool("limited", 0)},
    )

    assert launched(snap) == ["q1"]
    assert decide(snap).verdicts["q1"].gates[1:] == ()


def test_unconstrained_root_never_blocks():
    snap = snapshot([run("q1", roots={"p": 1}, unconstrained_root=True)], pools={"p": pool("p", 0)})

    assert launched(snap) == ["q1"]


def test_run_without_pool_summary_is_never_pool_blocked():
    assert launched(snapshot([run("q1")], pools={"p": pool("p", 0)})) == ["q1"]


def test_op_granularity_launches_when_any_root_pool_has_room():
    snap = snapshot(
        [run("q1", roots={"full": 1, "roomy": 1}), run("q2", roots={"full": 1, "roomy": 1})],
        pools={"full": pool("full", 0), "roomy": pool("roomy", 1)},
    )

    assert launched(snap) == ["q1"]
    gate = blocking(snap, "q2")
    assert gate.subject == "full"
    assert [(g.subject, g.passed) for g in decide(snap).verdicts["q2"].gates[1:]] == [
        ("full", False),
        ("roomy", False),
    ]


def test_op_granularity_ignores_non_root_pools():
    snap = snapshot(
        [run("q1", roots={"root": 1}, pools={"root", "later"})],
        pools={"root": pool("root", 1), "later": pool("later", 0)},
    )

    assert launched(snap) == ["q1"]


def test_pools_are_ignored_when_pool_aware_dequeuing_is_off():
    snap = snapshot(
        [run("q1", roots={"p": 1})],
        pools={"p": pool("p", 0)},
        block_op_concurrency_limited_runs=False,
    )

    assert launched(snap) == ["q1"]
    assert [g.rule for g in decide(snap).verdicts["q1"].gates] == ["max_concurrent_runs"]


# --- pools, run granularity ---------------------------------------------------------


def test_run_granularity_counts_active_runs_using_the_pool():
    snap = snapshot(
        [run("q1", roots={"p": 1}), run("q2", roots={"p": 1})],
        [
            # Long-started and canceling runs count for their whole life in run granularity.
            active("a1", started_at=NOW - 3600, roots={"p": 1}),
            active("a2", status=RunStatus.CANCELING, roots={"p": 1}),
        ],
        pools={"p": pool("p", 3, pending=50)},
        granularity="run",
    )

    assert launched(snap) == ["q1"]
    gate = blocking(snap, "q2")
    assert gate.message == "pool p: 3 of 3 runs using it in progress, held by a1, a2, q1"


def test_run_granularity_checks_every_pool_of_the_run():
    snap = snapshot(
        [run("q1", roots={"root": 1}, pools={"root", "later"}, unconstrained_root=True)],
        pools={"root": pool("root", 5), "later": pool("later", 0)},
        granularity="run",
    )

    assert blocking(snap, "q1").subject == "later"


def test_run_granularity_buffer_adds_runs():
    queued = [run(f"q{i}", pools={"p"}) for i in range(4)]

    snap = snapshot(queued, pools={"p": pool("p", 1)}, granularity="run", slot_buffer=2)

    assert launched(snap) == ["q0", "q1", "q2"]


def test_run_granularity_unlimited_pool_never_blocks():
    snap = snapshot([run("q1", pools={"free"})], pools={}, granularity="run")

    assert launched(snap) == ["q1"]


# --- explain ------------------------------------------------------------------------


def test_explain_gives_the_verdict_of_decide():
    snap = snapshot(
        [run("q1", tags={"db": "x"}), run("q2", tags={"db": "x"})],
        tag_limits=(TagLimit("db", 1),),
    )

    decision = decide(snap)
    assert explain(snap, "q1") == decision.verdicts["q1"]
    assert explain(snap, "q2") == decision.verdicts["q2"]
    assert explain(snap, "not-queued") is None


def test_holder_lists_in_messages_are_short():
    queued = [run(f"q{i}", tags={"db": "x"}) for i in range(30)]

    snap = snapshot(queued, max_concurrent_runs=-1, tag_limits=(TagLimit("db", 25),))

    gate = blocking(snap, "q29")
    assert gate.count == 25
    assert gate.message == "tag db: 25 of 25 runs, held by q0, q1, q2 +22 more"
    assert len(gate.holders) + gate.more_holders == 25


# --- property: what is launched never breaks a limit --------------------------------

TAG_KEYS = ["a", "b"]
TAG_VALUES = ["x", "y"]
POOLS = ["p", "q"]

tags_st = st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=2)
limit_st = st.one_of(
    st.builds(TagLimit, st.sampled_from(TAG_KEYS), st.integers(-1, 3)),
    st.builds(TagLimit, st.sampled_from(TAG_KEYS), st.integers(-1, 3), st.sampled_from(TAG_VALUES)),
    st.builds(TagLimit, st.sampled_from(TAG_KEYS), st.integers(-1, 3), st.none(), st.just(True)),
)


@st.composite
def runs_st(draw, status_st):
    n = draw(st.integers(0, 12))
    result = []
    for i in range(n):
        pools = draw(st.frozensets(st.sampled_from(POOLS), max_size=2))
        roots = {p: draw(st.integers(1, 2)) for p in pools if draw(st.booleans())}
        summary = None
        if pools:
            summary = PoolSummary(
                root_pool_counts=roots,
                all_pools=pools,
                has_unconstrained_root=not roots or draw(st.booleans()),
            )
        result.append(
            RunInfo(
                run_id=f"{draw(status_st)}-{i}-{draw(st.integers(0, 10**6))}",
                status=RunStatus.QUEUED,
                tags=draw(tags_st),
                created_seq=draw(st.integers(0, 20)),
                priority=draw(st.integers(-2, 2)),
                pool_summary=summary,
                started_at=None,
            )
        )
    return result


@st.composite
def snapshots(draw):
    queued = draw(runs_st(st.just("q")))
    active_runs = [
        RunInfo(
            run_id=f"a{i}-{r.run_id}",
            status=draw(
                st.sampled_from([RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING])
            ),
            tags=r.tags,
            created_seq=r.created_seq,
            pool_summary=r.pool_summary,
            started_at=NOW - draw(st.floats(0, 10)),
        )
        for i, r in enumerate(draw(runs_st(st.just("a"))))
    ]
    pools = {
        key: PoolState(key, draw(st.integers(0, 3)), pending=draw(st.integers(0, 3)))
        for key in POOLS
        if draw(st.booleans())
    }
    settings = QueueSettings(
        max_concurrent_runs=draw(st.integers(-1, 8)),
        tag_limits=tuple(draw(st.lists(limit_st, max_size=4))),
        block_op_concurrency_limited_runs=draw(st.booleans()),
        slot_buffer=draw(st.integers(-1, 2)),
        granularity=draw(st.sampled_from(["op", "run"])),
    )
    return QueueSnapshot(settings, queued, active_runs, pools, NOW)


def effective_limits(tag_limits):
    """The limits that apply after "last listed of a kind wins"."""
    winners = {}
    for limit in tag_limits:
        kind = limit.kind
        ident = (kind, limit.key, limit.value if kind == "key_value" else None)
        winners[ident] = limit
    return list(winners.values())


def buckets_of(limit: TagLimit, tags) -> list[tuple]:
    if limit.key not in tags:
        return []
    if limit.kind == "key":
        return [(limit.key,)]
    if limit.kind == "key_value":
        return [(limit.key, limit.value)] if tags[limit.key] == limit.value else []
    return [(limit.key, tags[limit.key])]


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_launched_runs_never_exceed_a_limit_on_top_of_active_runs(snap):
    decision = decide(snap)
    by_id = {r.run_id: r for r in snap.queued}
    new = [by_id[run_id] for run_id in decision.launch]
    s = snap.settings

    assert set(decision.verdicts) == set(by_id)
    assert set(decision.launch) == {
        r for r, v in decision.verdicts.items() if not isinstance(v, Wait)
    }

    if s.max_concurrent_runs != -1:
        assert len(new) <= max(0, s.max_concurrent_runs - len(snap.active))

    for limit in effective_limits(s.tag_limits):
        counts: Counter = Counter()
        touched = set()
        for r in [*snap.active, *new]:
            for bucket in buckets_of(limit, r.tags):
                counts[bucket] += 1
        for r in new:
            touched.update(buckets_of(limit, r.tags))
        for bucket in touched:
            assert counts[bucket] <= limit.limit, (limit, bucket)

    if not s.block_op_concurrency_limited_runs:
        return
    for key, state in snap.pools.items():
        capacity = state.limit + s.slot_buffer
        if s.granularity == "run":
            users = [r for r in new if r.pool_summary and key in r.pool_summary.all_pools]
            in_use = sum(
                1 for r in snap.active if r.pool_summary and key in r.pool_summary.all_pools
            )
            if users:
                assert in_use + len(users) <= capacity
        else:
            # Runs that can only start through this pool: one root pool, no free root.
            bound = [
                r
                for r in new
                if r.pool_summary
                and not r.pool_summary.has_unconstrained_root
                and set(r.pool_summary.root_pool_counts) == {key}
            ]
            if bound:
                allotted = sum(
                    r.pool_summary.root_pool_counts.get(key, 0)
                    for r in snap.active
                    if r.pool_summary
                    and (
                        r.status == RunStatus.STARTING
                        or (r.status == RunStatus.STARTED and NOW - r.started_at < 5)
                    )
                )
                accepted_before = 0
                for r in new:
                    if r is bound[-1]:
                        break
                    if r.pool_summary:
                        accepted_before += r.pool_summary.root_pool_counts.get(key, 0)
                before_last = state.pending + allotted + accepted_before
                # The last pool-bound run was accepted while the pool still had room.
                assert before_last < capacity


@settings(max_examples=300, deadline=None)
@given(snapshots(), st.integers(0, 12))
def test_deciding_the_head_of_the_queue_gives_the_whole_queues_verdicts(snap, head):
    """What lets the tick read only the head of a long queue: the head's verdicts do not
    depend on the runs after it, and once `later_runs_wait_on` is set every later run
    waits on max_concurrent_runs."""
    ordered = queue_order(snap.queued)
    whole = decide(snap, complete=False)
    part = decide(
        QueueSnapshot(snap.settings, ordered[:head], snap.active, snap.pools, snap.now),
        complete=False,
    )
    for run_info in ordered[:head]:
        mine, theirs = part.verdicts[run_info.run_id], whole.verdicts[run_info.run_id]
        assert type(mine) is type(theirs)
        if isinstance(mine, Wait):
            assert mine.blocking == theirs.blocking
    assert part.launch == tuple(r for r in whole.launch if r in part.verdicts)
    if part.later_runs_wait_on is not None:
        assert snap.settings.max_concurrent_runs != -1
        for run_info in ordered[head:]:
            verdict = whole.verdicts[run_info.run_id]
            assert isinstance(verdict, Wait)
            assert verdict.blocking == part.later_runs_wait_on


def test_later_runs_wait_on_is_set_only_when_max_concurrent_runs_is_used_up():
    queued = [run("q1"), run("q2"), run("q3", tags={"db": "x"})]
    full = decide(snapshot(queued[:2], [active("a")], max_concurrent_runs=3), complete=False)
    assert full.later_runs_wait_on is not None
    assert full.later_runs_wait_on.message == "max_concurrent_runs: 3 of 3 runs in progress"
    assert decide(snapshot(queued, max_concurrent_runs=4)).later_runs_wait_on is None
    assert decide(snapshot(queued, max_concurrent_runs=-1)).later_runs_wait_on is None
    held = snapshot(
        queued,
        [active("a", tags={"db": "x"})],
        max_concurrent_runs=4,
        tag_limits=(TagLimit("db", 1),),
    )
    # q3 waits on its tag, so a slot of max_concurrent_runs is still free.
    assert decide(held).later_runs_wait_on is None


def _carries_full_tag(run_info: RunInfo, full) -> bool:
    keys, values = full
    return any(key in keys or value in values.get(key, ()) for key, value in run_info.tags.items())


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_an_unlimited_queue_may_leave_out_the_runs_a_full_tag_or_pool_holds(snap):
    """What lets a tick of an unlimited queue read only part of it: a run carrying a tag
    that `tags_full_now` names, or whose pool summary `pool_summaries_full_now` names,
    waits, and leaving those runs out changes no launch and no other run's verdict."""
    unlimited = replace(snap.settings, max_concurrent_runs=-1)
    snap = QueueSnapshot(unlimited, snap.queued, snap.active, snap.pools, snap.now)
    full = tags_full_now(unlimited, snap.active)
    if full is None:
        assert not unlimited.tag_limits
        return
    summaries = {r.run_id: r.pool_summary for r in snap.queued if r.pool_summary}
    held = pool_summaries_full_now(snap, summaries)
    whole = decide(snap, complete=False)
    kept = [r for r in snap.queued if not _carries_full_tag(r, full) and r.run_id not in held]
    part = decide(QueueSnapshot(unlimited, kept, snap.active, snap.pools, snap.now), False)
    assert part.launch == whole.launch
    for run_info in snap.queued:
        verdict = whole.verdicts[run_info.run_id]
        if run_info in kept:
            mine = part.verdicts[run_info.run_id]
            assert (type(mine), getattr(mine, "blocking", None)) == (
                type(verdict),
                getattr(verdict, "blocking", None),
            )
        else:
            assert isinstance(verdict, Wait) and verdict.blocking.rule in ("tag", "pool")


def test_a_limited_queue_or_dagsters_semantics_read_the_queue_as_before():
    limits = (TagLimit(key="db", limit=1),)
    busy = [active("a1", tags={"db": "x"})]
    assert tags_full_now(QueueSettings(max_concurrent_runs=5, tag_limits=limits), busy) is None
    assert (
        tags_full_now(
            QueueSettings(max_concurrent_runs=-1, tag_limits=limits, semantics="dagster_1_13"), busy
        )
        is None
    )
    keys, values = tags_full_now(QueueSettings(max_concurrent_runs=-1, tag_limits=limits), busy)
    assert keys == {"db"} and values == {}
