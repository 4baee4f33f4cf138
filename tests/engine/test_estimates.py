"""Start estimates: the queue replayed forward with `decide`, holders ending after their
job's typical duration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.engine.estimates import (
    estimate_starts,
    replay_events,
    replay_ticks,
    typical_durations,
)
from queueing.engine.types import (
    DAGSTER_1_13,
    FairShare,
    PoolState,
    PoolSummary,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TagLimit,
)

NOW = 10_000.0


def _run(n: int, status=RunStatus.QUEUED, started_at=None, pools=None, **tags: str) -> RunInfo:
    summary = None
    if pools:
        summary = PoolSummary(dict.fromkeys(pools, 1), frozenset(pools), False)
    return RunInfo(f"r{n}", status, tags, n, pool_summary=summary, started_at=started_at)


def _estimate(
    queued, active=(), job_of=None, durations=None, fallback=60.0, tick=5, pools=None, **settings
):
    snapshot = QueueSnapshot(
        QueueSettings(**settings), tuple(queued), tuple(active), pools or {}, NOW
    )
    runs = [*queued, *active]
    job_of = job_of or {r.run_id: "etl" for r in runs}
    return estimate_starts(snapshot, job_of, durations or {"etl": 60.0}, fallback, tick)


def test_runs_start_as_holders_finish_after_their_jobs_median_minus_elapsed():
    active = [_run(1, RunStatus.STARTED, started_at=NOW - 40)]  # 20 s left of 60
    queued = [_run(2), _run(3)]
    found = _estimate(queued, active, max_concurrent_runs=1)
    # r2 starts at the first tick after 20 s, r3 one full run (60 s) later.
    assert found["r2"].starts_in == 20
    assert found["r3"].starts_in == 80
    assert found["r2"].label == "starts in about 20 s"
    assert found["r3"].label == "starts in about 80 s"


def test_a_run_that_launches_now_starts_at_the_next_tick():
    found = _estimate([_run(1)], max_concurrent_runs=2)
    assert found["r1"].starts_in == 0
    assert found["r1"].label == "starts at the next tick"


def test_a_holder_running_longer_than_usual_ends_at_the_next_tick():
    active = [_run(1, RunStatus.STARTED, started_at=NOW - 500)]
    assert _estimate([_run(2)], active, max_concurrent_runs=1)["r2"].starts_in == 5


def test_tag_limits_are_replayed_too():
    queued = [_run(2, db="x"), _run(3, db="y"), _run(4, db="x")]
    found = _estimate(queued, max_concurrent_runs=-1, tag_limits=(TagLimit("db", 1, "x"),))
    assert [found[f"r{n}"].starts_in for n in (2, 3, 4)] == [0, 0, 60]


def test_a_closed_pool_says_blocked_with_the_rule():
    pools = {"warehouse": PoolState("warehouse", 0)}
    found = _estimate([_run(2, pools=["warehouse"])], max_concurrent_runs=5, pools=pools)
    assert found["r2"].kind == "blocked"
    assert found["r2"].label.startswith("blocked: pool warehouse is closed (limit 0)")


def test_max_concurrent_runs_zero_blocks_every_run():
    found = _estimate([_run(2), _run(3)], max_concurrent_runs=0)
    assert {e.kind for e in found.values()} == {"blocked"}
    assert "launches nothing" in found["r3"].reason


def test_jobs_never_run_use_the_fallback_and_say_so():
    active = [_run(1, RunStatus.STARTING)]
    found = _estimate(
        [_run(2)],
        active,
        job_of={"r1": "brand_new", "r2": "etl"},
        durations={"etl": 60.0},
        fallback=30.0,
        max_concurrent_runs=1,
    )
    assert found["r2"].starts_in == 30
    assert found["r2"].assumed_jobs == ("brand_new",)


def test_without_any_history_there_is_no_estimate():
    found = _estimate([_run(2)], fallback=None, max_concurrent_runs=1)
    assert found["r2"].label == "no estimate: no job has finished a run yet"


def test_fair_share_is_replayed_in_its_order():
    queued = [_run(n, team="data") for n in range(1, 4)] + [_run(9, team="growth")]
    found = _estimate(queued, max_concurrent_runs=1, fair_share=FairShare("team"))
    assert [found[r].starts_in for r in ("r1", "r9", "r2", "r3")] == [0, 60, 120, 180]


def test_typical_durations_are_medians_with_the_median_of_medians_as_fallback():
    medians, fallback = typical_durations({"a": [1, 2, 30], "b": [10], "c": []})
    assert medians == {"a": 2, "b": 10}
    assert fallback == 6


def test_a_long_queue_gets_estimates_in_order_up_to_the_rounds_bound():
    queued = [_run(n, team=str(n % 7)) for n in range(2_000)]
    found = _estimate(queued, max_concurrent_runs=25, tag_limits=(TagLimit("team", 5, "3"),))
    assert len(found) == 2_000
    estimated = [found[f"r{n}"] for n in range(2_000) if found[f"r{n}"].kind == "estimate"]
    assert len(estimated) > 25
    starts = [
        e.starts_in for e in estimated if e.run_id not in {f"r{n}" for n in range(3, 2000, 7)}
    ]
    assert starts == sorted(starts)


@pytest.mark.parametrize("replay", [replay_events, replay_ticks])
def test_the_replay_stops_after_max_rounds_and_says_so(replay):
    queued = [_run(n) for n in range(10)]
    snapshot = QueueSnapshot(QueueSettings(max_concurrent_runs=1), tuple(queued), (), {}, NOW)
    job_of = {r.run_id: "etl" for r in queued}
    found = replay(snapshot, job_of, {"etl": 60.0}, 60.0, 5, max_rounds=3)
    assert [found[f"r{n}"].kind for n in range(5)] == ["estimate"] * 3 + ["beyond"] * 2
    assert found["r9"].label == "no estimate: later than the replay looks ahead"


def test_dagster_semantics_are_replayed_with_their_own_decide():
    queued = [_run(n) for n in range(3)]
    found = _estimate(queued, max_concurrent_runs=1, semantics=DAGSTER_1_13)
    assert [found[f"r{n}"].starts_in for n in range(3)] == [0, 60, 120]
    with pytest.raises(ValueError, match="concurrency_ui"):
        replay_events(
            QueueSnapshot(QueueSettings(semantics=DAGSTER_1_13), (), (), {}, NOW), {}, {}, 1, 1
        )


# --- the incremental replay against the plain one ------------------------------------

_POOL_KEYS = ["p", "q"]
_summaries = st.none() | st.builds(
    lambda roots, extra, free, weights: PoolSummary(
        roots,
        frozenset(roots) | frozenset(extra),
        free,
        root_demands=tuple({k: w} for k, w in roots.items()) if weights else (),
        max_slots={k: w for k, w in roots.items()} if weights else {},
    ),
    st.dictionaries(st.sampled_from(_POOL_KEYS), st.integers(1, 2), min_size=1, max_size=2),
    st.sets(st.sampled_from(_POOL_KEYS), max_size=1),
    st.booleans(),
    st.booleans(),
)
_tag_sets = st.dictionaries(
    st.sampled_from(["db", "team", "bf"]), st.sampled_from(["x", "y", "z"]), max_size=3
)
_limits = st.lists(
    st.one_of(
        st.builds(TagLimit, st.sampled_from(["db", "team", "bf"]), st.integers(0, 3)),
        st.builds(
            TagLimit,
            st.sampled_from(["db", "team"]),
            st.integers(0, 2),
            st.sampled_from(["x", "y"]),
        ),
        st.builds(
            lambda key, limit: TagLimit(key, limit, per_unique_value=True),
            st.sampled_from(["team", "bf"]),
            st.integers(1, 2),
        ),
        st.builds(
            lambda key, limit: TagLimit(key, limit, distinct_values=True),
            st.sampled_from(["bf", "db"]),
            st.integers(0, 2),
        ),
    ),
    max_size=4,
)


@st.composite
def _snapshots(draw):
    n_queued = draw(st.integers(0, 25))
    n_active = draw(st.integers(0, 5))
    runs = []
    for n in range(n_queued + n_active):
        active = n >= n_queued
        status = RunStatus.QUEUED
        started_at = None
        if active:
            status = draw(st.sampled_from([RunStatus.STARTING, RunStatus.STARTED]))
            if status == RunStatus.STARTED:
                started_at = NOW - draw(st.integers(0, 200))
        runs.append(
            RunInfo(
                f"r{n}",
                status,
                draw(_tag_sets),
                draw(st.integers(0, 40)),
                priority=draw(st.sampled_from([0, 0, 0, 1, -1])),
                pool_summary=draw(_summaries),
                started_at=started_at,
            )
        )
    queued, active = runs[:n_queued], runs[n_queued:]
    pools = {}
    for key in draw(st.sets(st.sampled_from(_POOL_KEYS))):
        holders = tuple(draw(st.lists(st.sampled_from([r.run_id for r in active] or ["gone"]))))
        pools[key] = PoolState(key, draw(st.integers(0, 3)), len(holders), holders)
    fair = draw(st.none() | st.builds(FairShare, st.sampled_from(["team", "db"])))
    queue_settings = QueueSettings(
        max_concurrent_runs=draw(st.integers(-1, 4)),
        tag_limits=tuple(draw(_limits)),
        block_op_concurrency_limited_runs=draw(st.booleans()),
        slot_buffer=draw(st.integers(0, 1)),
        granularity=draw(st.sampled_from(["op", "run"])),
        started_run_allotment_seconds=draw(st.sampled_from([0.0, 5.0, 30.0])),
        fair_share=fair,
    )
    finished = draw(st.dictionaries(st.sampled_from(["x", "y", None]), st.integers(1, 3)))
    return QueueSnapshot(queue_settings, tuple(queued), tuple(active), pools, NOW, finished)


@settings(max_examples=400, deadline=None)
@given(
    snapshot=_snapshots(),
    jobs=st.lists(st.sampled_from(["a", "b", "new"]), min_size=30, max_size=30),
    durations=st.dictionaries(st.sampled_from(["a", "b"]), st.integers(1, 120)),
    tick=st.integers(1, 15),
    max_rounds=st.integers(1, 60),
)
def test_the_incremental_replay_gives_the_plain_replays_estimates(
    snapshot, jobs, durations, tick, max_rounds
):
    runs = [*snapshot.queued, *snapshot.active]
    job_of = {run.run_id: jobs[i] for i, run in enumerate(runs)}
    fallback = 45.0
    plain = replay_ticks(snapshot, job_of, durations, fallback, tick, 3600, max_rounds)
    incremental = replay_events(snapshot, job_of, durations, fallback, tick, 3600, max_rounds)
    assert incremental == plain
