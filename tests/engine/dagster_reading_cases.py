"""dagster.yaml files around the concurrency blocks, as the Dagster-reading test uses them.

Each is read by Dagster 1.13.28 itself (bench/dagster_reading.py records its verdict in
dagster_reading.json) and by concurrency-ui (tests/engine/test_dagster_reading.py).
"""

from __future__ import annotations

# `{env: VAR}` values of the cases read these (both sides get the same environment).
ENV = {"PROBE_MAX": "4", "PROBE_BAD": "abc"}

_Q = "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
_D = "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"


def _tags(block: str, item: str) -> str:
    return f"{block}\n    tag_concurrency_limits:\n      - {item}\n"


CASES: dict[str, str] = {
    "empty file": "",
    # --- run_coordinator: DefaultRunCoordinator and its spellings
    "default coordinator, dagster.core module": _D.replace("dagster._core", "dagster.core"),
    "default coordinator, dagster._core module": _D,
    "default coordinator, its own submodule": (
        "run_coordinator:\n  module: dagster.core.run_coordinator.default_run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
    ),
    "default coordinator, top-level dagster module": (
        "run_coordinator:\n  module: dagster\n  class: DefaultRunCoordinator\n"
    ),
    "default coordinator without module": "run_coordinator:\n  class: DefaultRunCoordinator\n",
    "default coordinator, config {}": _D + "  config: {}\n",
    "default coordinator, config null": _D + "  config:\n",
    "default coordinator, config with a key": _D + "  config:\n    max_concurrent_runs: 5\n",
    "sync in-memory coordinator": (
        "run_coordinator:\n  module: dagster._core.run_coordinator.sync_in_memory_run_coordinator\n"
        "  class: SyncInMemoryRunCoordinator\n"
    ),
    "sync in-memory coordinator in the default module": (
        "run_coordinator:\n  module: dagster.core.run_coordinator.default_run_coordinator\n"
        "  class: SyncInMemoryRunCoordinator\n"
    ),
    "default coordinator with concurrency.runs": _D
    + "concurrency:\n  runs:\n    max_concurrent_runs: 3\n    tag_concurrency_limits:\n"
    "      - key: a\n        limit: 1\n",
    "default coordinator with pools, op granularity": _D
    + "concurrency:\n  pools:\n    default_limit: 2\n    op_granularity_run_buffer: 1\n",
    "default coordinator with pools, run granularity": _D
    + "concurrency:\n  pools:\n    granularity: run\n    default_limit: 2\n",
    "default coordinator with run_queue": _D + "run_queue:\n  max_concurrent_runs: 3\n",
    # --- run_coordinator: QueuedRunCoordinator and what Dagster refuses around it
    "queued coordinator without module": (
        "run_coordinator:\n  class: QueuedRunCoordinator\n  config:\n    max_concurrent_runs: 5\n"
    ),
    "run_coordinator without class": "run_coordinator:\n  module: dagster.core.run_coordinator\n",
    "queued coordinator, dagster.core module": _Q.replace("dagster._core", "dagster.core"),
    "queued coordinator, top-level dagster module": (
        "run_coordinator:\n  module: dagster\n  class: QueuedRunCoordinator\n"
    ),
    "queued coordinator, its own submodule": (
        "run_coordinator:\n  module: dagster.core.run_coordinator.queued_run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
    ),
    "queued coordinator in the default coordinator's module": (
        "run_coordinator:\n  module: dagster.core.run_coordinator.default_run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
    ),
    "queued coordinator, dotted class": (
        "run_coordinator:\n  module: dagster\n  class: dagster.QueuedRunCoordinator\n"
    ),
    "run_coordinator module not a string": (
        "run_coordinator:\n  module: 5\n  class: QueuedRunCoordinator\n"
    ),
    "run_coordinator class not a string": "run_coordinator:\n  module: dagster\n  class: 5\n",
    "run_coordinator module that does not exist": (
        "run_coordinator:\n  module: nope.nothere\n  class: QueuedRunCoordinator\n"
    ),
    "run_coordinator unknown key": _Q + "  extra: 1\n",
    "run_coordinator null": "run_coordinator:\n",
    "run_coordinator {}": "run_coordinator: {}\n",
    "run_coordinator a list": "run_coordinator: [1]\n",
    "queued config null": _Q + "  config:\n",
    "queued config {}": _Q + "  config: {}\n",
    "queued config unknown key": _Q + "  config:\n    bogus: 1\n",
    "queued config a list": _Q + "  config: [1]\n",
    "queued max_concurrent_runs a string": _Q + "  config:\n    max_concurrent_runs: '5'\n",
    "queued max_concurrent_runs null": _Q + "  config:\n    max_concurrent_runs:\n",
    "queued max_concurrent_runs from env": _Q
    + "  config:\n    max_concurrent_runs:\n      env: PROBE_MAX\n",
    "queued max_concurrent_runs from an unset env": _Q
    + "  config:\n    max_concurrent_runs:\n      env: PROBE_NOT_SET\n",
    "queued max_concurrent_runs from a non-integer env": _Q
    + "  config:\n    max_concurrent_runs:\n      env: PROBE_BAD\n",
    "queued max_concurrent_runs -2": _Q + "  config:\n    max_concurrent_runs: -2\n",
    "queued tag limits null": _Q + "  config:\n    tag_concurrency_limits:\n",
    "queued tag limit without limit": _tags(_Q + "  config:", "key: a"),
    "queued tag limit unknown key": _tags(_Q + "  config:", "{key: a, limit: 1, x: 2}"),
    "queued tag limit value an integer": _tags(_Q + "  config:", "{key: a, value: 5, limit: 1}"),
    "queued tag limit value null": _tags(_Q + "  config:", "{key: a, value: null, limit: 1}"),
    "queued tag limit per unique value false": _tags(
        _Q + "  config:", "{key: a, value: {applyLimitPerUniqueValue: false}, limit: 1}"
    ),
    "queued tag limit per unique value true": _tags(
        _Q + "  config:", "{key: a, value: {applyLimitPerUniqueValue: true}, limit: 1}"
    ),
    "queued tag limit value with another key": _tags(
        _Q + "  config:", "{key: a, value: {other: true}, limit: 1}"
    ),
    "queued tag limit -1": _tags(_Q + "  config:", "{key: a, limit: -1}"),
    "queued tag limit empty key": _tags(_Q + "  config:", "{key: '', limit: 1}"),
    "queued blocking null": _Q + "  config:\n    block_op_concurrency_limited_runs:\n",
    "queued blocking unknown key": _Q
    + "  config:\n    block_op_concurrency_limited_runs:\n      enabled: true\n      x: 1\n",
    "queued blocking buffer -1": _Q
    + "  config:\n    block_op_concurrency_limited_runs:\n      enabled: true\n"
    "      op_concurrency_slot_buffer: -1\n",
    "queued dequeue interval 0": _Q + "  config:\n    dequeue_interval_seconds: 0\n",
    "queued dequeue workers null": _Q + "  config:\n    dequeue_num_workers:\n",
    "queued config and concurrency.runs": _Q
    + "  config:\n    max_concurrent_runs: 3\nconcurrency:\n  runs:\n    max_concurrent_runs: 4\n",
    # --- run_queue
    "run_queue null": "run_queue:\n",
    "run_queue a list": "run_queue: [1]\n",
    "run_queue unknown key": "run_queue:\n  bogus: 1\n",
    "run_queue max_concurrent_runs null": "run_queue:\n  max_concurrent_runs:\n",
    "run_queue max_concurrent_runs true": "run_queue:\n  max_concurrent_runs: true\n",
    "run_queue max_concurrent_runs 2.0": "run_queue:\n  max_concurrent_runs: 2.0\n",
    "run_queue max_concurrent_runs above 32 bits": "run_queue:\n  max_concurrent_runs: 3000000000\n",
    "run_queue dequeue interval null": "run_queue:\n  dequeue_interval_seconds:\n",
    "run_queue dequeue interval 0": "run_queue:\n  dequeue_interval_seconds: 0\n",
    "run_queue dequeue interval -1": "run_queue:\n  dequeue_interval_seconds: -1\n",
    "run_queue dequeue interval from env": "run_queue:\n  dequeue_interval_seconds:\n    env: PROBE_MAX\n",
    "run_queue dequeue workers null": "run_queue:\n  dequeue_num_workers:\n",
    "run_queue dequeue workers 0": "run_queue:\n  dequeue_num_workers: 0\n",
    "run_queue code failure retries -1": "run_queue:\n  max_user_code_failure_retries: -1\n",
    "run_queue code failure retry delay -1": "run_queue:\n  user_code_failure_retry_delay: -1\n",
    "run_queue tag limits null": "run_queue:\n  tag_concurrency_limits:\n",
    "run_queue tag limits a mapping": "run_queue:\n  tag_concurrency_limits: {key: a, limit: 1}\n",
    "run_queue tag limits from env": "run_queue:\n  tag_concurrency_limits:\n    env: PROBE_MAX\n",
    "run_queue tag limit key an integer": (
        "run_queue:\n  tag_concurrency_limits:\n    - {key: 5, limit: 1}\n"
    ),
    "run_queue tag limit value null": (
        "run_queue:\n  tag_concurrency_limits:\n    - {key: a, value: null, limit: 1}\n"
    ),
    "run_queue tag limit -1": "run_queue:\n  tag_concurrency_limits:\n    - {key: a, limit: -1}\n",
    "run_queue duplicate tag limits": (
        "run_queue:\n  tag_concurrency_limits:\n    - {key: a, limit: 1}\n    - {key: a, limit: 2}\n"
    ),
    "run_queue blocking null": "run_queue:\n  block_op_concurrency_limited_runs:\n",
    "run_queue blocking enabled null": (
        "run_queue:\n  block_op_concurrency_limited_runs:\n    enabled:\n"
    ),
    "run_queue blocking buffer null": (
        "run_queue:\n  block_op_concurrency_limited_runs:\n    op_concurrency_slot_buffer:\n"
    ),
    # --- concurrency
    "concurrency null": "concurrency:\n",
    "concurrency a list": "concurrency: [1]\n",
    "concurrency unknown key": "concurrency:\n  bogus: 1\n",
    "concurrency.runs null": "concurrency:\n  runs:\n",
    "concurrency.pools null": "concurrency:\n  pools:\n",
    "concurrency.runs unknown key": "concurrency:\n  runs:\n    bogus: 1\n",
    "concurrency max_concurrent_runs null": "concurrency:\n  runs:\n    max_concurrent_runs:\n",
    "concurrency max_concurrent_runs from env": (
        "concurrency:\n  runs:\n    max_concurrent_runs:\n      env: PROBE_MAX\n"
    ),
    "concurrency max_concurrent_runs -2": "concurrency:\n  runs:\n    max_concurrent_runs: -2\n",
    "concurrency tag limits null": "concurrency:\n  runs:\n    tag_concurrency_limits:\n",
    "concurrency tag limit value null": _tags(
        "concurrency:\n  runs:", "{key: a, value: null, limit: 1}"
    ),
    "concurrency tag limit -3": _tags("concurrency:\n  runs:", "{key: a, limit: -3}"),
    "concurrency tag limit above 32 bits": _tags(
        "concurrency:\n  runs:", "{key: a, limit: 3000000000}"
    ),
    "pools default_limit null": "concurrency:\n  pools:\n    default_limit:\n",
    "pools default_limit -1": "concurrency:\n  pools:\n    default_limit: -1\n",
    "pools default_limit 1001": "concurrency:\n  pools:\n    default_limit: 1001\n",
    "pools default_limit from env": "concurrency:\n  pools:\n    default_limit:\n      env: PROBE_MAX\n",
    "pools granularity step": "concurrency:\n  pools:\n    granularity: step\n",
    "pools granularity null": "concurrency:\n  pools:\n    granularity:\n",
    "pools granularity run": "concurrency:\n  pools:\n    granularity: run\n",
    "pools buffer -1": "concurrency:\n  pools:\n    op_granularity_run_buffer: -1\n",
    "pools buffer null": "concurrency:\n  pools:\n    op_granularity_run_buffer:\n",
    "pools and default_op_concurrency_limit": (
        "concurrency:\n  pools:\n    default_limit: 2\n  default_op_concurrency_limit: 3\n"
    ),
    "default_op_concurrency_limit null": "concurrency:\n  default_op_concurrency_limit:\n",
    "default_op_concurrency_limit -1": "concurrency:\n  default_op_concurrency_limit: -1\n",
    "default_op_concurrency_limit 5000": "concurrency:\n  default_op_concurrency_limit: 5000\n",
    "concurrency.runs and run_queue dequeue interval": (
        "concurrency:\n  runs:\n    max_concurrent_runs: 2\nrun_queue:\n  dequeue_interval_seconds: 3\n"
    ),
    "concurrency.runs and run_queue max_concurrent_runs": (
        "concurrency:\n  runs:\n    max_concurrent_runs: 2\nrun_queue:\n  max_concurrent_runs: 3\n"
    ),
    "default_op_concurrency_limit and run_queue max_concurrent_runs": (
        "concurrency:\n  default_op_concurrency_limit: 2\nrun_queue:\n  max_concurrent_runs: 3\n"
    ),
    "run granularity with blocking disabled": (
        "concurrency:\n  pools:\n    granularity: run\nrun_queue:\n"
        "  block_op_concurrency_limited_runs:\n    enabled: false\n"
    ),
    # --- run_monitoring
    "run_monitoring null": "run_monitoring:\n",
    "run_monitoring unknown key": "run_monitoring:\n  bogus: 1\n",
    "run_monitoring enabled null": "run_monitoring:\n  enabled:\n",
    "run_monitoring enabled 1": "run_monitoring:\n  enabled: 1\n",
    "run_monitoring free slots null": "run_monitoring:\n  free_slots_after_run_end_seconds:\n",
    "run_monitoring free slots 0": "run_monitoring:\n  free_slots_after_run_end_seconds: 0\n",
    "run_monitoring free slots -1": "run_monitoring:\n  free_slots_after_run_end_seconds: -1\n",
    "run_monitoring start timeout -5": "run_monitoring:\n  start_timeout_seconds: -5\n",
    "run_monitoring start timeout above 32 bits": (
        "run_monitoring:\n  start_timeout_seconds: 3000000000\n"
    ),
    "run_monitoring start timeout from env": (
        "run_monitoring:\n  start_timeout_seconds:\n    env: PROBE_MAX\n"
    ),
    "run_monitoring poll interval 0": "run_monitoring:\n  poll_interval_seconds: 0\n",
    "run_monitoring cancellation poll interval 0": (
        "run_monitoring:\n  cancellation_thread_poll_interval_seconds: 0\n"
    ),
    "run_monitoring max resume attempts null": "run_monitoring:\n  max_resume_run_attempts:\n",
    "run_monitoring max resume attempts -1": "run_monitoring:\n  max_resume_run_attempts: -1\n",
    "run_monitoring max runtime null": "run_monitoring:\n  max_runtime_seconds:\n",
    # --- sections outside the concurrency blocks
    "concurrency_ui section": "concurrency_ui:\n  run_heartbeat_timeout_seconds: 5\n",
    "concurrency_ui null": "concurrency_ui:\n",
    "an unknown top-level section": "totally_unknown:\n  a: 1\n",
    "a Dagster section we do not read": (
        "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 3\n"
    ),
}
