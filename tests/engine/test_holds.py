"""What holds a queued run, as the Queued tab filters by it (engine/holds.py)."""

from __future__ import annotations

from typing import get_args

from queueing.engine.holds import HOLDS, LAUNCHING, QUEUE_AGE, hold_of
from queueing.engine.run_queue import decide
from queueing.engine.types import (
    FairShare,
    QueueSettings,
    QueueSnapshot,
    Rule,
    RunInfo,
    RunStatus,
    TagLimit,
)


def _run(n: int, **tags: str) -> RunInfo:
    return RunInfo(f"r{n}", RunStatus.QUEUED, tags, n)


def test_every_run_queue_rule_is_a_hold_and_the_step_rule_is_not():
    assert set(get_args(Rule)) - {"max_concurrent"} < set(HOLDS)
    assert "max_concurrent" not in HOLDS
    assert {LAUNCHING, "distinct_values", QUEUE_AGE} < set(HOLDS)


def test_each_verdict_names_the_rule_that_holds_the_run():
    settings = QueueSettings(
        max_concurrent_runs=4,
        tag_limits=(
            TagLimit("dagster/backfill", 1, distinct_values=True),
            TagLimit("db", 0, value="x"),
        ),
        fair_share=FairShare("team"),
    )
    queued = [
        _run(1, team="a", **{"dagster/backfill": "b1"}),
        _run(2, team="a", **{"dagster/backfill": "b2"}),  # a second backfill value
        _run(3, team="a", db="x"),  # db=x is closed
        _run(4, team="b"),
        _run(5, team="b"),
        _run(6, team="a"),  # team b's third run goes first: it waits its turn
        _run(7, team="b"),
        _run(8, team="b"),  # capacity is full and no later run went first
    ]
    verdicts = decide(
        QueueSnapshot(settings=settings, queued=queued, active=[], pools={}, now=0.0)
    ).verdicts

    holds = {run_id: hold_of(verdict) for run_id, verdict in verdicts.items()}

    assert holds == {
        "r1": LAUNCHING,
        "r4": LAUNCHING,
        "r2": "distinct_values",
        "r3": "tag",
        "r5": LAUNCHING,
        "r6": "fair_share",
        "r7": LAUNCHING,
        "r8": "max_concurrent_runs",
    }
