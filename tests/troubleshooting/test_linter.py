"""The configuration linter (SEMANTICS 7, item 3): rules added for the doctor."""

from __future__ import annotations

import pytest

from queueing.engine.config.reader import parse_instance_yaml


def test_a_tag_limit_of_zero_is_loaded_with_a_warning_naming_it():
    result = parse_instance_yaml(
        "run_queue:\n  tag_concurrency_limits:\n    - {key: a, limit: 2}\n    - {key: b, value: x, limit: 0}\n",
        env={},
    )

    assert result.config is not None
    assert [str(w) for w in result.warnings] == [
        "run_queue.tag_concurrency_limits[1].limit: 0 blocks every run carrying this tag: "
        "they stay queued until it is raised"
    ]


def test_fair_share_warns_about_a_key_no_queued_run_carries_and_unused_weights():
    from queueing.engine.config.lint import fair_share_warnings
    from queueing.engine.types import FairShare

    rule = FairShare(key="teem", weights=(("growth", 2), ("grwoth", 3), ("data", 1)))
    found = fair_share_warnings(rule, {None: 4}, {"growth": 1}, "concurrency_ui.fair_share")

    assert [str(w) for w in found] == [
        "concurrency_ui.fair_share.key: none of the 4 queued runs carries the tag teem: fair "
        "share has nothing to interleave and the queue keeps Dagster's order",
        "concurrency_ui.fair_share.weights.grwoth: no queued or in-progress run carries "
        "teem=grwoth: this weight changes nothing (did you mean 'growth'?)",
        "concurrency_ui.fair_share.weights.data: no queued or in-progress run carries "
        "teem=data: this weight changes nothing",
    ]
    # An empty queue says nothing about the key; a weight carried by a queued run is used.
    assert fair_share_warnings(FairShare("team"), {}, {}, "p") == []
    assert fair_share_warnings(FairShare("team", (("a", 2),)), {"a": 1}, {}, "p") == []


@pytest.mark.django_db
def test_the_configuration_check_and_the_doctor_warn_about_fair_share_the_runs_do_not_use(
    workers,
):
    from queueing.services import config, doctor, runs
    from tests.services.helpers import load_config

    load_config({"run_queue": {"max_concurrent_runs": 0}})
    runs.submit("quick", tags={"team": "data"}, actor="test")
    runs.submit("quick", tags={"team": "growth"}, actor="test")
    text = "concurrency_ui:\n  fair_share: {key: teams, weights: {data: 2}}\n"

    warnings = [str(w) for w in config.check_yaml(text).warnings]

    assert warnings == [
        "concurrency_ui.fair_share.key: none of the 2 queued runs carries the tag teams: fair "
        "share has nothing to interleave and the queue keeps Dagster's order",
        "concurrency_ui.fair_share.weights.data: no queued or in-progress run carries "
        "teams=data: this weight changes nothing",
    ]
    # The right key, with a weight for a value nobody uses any more.
    config.load_yaml("concurrency_ui:\n  fair_share: {key: team, weights: {ops: 2}}\n", "test")
    finding = next(f for f in doctor.diagnose() if f.check == "configuration")
    assert finding.status == "warning"
    assert any("team=ops: this weight changes nothing" in line for line in finding.evidence)
