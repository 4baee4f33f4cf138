"""Distinct-values tag limits (`{key, value: {maxUniqueValues: N}}`, concurrency-ui's own):
at most N different values of a tag in progress, each value as fast as the other limits let it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_yaml
from queueing.engine.config.reader import parse_instance_dict, parse_instance_yaml
from queueing.engine.run_queue import decide
from queueing.engine.tags import TagCounter
from queueing.engine.types import (
    QueueSettings,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TagLimit,
    Wait,
)

BACKFILL = "dagster/backfill"
THREE = TagLimit(BACKFILL, 3, distinct_values=True)


def _run(run_id: str, seq: int, status=RunStatus.QUEUED, **tags: str) -> RunInfo:
    return RunInfo(run_id, status, tags, seq)


def _decide(queued, active=(), limits=(THREE,), max_runs=-1):
    settings_ = QueueSettings(max_concurrent_runs=max_runs, tag_limits=tuple(limits))
    return decide(QueueSnapshot(settings_, tuple(queued), tuple(active), {}, 0.0))


def test_a_value_already_in_progress_passes_and_a_new_one_waits_once_the_cap_is_reached():
    counter = TagCounter([THREE])
    for index, value in enumerate(["b1", "b2", "b3", "b1"]):
        (gate,) = counter.check({BACKFILL: value})
        assert gate.passed
        counter.add(f"r{index}", {BACKFILL: value})
    assert counter.count(THREE) == 3
    (same,) = counter.check({BACKFILL: "b2"})
    (new,) = counter.check({BACKFILL: "b4"})
    assert same.passed and not new.passed
    assert new.kind == "distinct_values"
    assert new.holders == ("r0", "r1", "r2", "r3")
    assert new.message == (
        "tag dagster/backfill: 3 of 3 distinct values in progress (b1, b2, b3); "
        "a run with another value waits, held by r0, r1, r2 +1 more"
    )


def test_runs_without_the_tag_are_not_counted():
    counter = TagCounter([THREE])
    assert counter.check({"team": "x"}) == []


def test_the_queue_launches_every_run_of_three_backfills_and_holds_the_fourth():
    queued = [
        _run(f"r{i}", i, **{BACKFILL: value})
        for i, value in enumerate(["b1", "b1", "b2", "b3", "b4", "b2", "b5", "b1"])
    ]
    decision = _decide(queued)
    assert decision.launch == ("r0", "r1", "r2", "r3", "r5", "r7")
    waiting = decision.verdicts["r4"]
    assert isinstance(waiting, Wait)
    assert waiting.blocking.subject == "dagster/backfill (distinct values)"
    assert "3 of 3 distinct values in progress" in waiting.message


def test_values_of_active_runs_count_and_a_finished_backfill_frees_its_place():
    active = [_run("a1", 1, RunStatus.STARTED, **{BACKFILL: "old"})]
    queued = [_run(f"q{i}", 10 + i, **{BACKFILL: v}) for i, v in enumerate(["n1", "n2", "n3"])]
    assert _decide(queued, active).launch == ("q0", "q1")
    assert _decide(queued, ()).launch == ("q0", "q1", "q2")


def test_a_cap_of_zero_holds_every_run_carrying_the_tag():
    decision = _decide(
        [_run("r", 1, **{BACKFILL: "b"}), _run("s", 2)],
        limits=[TagLimit(BACKFILL, 0, distinct_values=True)],
    )
    assert decision.launch == ("s",)
    assert "no run carrying it may start" in decision.verdicts["r"].message


def test_it_combines_with_a_per_value_limit_on_the_same_key():
    limits = [THREE, TagLimit(BACKFILL, 1, per_unique_value=True)]
    queued = [_run(f"r{i}", i, **{BACKFILL: v}) for i, v in enumerate(["b1", "b1", "b2"])]
    decision = _decide(queued, limits=limits)
    assert decision.launch == ("r0", "r2")
    assert decision.verdicts["r1"].blocking.kind == "per_unique_value"


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", "d", "e", None]), max_size=25),
    cap=st.integers(0, 4),
    active=st.lists(st.sampled_from(["a", "b", "x"]), max_size=3),
)
def test_never_more_distinct_values_in_progress_than_the_cap(values, cap, active):
    limit = TagLimit(BACKFILL, cap, distinct_values=True)
    actives = [_run(f"a{i}", i, RunStatus.STARTED, **{BACKFILL: v}) for i, v in enumerate(active)]
    queued = [_run(f"q{i}", 100 + i, **({BACKFILL: v} if v else {})) for i, v in enumerate(values)]
    decision = _decide(queued, actives, limits=[limit])
    launched = {r.run_id for r in queued if r.run_id in decision.launch}
    in_progress = {r.tags[BACKFILL] for r in queued if r.run_id in launched and BACKFILL in r.tags}
    before = set(active)
    # Never more distinct values than the cap, beyond the values already in progress.
    assert len(in_progress - before) <= max(0, cap - len(before))
    # Greedy: a waiting run waits only because its value is new and the cap is reached (a
    # cap of 0 holds every run carrying the tag).
    for run in queued:
        if run.run_id not in launched:
            assert BACKFILL in run.tags
            if cap > 0:
                assert run.tags[BACKFILL] not in in_progress | before
                assert len(in_progress | before) >= cap


def test_the_file_spells_it_maxuniquevalues_and_export_says_dagster_refuses_it():
    text = """
