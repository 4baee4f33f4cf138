"""Migration 0004: a configuration stored with nulls the reader now refuses still loads."""

from __future__ import annotations

import importlib

from queueing.engine.config.reader import parse_instance_dict

migration = importlib.import_module("queueing.migrations.0004_stored_config_without_nulls")


def test_a_document_with_every_refused_null_loads_with_the_same_meaning_after_the_migration():
    document = {
        "run_queue": {"dequeue_num_workers": None, "block_op_concurrency_limited_runs": None},
        "concurrency": {
            "runs": {"tag_concurrency_limits": [{"key": "a", "value": None, "limit": 1}]},
            "pools": {"default_limit": None},
        },
        "run_monitoring": {"free_slots_after_run_end_seconds": None},
        "concurrency_ui": None,
    }
    assert not parse_instance_dict(document, env={}).ok

    assert migration.without_nulls(document) is True

    config = parse_instance_dict(document, env={}).config
    assert config.dequeue_num_workers is None and config.default_pool_limit is None
    assert config.queue.block_op_concurrency_limited_runs is True
    assert config.queue.tag_limits[0].value is None
    assert config.monitoring.free_slots_after_run_end_seconds == 0
    assert migration.without_nulls(document) is False, "a second pass changes nothing"


def test_a_clean_document_is_left_alone():
    document = {"concurrency": {"runs": {"max_concurrent_runs": 3}}, "storage": {"x": None}}

    assert migration.without_nulls(document) is False
    assert document == {"concurrency": {"runs": {"max_concurrent_runs": 3}}, "storage": {"x": None}}
