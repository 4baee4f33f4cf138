"""The configuration linter (SEMANTICS 7, item 3): rules added for the doctor."""

from __future__ import annotations

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