concurrency:
  runs:
    tag_concurrency_limits:
      - {key: dagster/backfill, value: {maxUniqueValues: 3}}
      - {key: team, limit: 2}
"""
    result = parse_instance_yaml(text, env={})
    assert result.errors == ()
    assert result.config is not None
    assert result.config.queue.tag_limits[0] == THREE
    assert any(
        w.path == "concurrency.runs.tag_concurrency_limits[0].value"
        and "Dagster 1.13 refuses this entry" in w.message
        for w in result.warnings
    )
    exported = to_instance_yaml(result.config)
    assert exported.startswith("# Dagster 1.13 refuses this file as it is:\n")
    assert (
        "# - concurrency.runs.tag_concurrency_limits[0] ({maxUniqueValues: 3}): a "
        "distinct-values tag limit is concurrency-ui's own; Dagster 1.13 refuses this entry"
    ) in exported
    assert parse_instance_yaml(exported, env={}).config == result.config


def test_a_file_without_it_gets_no_such_comment():
    config = parse_instance_dict({"run_queue": {"max_concurrent_runs": 2}}, env={}).config
    assert config is not None
    assert not to_instance_yaml(config).startswith("#")


@pytest.mark.parametrize(
    ("item", "path", "words"),
    [
        ({"key": "b", "limit": 2, "value": {"maxUniqueValues": 3}}, "[0].limit", "has no limit"),
        ({"key": "b", "value": {"maxUniqueValues": -1}}, "[0].value.maxUniqueValues", ">= 0"),
        ({"key": "b", "value": {"maxUniqueValues": "3"}}, "[0].value.maxUniqueValues", "integer"),
        (
            {"key": "b", "value": {"maxUniqueValues": 3, "applyLimitPerUniqueValue": True}},
            "[0].value.applyLimitPerUniqueValue",
            "not both",
        ),
        ({"value": {"maxUniqueValues": 3}}, "[0]", "missing required key 'key'"),
    ],
)
def test_a_bad_distinct_values_entry_is_refused_naming_its_path(item, path, words):
    result = parse_instance_dict({"run_queue": {"tag_concurrency_limits": [item]}}, env={})
    assert result.config is None
    messages = [str(e) for e in result.errors]
    assert any(
        m.startswith(f"run_queue.tag_concurrency_limits{path}:") and words in m for m in messages
    ), messages
