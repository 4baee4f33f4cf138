"""Fair share (`concurrency_ui.fair_share`): within a priority, runs of different values of a
tag are interleaved by weight; priorities still dominate and limits still hold. Off, the
order is Dagster's."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_yaml
from queueing.engine.config.reader import parse_instance_dict, parse_instance_yaml
from queueing.engine.fair_share import fair_order
from queueing.engine.run_queue import decide, queue_order
from queueing.engine.types import (
    FairShare,
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TagLimit,
    Wait,
)

TEAM = FairShare("team")


def _run(seq: int, team: str | None = None, priority: int = 0, status=RunStatus.QUEUED):
    tags = {} if team is None else {"team": team}
    if priority:
        tags["dagster/priority"] = str(priority)
    return RunInfo(f"r{seq:04d}", status, tags, seq, priority)


def _decide(queued, active=(), fair=TEAM, max_runs=-1, limits=(), finished=None):
    settings_ = QueueSettings(
        max_concurrent_runs=max_runs, tag_limits=tuple(limits), fair_share=fair
    )
    snapshot = QueueSnapshot(settings_, tuple(queued), tuple(active), {}, 0.0, finished or {})
    return decide(snapshot)


def test_a_backfill_of_500_runs_does_not_hold_another_teams_two_runs():
    backfill = [_run(n, "data") for n in range(500)]
    growth = [_run(500 + n, "growth") for n in range(2)]
    decision = _decide([*backfill, *growth], max_runs=4)
    # Without fair share the two growth runs are 501st and 502nd.
    assert _decide([*backfill, *growth], fair=None, max_runs=4).order.index("r0500") == 500
    assert decision.order[:4] == ("r0000", "r0500", "r0001", "r0501")
    assert decision.launch == decision.order[:4]


def test_weights_give_a_value_more_turns():
    runs = [_run(n, "a") for n in range(6)] + [_run(10 + n, "b") for n in range(6)]
    order = _decide(runs, fair=FairShare("team", (("a", 2),))).order
    assert [r[1:] for r in order[:6]] == ["0000", "0001", "0010", "0002", "0003", "0011"]


def test_runs_in_progress_count_so_a_busy_team_goes_after_an_idle_one():
    active = [_run(900 + n, "data", status=RunStatus.STARTED) for n in range(3)]
    queued = [_run(1, "data"), _run(2, "growth"), _run(3, "growth")]
    assert _decide(queued, active).order == ("r0002", "r0003", "r0001")


def test_turns_had_by_ended_runs_of_the_backlog_count_so_one_slot_alternates():
    queued = [_run(1, "data"), _run(2, "data"), _run(9, "growth")]
    # One data run of this backlog already started and ended: growth goes first.
    assert _decide(queued, max_runs=1, finished={"data": 1}).launch == ("r0009",)
    assert _decide(queued, max_runs=1).launch == ("r0001",)


def test_priorities_dominate_fair_share():
    queued = [_run(1, "a"), _run(2, "a", priority=5), _run(3, "b"), _run(4, "b", priority=5)]
    assert _decide(queued).order == ("r0002", "r0004", "r0001", "r0003")


def test_off_by_default_the_order_is_dagsters():
    queued = [_run(3, "a"), _run(1, "a"), _run(2, "b", priority=1), _run(4, "b")]
    assert QueueSettings().fair_share is None
    assert _decide(queued, fair=None).order == tuple(r.run_id for r in queue_order(queued))


def test_a_run_overtaken_by_later_runs_of_other_values_waits_its_turn_naming_the_rule():
    queued = [_run(n, "data") for n in range(3)] + [_run(10, "growth")]
    decision = _decide(queued, max_runs=2)
    assert decision.launch == ("r0000", "r0010")
    waiting = decision.verdicts["r0001"]
    assert isinstance(waiting, Wait)
    assert waiting.blocking.rule == "fair_share"
    assert waiting.message == (
        "fair share: waits its turn as team=data (turn 2, weight 1); 1 later run(s) of other "
        "values go first and max_concurrent_runs is used up"
    )
    # The tick's cheaper pass gives the same reason.
    quick = decide(
        QueueSnapshot(QueueSettings(max_concurrent_runs=2, fair_share=TEAM), queued, (), {}, 0.0),
        complete=False,
    )
    assert quick.verdicts["r0001"].blocking == waiting.blocking


def test_runs_without_the_tag_are_one_group():
    queued = [_run(1), _run(2), _run(3, "a")]
    assert _decide(queued).order == ("r0001", "r0003", "r0002")


def _model_order(queued, active, rule, finished):
    """Smooth weighted round robin, step by step: within the highest priority left, the value
    with the fewest turns per weight (in progress + served) goes next; ties by age."""
    weights = rule.weight_map
    turns = Counter(r.tags.get(rule.key) for r in active) + Counter(finished)
    left = sorted(queued, key=lambda r: (-r.priority, r.created_seq))
    order = []
    while left:
        top = left[0].priority
        heads = {}
        for run in left:
            if run.priority != top:
                break
            heads.setdefault(run.tags.get(rule.key), run)

        chosen = min(
            heads,
            key=lambda value, heads=heads: (
                (turns[value] + 1) / (weights.get(value, 1) if value is not None else 1),
                heads[value].created_seq,
            ),
        )
        turns[chosen] += 1
        order.append(heads[chosen].run_id)
        left.remove(heads[chosen])
    return order


_teams = st.sampled_from(["a", "b", "c", None])


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(st.tuples(_teams, st.sampled_from([0, 0, 0, 1])), max_size=30),
    active=st.lists(_teams, max_size=4),
    weights=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 3), max_size=3),
    max_runs=st.integers(-1, 8),
    team_limit=st.none() | st.integers(0, 3),
    finished=st.dictionaries(_teams, st.integers(1, 5), max_size=3),
)
def test_the_order_is_a_fair_interleaving_priorities_dominate_and_limits_hold(
    specs, active, weights, max_runs, team_limit, finished
):
    rule = FairShare("team", tuple(sorted(weights.items())))
    queued = [_run(n, team, priority) for n, (team, priority) in enumerate(specs)]
    actives = [_run(1000 + n, t, status=RunStatus.STARTED) for n, t in enumerate(active)]
    limits = [] if team_limit is None else [TagLimit("team", team_limit, per_unique_value=True)]
    decision = _decide(queued, actives, rule, max_runs, limits, finished)
    # A fair interleaving: the order a step-by-step weighted round robin gives.
    assert list(decision.order) == _model_order(queued, actives, rule, finished)
    assert fair_order(queued, actives, rule, finished).runs == [
        next(r for r in queued if r.run_id == run_id) for run_id in decision.order
    ]
    # Priorities dominate.
    priority = {r.run_id: r.priority for r in queued}
    ranks = [priority[run_id] for run_id in decision.order]
    assert ranks == sorted(ranks, reverse=True)
    # Limits hold.
    if max_runs >= 0:
        assert len(actives) + len(decision.launch) <= max(max_runs, len(actives))
    if team_limit is not None:
        launched = Counter(
            r.tags.get("team") for r in queued if r.run_id in decision.launch and "team" in r.tags
        )
        running = Counter(r.tags.get("team") for r in actives if "team" in r.tags)
        for team, count in launched.items():
            assert count + running[team] <= max(team_limit, running[team])
    # Every verdict is there, and a run never waits on fair share with capacity left.
    assert set(decision.verdicts) == {r.run_id for r in queued}
    for verdict in decision.verdicts.values():
        if isinstance(verdict, Wait) and verdict.blocking.rule == "fair_share":
            assert any(g.rule == "max_concurrent_runs" and not g.passed for g in verdict.gates)


def test_the_file_reads_and_writes_the_rule():
    text = """
