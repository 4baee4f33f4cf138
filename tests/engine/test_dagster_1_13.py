"""The engine's "dagster_1_13" semantics: Dagster 1.13's daemon, quirk for quirk.

Each scenario is one SEMANTICS 8 example, decided both ways: the default semantics keeps
its fixed answer, the faithful one gives Dagster's and says which quirk decided it.
(tests/dagster checks the faithful mode against Dagster's own daemon on real instances.)
"""

from __future__ import annotations

from dataclasses import replace

from queueing.engine.dagster_1_13 import fixed_snapshot
from queueing.engine.run_queue import decide
from queueing.engine.types import (
    DAGSTER_1_13,
    Launch,
    PoolState,
    QueueSettings,
    QueueSnapshot,
    TagLimit,
    Wait,
)

from .test_run_queue import NOW, active, run


def both(snapshot: QueueSnapshot):
    """(concurrency-ui's decision, with defaults written first as its tick does; Dagster's)."""
    faithful = replace(snapshot, settings=replace(snapshot.settings, semantics=DAGSTER_1_13))
    return decide(fixed_snapshot(snapshot)), decide(faithful)


def snap(settings: QueueSettings, queued, active_runs=(), pools=None) -> QueueSnapshot:
    return QueueSnapshot(settings, list(queued), list(active_runs), pools or {}, NOW)


def test_default_semantics_is_unchanged_concurrency_ui():
    assert QueueSettings().semantics == "concurrency_ui"


def test_q2_a_pool_blocked_run_uses_the_tag_budget_and_the_note_names_issue_25743():
    settings = QueueSettings(tag_limits=(TagLimit("team", 1),))
    older = run("older-run", tags={"team": "x"}, roots={"foo": 1})
    younger = run("younger-run", tags={"team": "x"})
    fixed, faithful = both(snap(settings, [older, younger], pools={"foo": PoolState("foo", 0)}))
    assert fixed.launch == ("younger-run",)
    assert faithful.launch == ()
    verdict = faithful.verdicts["younger-run"]
    assert isinstance(verdict, Wait) and verdict.blocking.rule == "tag"
    assert verdict.blocking.holders == ("older-run",)
    (note,) = verdict.notes
    assert "Dagster issue 25743" in note and "older-ru" in note
    assert note.endswith("a fixed version would launch it")
    # The pool-blocked run itself is held by its pool in both; no quirk decides it.
    assert faithful.verdicts["older-run"].notes == ()


def test_q3_a_pool_without_a_row_is_unlimited_for_one_iteration():
    settings = QueueSettings(default_pool_limit=1, max_concurrent_runs=-1)
    runs = [run(f"r{i}", roots={"new": 1}) for i in range(3)]
    fixed, faithful = both(snap(settings, runs))
    assert fixed.launch == ("r0",)
    assert faithful.launch == ("r0", "r1", "r2")
    assert "25109 and 31936" in faithful.verdicts["r1"].notes[0]
    assert (
        faithful.verdicts["r1"]
        .notes[0]
        .endswith(
            "a fixed version would hold it (pool new is full: 1 step of started runs (holding or waiting) counts against its 1 slot; runs counted: r0)"
        )
    )
    assert faithful.verdicts["r0"].notes[0].endswith("a fixed version would launch it too")
    # Next iteration the row exists: the default holds.
    _, second = both(snap(settings, runs[1:], pools={"new": PoolState("new", 1, pending=1)}))
    assert second.launch == ()


def test_q3_a_default_limit_of_0_is_never_written_by_the_daemon():
    settings = QueueSettings(default_pool_limit=0)
    fixed, faithful = both(snap(settings, [run("r0", roots={"closed": 1})]))
    assert fixed.launch == ()
    assert faithful.launch == ("r0",)
    assert "default_limit is 0" in faithful.verdicts["r0"].notes[0]


def test_q4_a_run_cut_on_an_early_page_is_not_reconsidered():
    # SEMANTICS 2.8: max 3, t:1 and u:1, queue A{t} B{u} T1 T2 C{t,u priority 5}, pages of 4.
    settings = QueueSettings(
        max_concurrent_runs=3,
        tag_limits=(TagLimit("t", 1), TagLimit("u", 1)),
        run_queue_page_size=4,
    )
    queued = [
        run("A", tags={"t": "1"}),
        run("B", tags={"u": "1"}),
        run("T1"),
        run("T2"),
        run("C", tags={"t": "1", "u": "1"}, priority=5),
    ]
    fixed, faithful = both(snap(settings, queued))
    assert fixed.launch == ("C", "T1", "T2")
    assert faithful.launch == ("C", "T1")
    note = faithful.verdicts["T2"].notes[0]
    assert "page 1" in note and "Q4" in note and note.endswith("a fixed version would launch it")
    # One page of 100: the daemon agrees with the single pass.
    _, one_page = both(
        replace(snap(settings, queued), settings=replace(settings, run_queue_page_size=100))
    )
    assert one_page.launch == ("C", "T1", "T2")


def test_q1_max_concurrent_runs_below_minus_one_launches_nothing():
    settings = QueueSettings(max_concurrent_runs=-5)
    faithful = decide(
        replace(snap(settings, [run("r0")]), settings=replace(settings, semantics=DAGSTER_1_13))
    )
    assert faithful.launch == ()
    verdict = faithful.verdicts["r0"]
    assert verdict.blocking.message == "max_concurrent_runs is 0: the queue launches nothing"
    assert "Q1" in verdict.notes[0] and "refuses" in verdict.notes[0]


def test_q6_run_granularity_without_blocking_enforces_pools_nowhere():
    settings = QueueSettings(granularity="run", block_op_concurrency_limited_runs=False)
    pools = {"p": PoolState("p", 1)}
    queued = [run("r0", roots={"p": 1}), run("r1", roots={"p": 1})]
    _, faithful = both(snap(settings, queued, [active("busy", roots={"p": 1})], pools))
    assert faithful.launch == ("r0", "r1")
    assert all("Q6" in faithful.verdicts[r].notes[0] for r in ("r0", "r1"))


def test_the_launch_order_is_the_daemons_priority_order_and_positions_follow_it():
    settings = QueueSettings(max_concurrent_runs=2)
    queued = [run("low"), run("high", priority=3), run("mid", priority=1)]
    _, faithful = both(snap(settings, queued))
    assert faithful.launch == ("high", "mid")
    assert isinstance(faithful.verdicts["low"], Wait)
    assert faithful.verdicts["low"].position == 3
    assert isinstance(faithful.verdicts["high"], Launch) and faithful.verdicts["high"].notes == ()


def test_a_started_run_is_allotted_its_root_pools_for_five_seconds_by_the_snapshot_clock():
    settings = QueueSettings()
    pools = {"p": PoolState("p", 1)}
    fresh = active("fresh", roots={"p": 1}, started_at=NOW - 4)
    old = active("old", roots={"p": 1}, started_at=NOW - 6)
    _, held = both(snap(settings, [run("q", roots={"p": 1})], [fresh], pools))
    _, free = both(snap(settings, [run("q", roots={"p": 1})], [old], pools))
    assert held.launch == () and free.launch == ("q",)