concurrency_ui:
  fair_share:
    key: team
    weights: {growth: 2, data: 1}
"""
    config = parse_instance_yaml(text, env={}).config
    assert config is not None
    assert (
        config.queue.fair_share
        == config.extra.fair_share
        == FairShare("team", (("data", 1), ("growth", 2)))
    )
    assert parse_instance_yaml(to_instance_yaml(config), env={}).config == config


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({"weights": {"a": 1}}, "concurrency_ui.fair_share", "missing required key 'key'"),
        ({"key": "team", "weights": {"a": 0}}, "concurrency_ui.fair_share.weights.a", "1 to 1000"),
        (
            {"key": "team", "weights": {"a": "2"}},
            "concurrency_ui.fair_share.weights.a",
            "1 to 1000",
        ),
        ({"key": "team", "weights": [1]}, "concurrency_ui.fair_share.weights", "mapping"),
        ({"key": "team", "share": 1}, "concurrency_ui.fair_share.share", "unknown key"),
        ("team", "concurrency_ui.fair_share", "expected a mapping"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_path(raw, path, words):
    result = parse_instance_dict({"concurrency_ui": {"fair_share": raw}}, env={})
    assert result.config is None
    messages = [str(e) for e in result.errors]
    assert any(m.startswith(f"{path}:") and words in m for m in messages), messages


def test_null_turns_it_off():
    config = parse_instance_dict({"concurrency_ui": {"fair_share": None}}, env={}).config
    assert config is not None and config.queue.fair_share is None
