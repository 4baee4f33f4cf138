"""Reading, validating and writing back `dagster.yaml` (SEMANTICS 1.1-1.5 and our decisions)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_dict, to_instance_yaml
from queueing.engine.config.flat import (
    apply_setting,
    check_config,
    config_sources,
    config_to_flat,
    validate_setting,
)
from queueing.engine.config.model import (
    KNOWN_SECTIONS,
    ExtraConfig,
    InstanceConfig,
    InvalidSetting,
    MonitoringConfig,
)
from queueing.engine.config.reader import parse_instance_dict, parse_instance_yaml
from queueing.engine.config.specs import SETTING_NAMES, int_setting_range
from queueing.engine.grammar import INT64_MAX, INT64_MIN, key_problem
from queueing.engine.inputs import DEFAULT_LIMITS
from queueing.engine.staleness import QueuedBound
from queueing.engine.types import INT32_MAX, ConfigError, FairShare, QueueSettings, TagLimit

MAX_FILE_BYTES = DEFAULT_LIMITS.max_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "instance"
FIXTURE_ENV = {"DAGSTER_MAX_CONCURRENT_RUNS": "30", "DAGSTER_DEQUEUE_WORKERS": "4"}
VALID_FIXTURES = sorted(FIXTURES.glob("valid_*.yaml"))
INVALID_FIXTURES = sorted(FIXTURES.glob("invalid_*.yaml"))
MAX_RUNS_MESSAGE = "is invalid: use -1 for no limit or a number >= 0"


def parse(text: str, env: dict[str, str] | None = None):
    return parse_instance_yaml(text, env={} if env is None else env)


def load(text: str, env: dict[str, str] | None = None) -> InstanceConfig:
    result = parse(text, env)
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.config is not None
    return result.config


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def errors_of_dict(data: dict) -> list[str]:
    result = parse_instance_dict(data, env={})
    assert result.config is None
    return [str(error) for error in result.errors]


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    result = parse(text, env)
    assert result.config is None
    return [str(error) for error in result.errors]


def warnings_of(text: str) -> list[str]:
    result = parse(text)
    return [str(warning) for warning in result.warnings]


# --- defaults and file-level errors ------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "null\n", "{}\n"])
def test_an_empty_file_gives_the_defaults(text):
    result = parse(text)

    assert result.errors == () and result.warnings == () and result.ignored_sections == ()
    config = result.config
    assert config == InstanceConfig()
    assert config.queue.max_concurrent_runs == 10
    assert config.queue.tag_limits == ()
    assert config.queue.block_op_concurrency_limited_runs is True
    assert config.queue.slot_buffer == 0
    assert config.queue.granularity == "op"
    assert config.default_pool_limit is None
    assert config.dequeue_interval_seconds == 5
    assert config.user_code_failure_retry_delay == 60


def test_defaults_turn_monitoring_and_slot_release_on():
    monitoring = load("").monitoring

    assert monitoring == MonitoringConfig(
        enabled=True,
        start_timeout_seconds=180,
        cancel_timeout_seconds=180,
        max_runtime_seconds=0,
        max_resume_run_attempts=0,
        poll_interval_seconds=15,
        cancellation_thread_poll_interval_seconds=10,
        free_slots_after_run_end_seconds=60,
    )


def test_invalid_yaml_is_one_error_at_the_file_with_line_and_column():
    result = parse(fixture("invalid_yaml_syntax.yaml"))

    assert result.config is None
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.path == "<file>"
    assert error.message.startswith("invalid YAML at line 6, column 1:")


@pytest.mark.parametrize(
    "text",
    [
        "run_queue: {}\n---\nrun_queue: {}\n",  # two documents
        "run_queue: {max_concurrent_runs: 1\n",
    ],
)
def test_malformed_yaml_is_reported_not_raised(text):
    result = parse(text)

    assert result.config is None
    assert [e.path for e in result.errors] == ["<file>"]
    assert result.errors[0].message.startswith("invalid YAML")


def test_an_unsafe_yaml_tag_is_refused_at_its_path():
    result = parse("run_queue: !!python/object/apply:os.system ['true']\n")

    assert [str(e) for e in result.errors] == [
        "run_queue: line 1, column 12: the YAML tag !!python/object/apply:os.system is not "
        "accepted: only what JSON can hold is accepted: mappings, lists, text, numbers, "
        "true/false and null"
    ]


@pytest.mark.parametrize("opening", ["[", "- "])
def test_deeply_nested_yaml_fails_cleanly(opening):
    nested = (
        "[" * 5000 + "]" * 5000 if opening == "[" else "".join("  " * i + "-\n" for i in range(100))
    )
    result = parse("storage:\n" + nested if opening != "[" else "storage: " + nested)

    assert result.config is None
    (error,) = result.errors
    assert error.message.endswith("nested deeper than 32 levels (INPUT_MAX_DEPTH)")


def test_an_integer_with_thousands_of_digits_fails_cleanly():
    result = parse("run_queue:\n  max_concurrent_runs: " + "9" * 5000 + "\n")

    assert result.config is None
    assert result.errors[0].path == "run_queue.max_concurrent_runs"
    assert "outside the 64-bit range" in result.errors[0].message


def test_a_10_mb_file_is_refused_before_parsing():
    # Ten megabytes of "[" would exhaust the parser's recursion if it were parsed at all.
    text = "[" * (10 * 1024 * 1024)

    started = time.monotonic()
    result = parse(text)

    assert time.monotonic() - started < 1
    assert result.config is None
    assert [e.path for e in result.errors] == ["<file>"]
    assert result.errors[0].message == (
        "10485760 bytes is larger than the limit of 1048576 bytes (INPUT_MAX_BYTES)"
    )


def test_the_size_cap_counts_bytes_not_characters():
    at_limit = "#" * (MAX_FILE_BYTES - 1) + "\n"
    multibyte = "# " + "é" * (MAX_FILE_BYTES // 2 + 1) + "\n"

    assert parse(at_limit).config == InstanceConfig()
    assert parse(multibyte).errors[0].message.endswith("bytes (INPUT_MAX_BYTES)")


@pytest.mark.parametrize(
    ("text", "described"),
    [("- run_queue\n", "list ['run_queue']"), ("42\n", "integer 42"), ("just text\n", "string")],
)
def test_the_top_level_must_be_a_mapping(text, described):
    (error,) = errors_of(text)

    assert error.startswith("<file>: the top level must be a mapping of sections")
    assert described in error


def test_section_names_must_be_strings():
    assert errors_of("1: {}\nrun_queue: {}\n") == [
        "<file>: line 1, column 1: a mapping key must be text, got int 1: quote it "
        "(JSON objects have text keys)"
    ]
    assert errors_of_dict({1: {}, "run_queue": {}}) == [
        "<file>: section names must be strings, got integer 1"
    ]


def test_duplicate_keys_are_a_warning_because_only_the_last_one_counts():
    result = parse("run_queue:\n  max_concurrent_runs: 3\n  max_concurrent_runs: 4\n")

    assert result.config.queue.max_concurrent_runs == 4
    assert [str(w) for w in result.warnings] == [
        "<file>: line 3: duplicate key 'max_concurrent_runs' (only the last one is used)"
    ]


def test_every_error_is_collected_not_only_the_first():
    errors = errors_of(fixture("invalid_many_errors.yaml"))

    assert errors == [
        f"run_queue.max_concurrent_runs: -2 {MAX_RUNS_MESSAGE}",
        "run_queue.dequeue_interval_seconds: expected an integer, got string '5'",
        "run_queue.dequeue_use_threads: expected true or false, got string 'yes'",
        "run_queue.tag_concurrency_limits[1].limit: -1 is invalid: a tag limit must be >= 0",
        "run_queue.tag_concurrency_limits[2]: missing required key 'key'",
        "run_queue.tag_concurrency_limits[3].extra: unknown key 'extra'; "
        "allowed keys: key, limit, value",
        "run_queue.tag_concurrency_limits[3].value: expected a string, "
        "{applyLimitPerUniqueValue: true} or {maxUniqueValues: N}, got integer 5",
        "run_queue.max_runs: unknown key 'max_runs'; allowed keys: "
        "block_op_concurrency_limited_runs, dequeue_interval_seconds, dequeue_num_workers, "
        "dequeue_use_threads, max_concurrent_runs, max_user_code_failure_retries, "
        "tag_concurrency_limits, user_code_failure_retry_delay",
        f"concurrency.runs.max_concurrent_runs: -5 {MAX_RUNS_MESSAGE}",
        "concurrency.pools.granularity: expected 'op' or 'run', got string 'RUN'",
        "concurrency.pools.default_limit: 1001 is out of range: "
        "a default pool limit must be between 0 and 1000",
        "run_monitoring.enabled: expected true or false, got integer 1",
        "run_monitoring.poll_interval_seconds: 0 is invalid: it must be >= 1",
        "run_monitoring.start_timeout_seconds: 99999999999 is too large: the maximum is 2147483647",
        "concurrency_ui.daemon_heartbeat_tolerance: unknown key 'daemon_heartbeat_tolerance'; "
        "allowed keys: daemon_heartbeat_tolerance_seconds, fair_share, max_queued_runs, "
        "max_queued_seconds, max_queued_seconds_by_tag, resend_starting_after_seconds, "
        "run_heartbeat_timeout_seconds, run_retention_days, schedule_catch_up_limit, "
        "sensor_timeout_seconds, "
        "started_run_allotment_seconds, "
        "wait_history_retention_days (did you mean 'daemon_heartbeat_tolerance_seconds'?)",
        "run_queue.max_concurrent_runs: cannot be set when the concurrency block has runs or "
        "pools: set it once, as concurrency.runs.max_concurrent_runs",
        "run_queue.tag_concurrency_limits: cannot be set when the concurrency block has runs or "
        "pools: set it once, as concurrency.runs.tag_concurrency_limits",
    ]


def test_config_error_prints_as_path_colon_message():
    assert str(ConfigError("run_queue.max_concurrent_runs", "boom")) == (
        "run_queue.max_concurrent_runs: boom"
    )


# --- the three generations of run-queue settings ---------------------------------------------


def test_legacy_run_coordinator_block_is_read():
    config = load(fixture("valid_legacy_run_coordinator.yaml"))

    assert config.queue.max_concurrent_runs == 25
    assert config.dequeue_interval_seconds == 10
    assert config.queue.tag_limits == (
        TagLimit("database", 4, value="redshift"),
        TagLimit("dagster/backfill", 10),
        TagLimit("team", 3, per_unique_value=True),
    )
    assert config.queue.slot_buffer == 1
    assert config.layout.legacy_block == "run_coordinator"
    assert config.layout.sources["max_concurrent_runs"] == (
        "run_coordinator.config.max_concurrent_runs"
    )


@pytest.mark.parametrize(
    ("module", "cls"),
    [
        ("dagster.core.run_coordinator", "QueuedRunCoordinator"),
        ("dagster._core.run_coordinator", "QueuedRunCoordinator"),
        ("dagster._core.run_coordinator.queued_run_coordinator", "QueuedRunCoordinator"),
        ("dagster.core.run_coordinator.queued_run_coordinator", "QueuedRunCoordinator"),
        ("dagster", "QueuedRunCoordinator"),
    ],
)
def test_every_spelling_dagster_accepts_of_the_queued_coordinator_is_accepted(module, cls):
    block = {"module": module, "class": cls, "config": {"max_concurrent_runs": 3}}

    result = parse_instance_dict({"run_coordinator": block}, env={})

    assert result.errors == ()
    assert result.config.queue.max_concurrent_runs == 3


@pytest.mark.parametrize(
    ("module", "cls"),
    [
        ("mycompany.coordinators", "QueuedRunCoordinator"),
        ("dagster_cloud", "QueuedRunCoordinator"),
        ("mycompany.coordinators", "PriorityRunCoordinator"),
    ],
)
def test_other_coordinators_are_rejected(module, cls):
    block = {"module": module, "class": cls, "config": {"whatever": 1}}

    result = parse_instance_dict({"run_coordinator": block}, env={})

    # Only the class is reported: another coordinator's config schema is unknown to us.
    assert [str(e) for e in result.errors] == [
        "run_coordinator.class: concurrency-ui supports Dagster's QueuedRunCoordinator and "
        f"DefaultRunCoordinator, got {module}.{cls} (what another coordinator does with runs "
        "is unknown here)"
    ]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"class": "QueuedRunCoordinator"},
            ["run_coordinator: missing required key 'module'"],
        ),
        (
            {"module": "dagster.core.run_coordinator"},
            ["run_coordinator: missing required key 'class'"],
        ),
        (
            {"module": "dagster", "class": "dagster.QueuedRunCoordinator"},
            [
                "run_coordinator.class: 'dagster.QueuedRunCoordinator' is a dotted path, but "
                "Dagster looks the class up by name in `module`: write module: dagster and "
                "class: QueuedRunCoordinator"
            ],
        ),
        (
            {"module": "dagster", "class": "DefaultRunCoordinator"},
            [
                "run_coordinator.module: Dagster has no DefaultRunCoordinator in module 'dagster' "
                "(it is in dagster.core.run_coordinator, "
                "dagster.core.run_coordinator.default_run_coordinator)"
            ],
        ),
        (
            {
                "module": "dagster.core.run_coordinator",
                "class": "QueuedRunCoordinator",
                "config": None,
            },
            [
                "run_coordinator.config: null is refused (Dagster refuses it too): leave the key out or write {}"
            ],
        ),
        (
            {
                "module": "dagster.core.run_coordinator",
                "class": "DefaultRunCoordinator",
                "config": {"max_concurrent_runs": 3},
            },
            [
                "run_coordinator.config.max_concurrent_runs: DefaultRunCoordinator takes no "
                "configuration: it has no queue (use QueuedRunCoordinator to limit runs)"
            ],
        ),
    ],
)
def test_what_dagster_refuses_in_run_coordinator_is_refused_with_the_path(block, expected):
    result = parse_instance_dict({"run_coordinator": block}, env={})

    assert [str(e) for e in result.errors] == expected


@pytest.mark.parametrize(
    "module",
    [
        "dagster.core.run_coordinator",
        "dagster._core.run_coordinator",
        "dagster.core.run_coordinator.default_run_coordinator",
    ],
)
def test_the_default_coordinator_means_no_queue_and_says_so(module):
    text = (
        f"run_coordinator:\n  module: {module}\n  class: DefaultRunCoordinator\n"
        "concurrency:\n  runs:\n    max_concurrent_runs: 3\n"
        "    tag_concurrency_limits: [{key: team, limit: 1}]\n"
        "  pools:\n    default_limit: 2\n"
    )
    result = parse_instance_yaml(text, env={})

    config = result.config
    assert config.run_coordinator == "default"
    # No queue: no run limit, no tag limit, no pool gate at dequeue; pools still limit steps.
    assert config.queue.max_concurrent_runs == -1
    assert config.queue.tag_limits == ()
    assert config.queue.block_op_concurrency_limited_runs is False
    assert config.queue.granularity == "op" and config.default_pool_limit == 2
    warnings = [str(w) for w in result.warnings]
    assert warnings[0].startswith(
        "run_coordinator.class: DefaultRunCoordinator has no queue: every run is launched by "
        "the next tick"
    )
    assert (
        "concurrency.runs.max_concurrent_runs: has no effect: DefaultRunCoordinator has no queue"
        in warnings
    )
    assert (
        "concurrency.runs.tag_concurrency_limits: has no effect: DefaultRunCoordinator has no queue"
        in warnings
    )
    # Written back as the file had it, the ignored values included.
    again = parse_instance_dict(to_instance_dict(config), env={})
    assert again.config == config
    assert to_instance_dict(config)["concurrency"]["runs"]["max_concurrent_runs"] == 3
    assert to_instance_dict(config)["run_coordinator"] == {
        "module": module,
        "class": "DefaultRunCoordinator",
    }


def test_the_default_coordinator_refuses_run_granularity_and_queue_edits():
    text = (
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    (error,) = errors_of(text + "concurrency:\n  pools:\n    granularity: run\n")
    assert error.startswith(
        "concurrency.pools.granularity: 'run' needs the run queue, but DefaultRunCoordinator has none"
    )

    config = load(text)
    with pytest.raises(InvalidSetting) as refused:
        apply_setting(config, "max_concurrent_runs", 5)
    assert str(refused.value).startswith(
        "max_concurrent_runs: has no effect: the run coordinator has no queue"
    )
    # Saving the page with the values it shows changes nothing and is not refused.
    assert apply_setting(config, "max_concurrent_runs", -1) == config
    assert apply_setting(config, "default_pool_limit", 3).default_pool_limit == 3


def test_the_default_coordinator_fixture_is_read_as_no_queue():
    config = load(fixture("valid_default_coordinator.yaml"))

    assert config.run_coordinator == "default"
    assert config.queue.max_concurrent_runs == -1


def test_run_coordinator_needs_a_class_and_only_knows_module_class_config():
    assert errors_of("run_coordinator:\n  module: dagster.core.run_coordinator\n") == [
        "run_coordinator: missing required key 'class'"
    ]
    text = "run_coordinator:\n  module: dagster\n  class: QueuedRunCoordinator\n  settings: {}\n"
    assert errors_of(text) == [
        "run_coordinator.settings: unknown key 'settings'; allowed keys: class, config, module"
    ]


def test_run_coordinator_without_config_uses_the_defaults():
    config = load("run_coordinator:\n  module: dagster\n  class: QueuedRunCoordinator\n")

    assert config.queue == QueueSettings()


def test_run_queue_shorthand_is_read():
    config = load(fixture("valid_run_queue.yaml"))

    assert config.queue.max_concurrent_runs == 15
    assert config.queue.tag_limits == (
        TagLimit("database", 4, value="redshift"),
        TagLimit("use-case", 3, per_unique_value=True),
    )
    assert config.queue.block_op_concurrency_limited_runs is False
    assert config.dequeue_use_threads is True
    assert config.dequeue_num_workers == 8
    assert config.max_user_code_failure_retries == 3
    assert config.user_code_failure_retry_delay == 120
    assert config.monitoring.free_slots_after_run_end_seconds == 300
    assert config.layout.legacy_block == "run_queue"


def test_run_queue_and_run_coordinator_together_are_rejected():
    assert errors_of(fixture("invalid_both_coordinators.yaml")) == [
        "run_queue: run_queue cannot be used together with run_coordinator: keep one of them "
        "(run_queue is the short form of run_coordinator.config)"
    ]


@pytest.mark.parametrize("block", ["run_queue", "run_coordinator"])
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_concurrent_runs", -2, f"-2 {MAX_RUNS_MESSAGE}"),
        ("max_concurrent_runs", "5", "expected an integer, got string '5'"),
        ("max_concurrent_runs", True, "expected an integer, got boolean true"),
        ("max_concurrent_runs", 5.0, "expected an integer, got number 5.0"),
        ("max_concurrent_runs", None, "expected an integer, got null"),
        ("max_concurrent_runs", 2**31, "2147483648 is too large: the maximum is 2147483647"),
        ("dequeue_interval_seconds", 0, "0 is invalid: it must be >= 1"),
        ("dequeue_num_workers", 0, "0 is invalid: it must be >= 1"),
        ("dequeue_use_threads", 1, "expected true or false, got integer 1"),
        ("max_user_code_failure_retries", -1, "-1 is invalid: it must be >= 0"),
        ("user_code_failure_retry_delay", -1, "-1 is invalid: it must be >= 0"),
        ("tag_concurrency_limits", {"key": "a"}, "expected a list of tag limits, got mapping"),
        ("block_op_concurrency_limited_runs", True, "expected a mapping, got boolean true"),
    ],
)
def test_run_queue_and_run_coordinator_config_share_one_schema(block, key, value, message):
    settings_block = {key: value}
    if block == "run_queue":
        data, prefix = {"run_queue": settings_block}, "run_queue"
    else:
        coordinator = {"module": "dagster", "class": "QueuedRunCoordinator"}
        data = {"run_coordinator": {**coordinator, "config": settings_block}}
        prefix = "run_coordinator.config"

    result = parse_instance_dict(data, env={})

    assert result.config is None
    assert [e.path for e in result.errors] == [f"{prefix}.{key}"]
    assert result.errors[0].message.startswith(message)


@pytest.mark.parametrize("value", [-1, 0, 1, 500, INT32_MAX])
def test_max_concurrent_runs_accepts_minus_one_and_any_number_from_zero(value):
    assert load(f"run_queue:\n  max_concurrent_runs: {value}\n").queue.max_concurrent_runs == value


def test_concurrency_runs_max_concurrent_runs_gets_the_same_range_check():
    # Quirk Q1 fixed: the reference accepts -5 here and then launches nothing, forever.
    assert errors_of("concurrency:\n  runs:\n    max_concurrent_runs: -5\n") == [
        f"concurrency.runs.max_concurrent_runs: -5 {MAX_RUNS_MESSAGE}"
    ]


def test_concurrency_block_is_read_and_legacy_keys_it_does_not_replace_keep_their_effect():
    config = load(fixture("valid_concurrency.yaml"))

    assert config.queue.max_concurrent_runs == 4
    assert config.queue.tag_limits == (TagLimit("dagster/partition_set", 2),)
    assert config.queue.granularity == "op"
    assert config.queue.slot_buffer == 2
    assert config.default_pool_limit == 1
    assert config.dequeue_interval_seconds == 2
    assert config.max_user_code_failure_retries == 1
    assert config.monitoring.max_runtime_seconds == 7200
    assert config.extra.daemon_heartbeat_tolerance_seconds == 90
    assert config.extra.wait_history_retention_days == 7


# --- env indirection ----------------------------------------------------------------------------


def test_env_values_are_read_from_the_given_environment():
    config = load(fixture("valid_full_deployment.yaml"), env=FIXTURE_ENV)

    assert config.queue.max_concurrent_runs == 30
    assert config.dequeue_num_workers == 4
    assert config.layout.env_vars == {
        "max_concurrent_runs": "DAGSTER_MAX_CONCURRENT_RUNS",
        "dequeue_num_workers": "DAGSTER_DEQUEUE_WORKERS",
    }


def test_the_engine_never_reads_the_process_environment(monkeypatch):
    # Issue 12: the environment is an argument; without one, {env: VAR} is refused.
    monkeypatch.setenv("CUI_TEST_MAX_RUNS", "7")

    result = parse_instance_yaml("run_queue:\n  max_concurrent_runs: {env: CUI_TEST_MAX_RUNS}\n")

    assert result.config is None
    assert [str(e) for e in result.errors] == [
        "run_queue.max_concurrent_runs: {env: CUI_TEST_MAX_RUNS} is not resolved here: the "
        "server's environment is read only for an admin's import, edit or simulation; write "
        "the number itself"
    ]


NOT_A_NUMBER = (
    "environment variable MAX_RUNS does not hold a whole number (digits 0-9 with an optional "
    "sign; its value is not shown)"
)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "environment variable MAX_RUNS is not set"),
        ({"MAX_RUNS": "ten"}, NOT_A_NUMBER),
        ({"MAX_RUNS": "5.0"}, NOT_A_NUMBER),
        ({"MAX_RUNS": ""}, NOT_A_NUMBER),
        ({"MAX_RUNS": "1_0"}, NOT_A_NUMBER),
        ({"MAX_RUNS": "\u0663"}, NOT_A_NUMBER),  # an Arabic-Indic 3
        ({"MAX_RUNS": "9" * 5000}, NOT_A_NUMBER),
        ({"MAX_RUNS": "-3"}, f"the value of environment variable MAX_RUNS {MAX_RUNS_MESSAGE}"),
        (
            {"MAX_RUNS": "99999999999"},
            "the value of environment variable MAX_RUNS is too large: the maximum is 2147483647",
        ),
    ],
)
def test_a_bad_env_value_names_the_path_and_the_variable_never_its_value(env, message):
    assert errors_of("run_queue:\n  max_concurrent_runs: {env: MAX_RUNS}\n", env) == [
        f"run_queue.max_concurrent_runs: {message}"
    ]


def test_a_secret_in_the_environment_never_appears_in_a_message():
    # Issue 12, attack 1: `{env: SECRET_KEY}` answered "… is '<the key>', expected an integer".
    secret = "django-insecure-" + "s3cr3t" * 10
    for value in ("{env: SECRET_KEY}", "{env: DATABASE_URL}"):
        result = parse(
            f"run_queue:\n  max_concurrent_runs: {value}\n  dequeue_interval_seconds: {value}\n",
            {"SECRET_KEY": secret, "DATABASE_URL": "postgres://u:hunter2@db/x"},
        )
        text = " ".join(str(e) for e in result.errors)
        assert result.errors and secret[:8] not in text.replace("django-", "")
        assert "s3cr3t" not in text and "hunter2" not in text


def test_env_values_are_stripped():
    config = load("run_queue:\n  dequeue_interval_seconds: {env: I}\n", env={"I": " 12\n"})

    assert config.dequeue_interval_seconds == 12


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{env: X, default: 3}", "expected an integer or {env: VARIABLE}, got mapping"),
        ("{env: 3}", "env must name an environment variable, got integer 3"),
        ("{env: ''}", "env must name an environment variable, got string ''"),
    ],
)
def test_a_malformed_env_reference_is_an_error(value, message):
    (error,) = errors_of(f"run_queue:\n  max_concurrent_runs: {value}\n", {"X": "3"})

    assert error.startswith(f"run_queue.max_concurrent_runs: {message}")


@pytest.mark.parametrize(
    "text",
    [
        "concurrency:\n  runs:\n    max_concurrent_runs: {env: X}\n",
        "run_queue:\n  block_op_concurrency_limited_runs:\n    op_concurrency_slot_buffer: {env: X}\n",
        "run_monitoring:\n  poll_interval_seconds: {env: X}\n",
    ],
)
def test_env_references_are_only_allowed_where_dagster_allows_them(text):
    (error,) = errors_of(text, {"X": "3"})

    assert ": expected an integer, got mapping {'env': 'X'}" in error


# --- tag limits --------------------------------------------------------------------------------


def test_the_three_tag_limit_shapes():
    config = load(
        """
run_queue:
  tag_concurrency_limits:
    - {key: database, limit: 2}
    - {key: database, value: redshift, limit: 1}
    - {key: team, value: {applyLimitPerUniqueValue: true}, limit: 3}
    - {key: team, value: {applyLimitPerUniqueValue: false}, limit: 4}
    - {key: frozen, limit: 0}
"""
    )

    assert [limit.kind for limit in config.queue.tag_limits] == [
        "key",
        "key_value",
        "per_unique_value",
        "key",  # applyLimitPerUniqueValue: false is the same as no value
        "key",
    ]
    assert config.queue.tag_limits[4].limit == 0


def test_a_null_tag_list_is_empty():
    assert load("run_queue:\n  tag_concurrency_limits:\n").queue.tag_limits == ()


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ("{key: a}", "[0]: missing required key 'limit'"),
        ("{limit: 1}", "[0]: missing required key 'key'"),
        ("{key: a, limit: -1}", "[0].limit: -1 is invalid: a tag limit must be >= 0"),
        ("{key: a, limit: '2'}", "[0].limit: expected an integer, got string '2'"),
        ("{key: a, limit: true}", "[0].limit: expected an integer, got boolean true"),
        (
            "{key: a, limit: 2147483648}",
            "[0].limit: 2147483648 is too large: the maximum is 2147483647",
        ),
        ("{key: '', limit: 1}", "[0].key: the key is empty: a key is 1 to 200 characters"),
        ("{key: 5, limit: 1}", "[0].key: expected a string, got int: a key is 1 to 200"),
        ("{key: ' db', limit: 1}", "[0].key: ' db' has spaces at one end: a key is 1 to 200"),
        ('{key: "a\\nb", limit: 1}', "[0].key: 'a\\nb' contains a control character"),
        (
            "{key: a, limit: 1, values: x}",
            "[0].values: unknown key 'values'; allowed keys: key, limit, value "
            "(did you mean 'value'?)",
        ),
        (
            "{key: a, limit: 1, value: [x]}",
            "[0].value: expected a string, {applyLimitPerUniqueValue: true} or {maxUniqueValues: N}, got list ['x']",
        ),
        (
            "{key: a, limit: 1, value: {}}",
            "[0].value: missing required key 'applyLimitPerUniqueValue'",
        ),
        (
            "{key: a, limit: 1, value: {applyLimitPerUniqueValue: 'yes'}}",
            "[0].value.applyLimitPerUniqueValue: expected true or false, got string 'yes'",
        ),
        (
            "{key: a, limit: 1, value: {applyLimitPerUniqueValue: true, perValue: 1}}",
            "[0].value.perValue: unknown key 'perValue'; allowed keys: applyLimitPerUniqueValue, maxUniqueValues",
        ),
        ("just-a-key", "[0]: expected a mapping with key, limit and optional value, got string"),
    ],
)
def test_tag_limit_items_are_validated(item, error):
    (message,) = errors_of(f"run_queue:\n  tag_concurrency_limits:\n    - {item}\n")

    assert message.startswith(f"run_queue.tag_concurrency_limits{error}")


def test_a_bad_tag_limit_is_reported_at_its_index_in_the_concurrency_block():
    text = """
concurrency:
  runs:
    tag_concurrency_limits:
      - {key: a, limit: 1}
      - {key: b, limit: -3}
"""
    assert errors_of(text) == [
        "concurrency.runs.tag_concurrency_limits[1].limit: -3 is invalid: a tag limit must be >= 0"
    ]


# --- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        ("run_queue: {max_runs: 1}", "run_queue.max_runs", "block_op_concurrency_limited_runs, "),
        (
            "run_coordinator: {module: dagster, class: QueuedRunCoordinator, config: {max_runs: 1}}",
            "run_coordinator.config.max_runs",
            "dequeue_interval_seconds, ",
        ),
        (
            "run_queue: {block_op_concurrency_limited_runs: {enable: false}}",
            "run_queue.block_op_concurrency_limited_runs.enable",
            "enabled, op_concurrency_slot_buffer (did you mean 'enabled'?)",
        ),
        (
            "concurrency: {limits: {}}",
            "concurrency.limits",
            "default_op_concurrency_limit, pools, runs",
        ),
        (
            "concurrency: {runs: {max_runs: 1}}",
            "concurrency.runs.max_runs",
            "max_concurrent_runs, tag_concurrency_limits",
        ),
        (
            "concurrency: {pools: {my_pool: {limit: 1}}}",
            "concurrency.pools.my_pool",
            "default_limit, granularity, op_granularity_run_buffer",
        ),
        ("run_monitoring: {enable: true}", "run_monitoring.enable", "cancel_timeout_seconds, "),
        (
            "concurrency_ui: {tolerance: 3}",
            "concurrency_ui.tolerance",
            "daemon_heartbeat_tolerance_seconds, ",
        ),
    ],
)
def test_unknown_keys_in_the_blocks_we_read_are_errors_that_list_the_allowed_keys(
    text, path, allowed
):
    (error,) = errors_of(text)

    assert error.startswith(f"{path}: unknown key ")
    assert allowed in error


@pytest.mark.parametrize(
    "text",
    ["run_queue: 5", "concurrency: [runs]", "run_monitoring: true", "concurrency_ui: x"],
)
def test_a_block_must_be_a_mapping(text):
    (error,) = errors_of(text)

    assert ": expected a mapping, got " in error


def test_empty_blocks_mean_defaults():
    config = load(
        "run_queue: {}\nconcurrency: {}\nrun_monitoring: {}\nconcurrency_ui:\n"
        "run_queue_extra_dagster_section: {}\n"
    )

    assert dataclasses.replace(config, ignored={}) == InstanceConfig()


# --- concurrency block vs the legacy blocks (SEMANTICS 1.5) ------------------------------------


def test_pools_alone_make_a_legacy_max_concurrent_runs_conflict():
    text = "run_queue:\n  max_concurrent_runs: 5\nconcurrency:\n  pools:\n    default_limit: 1\n"

    assert errors_of(text) == [
        "run_queue.max_concurrent_runs: cannot be set when the concurrency block has runs or "
        "pools: set it once, as concurrency.runs.max_concurrent_runs"
    ]


def test_conflicts_are_checked_against_run_coordinator_config_too():
    text = """
run_coordinator:
  module: dagster
  class: QueuedRunCoordinator
  config:
    tag_concurrency_limits: [{key: a, limit: 1}]
concurrency:
  runs: {}
"""
    assert errors_of(text) == [
        "run_coordinator.config.tag_concurrency_limits: cannot be set when the concurrency block "
        "has runs or pools: set it once, as concurrency.runs.tag_concurrency_limits"
    ]


def test_every_conflict_and_the_deprecated_default_next_to_pools_are_reported():
    assert errors_of(fixture("invalid_conflict.yaml")) == [
        "concurrency.default_op_concurrency_limit: cannot be used together with "
        "concurrency.pools: use concurrency.pools.default_limit instead",
        "run_queue.max_concurrent_runs: cannot be set when the concurrency block has runs or "
        "pools: set it once, as concurrency.runs.max_concurrent_runs",
        "run_queue.block_op_concurrency_limited_runs.op_concurrency_slot_buffer: cannot be set "
        "when the concurrency block has runs or pools: set it once, as "
        "concurrency.pools.op_granularity_run_buffer",
    ]


def test_default_op_concurrency_limit_alone_does_not_trigger_the_conflict_check():
    config = load(
        "run_queue:\n  max_concurrent_runs: 5\n  tag_concurrency_limits: [{key: a, limit: 1}]\n"
        "concurrency:\n  default_op_concurrency_limit: 3\n"
    )

    assert config.queue.max_concurrent_runs == 5
    assert config.default_pool_limit == 3
    assert config.layout.sources["default_pool_limit"] == "concurrency.default_op_concurrency_limit"


def test_null_legacy_values_do_not_conflict():
    config = load(
        "run_queue:\n  tag_concurrency_limits: null\n"
        "concurrency:\n  runs:\n    max_concurrent_runs: 3\n"
    )

    assert config.queue.max_concurrent_runs == 3


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            "concurrency:\n  default_op_concurrency_limit: null\n  pools:\n    default_limit: 2\n",
            "concurrency.default_op_concurrency_limit",
        ),
        ("concurrency: {pools: {default_limit: null}}", "concurrency.pools.default_limit"),
        ("run_queue: {dequeue_num_workers: null}", "run_queue.dequeue_num_workers"),
        (
            "run_monitoring: {free_slots_after_run_end_seconds: null}",
            "run_monitoring.free_slots_after_run_end_seconds",
        ),
        ("run_queue:", "run_queue"),
        ("concurrency:", "concurrency"),
        ("concurrency: {runs: null}", "concurrency.runs"),
        ("run_monitoring:", "run_monitoring"),
        (
            "run_queue: {block_op_concurrency_limited_runs: null}",
            "run_queue.block_op_concurrency_limited_runs",
        ),
        (
            "run_queue: {tag_concurrency_limits: [{key: a, value: null, limit: 1}]}",
            "run_queue.tag_concurrency_limits[0].value",
        ),
    ],
)
def test_null_where_dagster_refuses_it_is_refused_with_the_path(text, path):
    (error,) = errors_of(text)

    assert error.startswith(f"{path}: ")


def test_our_own_section_and_a_null_tag_limit_list_may_be_null():
    config = load("concurrency_ui:\nrun_queue: {tag_concurrency_limits: null}\n")

    assert config.queue.tag_limits == ()


def test_an_empty_runs_block_still_makes_legacy_limits_conflict():
    assert errors_of("run_queue:\n  max_concurrent_runs: 5\nconcurrency:\n  runs: {}\n") == [
        "run_queue.max_concurrent_runs: cannot be set when the concurrency block has runs or "
        "pools: set it once, as concurrency.runs.max_concurrent_runs"
    ]


def test_every_module_spelling_of_the_queued_coordinator_is_conflict_checked():
    text = """
run_coordinator:
  module: dagster._core.run_coordinator.queued_run_coordinator
  class: QueuedRunCoordinator
  config: {max_concurrent_runs: 5}
concurrency:
  runs: {max_concurrent_runs: 6}
"""
    (error,) = errors_of(text)

    assert error.startswith("run_coordinator.config.max_concurrent_runs: cannot be set")


@pytest.mark.parametrize(
    ("text", "value", "source"),
    [
        ("concurrency: {pools: {default_limit: 4}}", 4, "concurrency.pools.default_limit"),
        (
            "concurrency: {default_op_concurrency_limit: 5}",
            5,
            "concurrency.default_op_concurrency_limit",
        ),
        ("concurrency: {pools: {default_limit: 0}}", 0, "concurrency.pools.default_limit"),
        ("concurrency: {pools: {default_limit: 1000}}", 1000, "concurrency.pools.default_limit"),
    ],
)
def test_default_pool_limit_comes_from_pools_or_the_deprecated_key(text, value, source):
    config = load(text)

    assert config.default_pool_limit == value
    assert config_sources(config)["default_pool_limit"] == source


@pytest.mark.parametrize("key", ["pools: {default_limit: ", "default_op_concurrency_limit: "])
@pytest.mark.parametrize("value", [-1, 1001])
def test_default_pool_limit_must_be_between_0_and_1000(key, value):
    text = "concurrency: {" + key + str(value) + ("}}" if key.startswith("pools") else "}")

    (error,) = errors_of(text)

    assert error.endswith(
        f": {value} is out of range: a default pool limit must be between 0 and 1000"
    )


def test_buffer_comes_from_the_legacy_block_when_pools_do_not_set_it():
    config = load(
        "run_queue:\n  block_op_concurrency_limited_runs:\n    op_concurrency_slot_buffer: 2\n"
    )

    assert config.queue.slot_buffer == 2
    assert config.layout.sources["slot_buffer"] == (
        "run_queue.block_op_concurrency_limited_runs.op_concurrency_slot_buffer"
    )


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("", True),
        ("run_queue: {}", True),
        ("run_queue: {block_op_concurrency_limited_runs: {}}", True),
        ("run_queue: {block_op_concurrency_limited_runs: {op_concurrency_slot_buffer: 1}}", True),
        ("run_queue: {block_op_concurrency_limited_runs: {enabled: true}}", True),
        ("run_queue: {block_op_concurrency_limited_runs: {enabled: false}}", False),
    ],
)
def test_pool_aware_dequeuing_is_on_unless_disabled_explicitly(text, enabled):
    assert load(text).queue.block_op_concurrency_limited_runs is enabled


def test_explicit_run_granularity_is_kept_when_blocking_is_enabled():
    config = load(
        "run_queue: {block_op_concurrency_limited_runs: {enabled: true}}\n"
        "concurrency: {pools: {granularity: run}}\n"
    )

    assert config.queue.granularity == "run"


def test_run_granularity_with_blocking_disabled_is_rejected():
    # Quirk Q6: neither the queue nor the steps would enforce pools.
    assert errors_of(fixture("invalid_run_granularity_without_blocking.yaml")) == [
        "concurrency.pools.granularity: 'run' needs pool-aware dequeuing, but "
        "run_queue.block_op_concurrency_limited_runs.enabled is false: pools would be enforced "
        "nowhere"
    ]


def test_op_granularity_with_blocking_disabled_is_fine():
    config = load(
        "run_queue: {block_op_concurrency_limited_runs: {enabled: false}}\n"
        "concurrency: {pools: {granularity: op, default_limit: 1}}\n"
    )

    assert config.queue.block_op_concurrency_limited_runs is False


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            "run_queue:\n  block_op_concurrency_limited_runs:\n"
            "    enabled: false\n    op_concurrency_slot_buffer: 1\n",
            "run_queue.block_op_concurrency_limited_runs.op_concurrency_slot_buffer",
        ),
        (
            "run_queue:\n  block_op_concurrency_limited_runs:\n    enabled: false\n"
            "concurrency:\n  pools:\n    op_granularity_run_buffer: 2\n",
            "concurrency.pools.op_granularity_run_buffer",
        ),
    ],
)
def test_a_buffer_with_blocking_disabled_is_rejected(text, path):
    assert errors_of(text) == [
        f"{path}: a buffer only applies to pool-aware dequeuing, but "
        "run_queue.block_op_concurrency_limited_runs.enabled is false"
    ]


def test_a_zero_buffer_with_blocking_disabled_is_fine():
    text = "run_queue:\n  block_op_concurrency_limited_runs:\n    enabled: false\n    op_concurrency_slot_buffer: 0\n"

    assert load(text).queue.slot_buffer == 0


@pytest.mark.parametrize(
    "text",
    [
        "run_queue: {block_op_concurrency_limited_runs: {op_concurrency_slot_buffer: -1}}",
        "concurrency: {pools: {op_granularity_run_buffer: -1}}",
    ],
)
def test_a_negative_buffer_is_rejected(text):
    # The reference accepts it and silently shrinks every pool's capacity at dequeue time.
    (error,) = errors_of(text)

    assert error.endswith(
        ": -1 is invalid: a buffer must be >= 0 (a negative buffer silently shrinks pool "
        "capacity; lower the pool limit instead)"
    )


# --- run monitoring and concurrency_ui ----------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, -99999999999])
@pytest.mark.parametrize(
    "key",
    [
        "start_timeout_seconds",
        "cancel_timeout_seconds",
        "max_runtime_seconds",
        "free_slots_after_run_end_seconds",
    ],
)
def test_a_timeout_of_zero_or_less_means_disabled_without_an_error(key, value):
    # Quirk Q9 fixed: the reference reports "unexpected run status" on every tick instead.
    config = load(f"run_monitoring:\n  {key}: {value}\n")

    assert getattr(config.monitoring, key) == 0


def test_free_slots_null_is_refused_and_0_means_never():
    assert errors_of("run_monitoring:\n  free_slots_after_run_end_seconds: null\n") == [
        "run_monitoring.free_slots_after_run_end_seconds: null is refused (Dagster refuses it "
        "too): leave it out, or write 0 to never free slots"
    ]
    config = load("run_monitoring:\n  free_slots_after_run_end_seconds: 0\n")
    assert config.monitoring.free_slots_after_run_end_seconds == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("poll_interval_seconds", 0, "0 is invalid: it must be >= 1"),
        ("cancellation_thread_poll_interval_seconds", -1, "-1 is invalid: it must be >= 1"),
        ("max_resume_run_attempts", -1, "-1 is invalid: it must be >= 0"),
        ("enabled", "true", "expected true or false, got string 'true'"),
        ("enabled", None, "expected true or false, got null"),
        ("start_timeout_seconds", "180", "expected an integer, got string '180'"),
        ("start_timeout_seconds", 2**31, "2147483648 is too large: the maximum is 2147483647"),
    ],
)
def test_run_monitoring_values_are_validated(key, value, message):
    result = parse_instance_dict({"run_monitoring": {key: value}}, env={})

    assert [str(e) for e in result.errors] == [f"run_monitoring.{key}: {message}"]


def test_concurrency_ui_knobs_are_read_and_the_allotment_reaches_the_queue():
    config = load(
        "concurrency_ui:\n  started_run_allotment_seconds: 12\n"
        "  run_heartbeat_timeout_seconds: 0\n  resend_starting_after_seconds: 45\n"
    )

    assert config.extra == ExtraConfig(
        started_run_allotment_seconds=12,
        run_heartbeat_timeout_seconds=0,
        resend_starting_after_seconds=45,
    )
    assert config.queue.started_run_allotment_seconds == 12


def test_concurrency_ui_knobs_must_not_be_negative():
    assert errors_of("concurrency_ui:\n  wait_history_retention_days: -1\n") == [
        "concurrency_ui.wait_history_retention_days: -1 is invalid: it must be >= 0"
    ]


# --- ignored sections -----------------------------------------------------------------------------


def test_sections_concurrency_ui_does_not_read_are_reported_and_kept_verbatim():
    text = fixture("valid_full_deployment.yaml")

    result = parse(text, FIXTURE_ENV)

    assert result.ignored_sections == (
        "storage",
        "compute_logs",
        "local_artifact_storage",
        "run_launcher",
        "scheduler",
        "telemetry",
        "retention",
        "sensors",
        "schedules",
        "code_servers",
    )
    raw = yaml.safe_load(text)
    assert result.config.ignored == {key: raw[key] for key in result.ignored_sections}
    # Their content is not validated: `{env: ...}` under storage is Dagster's business.
    assert result.warnings == ()


def test_a_probable_typo_of_a_section_we_read_is_a_warning():
    result = parse("run_queues:\n  max_concurrent_runs: 5\n")

    assert result.config.queue.max_concurrent_runs == 10
    assert result.ignored_sections == ("run_queues",)
    assert [str(w) for w in result.warnings] == [
        "run_queues: section is ignored; did you mean 'run_queue'?"
    ]


def test_ignored_sections_are_not_shared_with_the_callers_data():
    data = {"storage": {"sqlite": {"base_dir": "/a"}}}

    config = parse_instance_dict(data, env={}).config
    data["storage"]["sqlite"]["base_dir"] = "/b"

    assert config.ignored["storage"]["sqlite"]["base_dir"] == "/a"


# --- warnings (the linter) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "run_queue: {max_concurrent_runs: 0}",
            "run_queue.max_concurrent_runs: 0 launches nothing: the queue is frozen until it is raised",
        ),
        (
            "concurrency: {pools: {default_limit: 0}}",
            "concurrency.pools.default_limit: 0 closes every pool without an explicit limit: their "
            "steps wait forever",
        ),
        (
            "run_queue: {tag_concurrency_limits: [{key: a, limit: 1}, {key: dagster/concurrency_key, limit: 1}]}",
            "run_queue.tag_concurrency_limits[1].key: dagster/concurrency_key is an op tag, which run "
            "tag limits never see: limit it with a pool instead",
        ),
        (
            "run_monitoring: {enabled: false}",
            "run_monitoring.enabled: run monitoring is off: slots held by finished runs are never "
            "released, and start timeouts, cancel timeouts and max runtime are not enforced",
        ),
        (
            "run_monitoring: {free_slots_after_run_end_seconds: 0}",
            "run_monitoring.free_slots_after_run_end_seconds: slot release is disabled: a run that "
            "crashes or is cancelled while holding a pool slot keeps it forever (set e.g. 60)",
        ),
        (
            "run_monitoring: {start_timeout_seconds: 0}",
            "run_monitoring.start_timeout_seconds: start timeout is disabled: a run stuck in "
            "STARTING holds its queue capacity forever",
        ),
        (
            "run_monitoring: {cancel_timeout_seconds: -1}",
            "run_monitoring.cancel_timeout_seconds: cancel timeout is disabled: a run stuck in "
            "CANCELING holds its queue capacity forever",
        ),
        (
            "run_queue: {dequeue_num_workers: 4}",
            "run_queue.dequeue_num_workers: has no effect unless dequeue_use_threads is true",
        ),
    ],
)
def test_valid_but_dangerous_settings_are_warned_about(text, warning):
    result = parse(text)

    assert result.config is not None
    assert [str(w) for w in result.warnings] == [warning]


def test_with_monitoring_off_its_timeouts_are_not_warned_about_separately():
    warnings = warnings_of(
        "run_monitoring: {enabled: false, start_timeout_seconds: 0, free_slots_after_run_end_seconds: 0}"
    )

    assert len(warnings) == 1 and warnings[0].startswith("run_monitoring.enabled:")


def test_every_valid_fixture_loads_without_warnings():
    # Dagster's DefaultRunCoordinator is valid, and always says that it has no queue.
    expected = {"valid_default_coordinator.yaml": ["run_coordinator.class"]}
    for path in VALID_FIXTURES:
        result = parse(path.read_text(), FIXTURE_ENV)
        assert result.errors == (), path.name
        assert [w.path for w in result.warnings] == expected.get(path.name, []), path.name


def test_every_invalid_fixture_is_rejected():
    for path in INVALID_FIXTURES:
        result = parse(path.read_text(), FIXTURE_ENV)
        assert result.config is None and result.errors, path.name


# --- export ------------------------------------------------------------------------------------


def test_a_config_built_from_defaults_is_written_in_the_current_shape():
    assert to_instance_dict(InstanceConfig()) == {
        "concurrency": {
            "runs": {"max_concurrent_runs": 10, "tag_concurrency_limits": []},
            "pools": {"granularity": "op", "op_granularity_run_buffer": 0},
        },
        "run_queue": {
            "dequeue_interval_seconds": 5,
            "dequeue_use_threads": False,
            "max_user_code_failure_retries": 0,
            "user_code_failure_retry_delay": 60,
            "block_op_concurrency_limited_runs": {"enabled": True},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 180,
            "cancel_timeout_seconds": 180,
            "max_runtime_seconds": 0,
            "max_resume_run_attempts": 0,
            "poll_interval_seconds": 15,
            "cancellation_thread_poll_interval_seconds": 10,
            "free_slots_after_run_end_seconds": 60,
        },
        "concurrency_ui": {
            "daemon_heartbeat_tolerance_seconds": 60,
            "run_heartbeat_timeout_seconds": 60,
            "started_run_allotment_seconds": 5,
            "wait_history_retention_days": 30,
            "resend_starting_after_seconds": 30,
            "max_queued_runs": -1,
            "run_retention_days": 0,
            "schedule_catch_up_limit": 5,
            "sensor_timeout_seconds": 60,
            "max_queued_seconds": 0,
            "max_queued_seconds_by_tag": [],
        },
    }


def test_export_writes_default_limit_workers_and_each_tag_limit_shape_when_set():
    config = dataclasses.replace(
        InstanceConfig(),
        queue=QueueSettings(
            tag_limits=(
                TagLimit("database", 2),
                TagLimit("database", 1, value="redshift"),
                TagLimit("team", 3, per_unique_value=True),
            )
        ),
        default_pool_limit=4,
        dequeue_num_workers=6,
        ignored={"telemetry": {"enabled": False}},
    )

    data = to_instance_dict(config)

    assert data["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "database", "limit": 2},
        {"key": "database", "limit": 1, "value": "redshift"},
        {"key": "team", "limit": 3, "value": {"applyLimitPerUniqueValue": True}},
    ]
    assert data["concurrency"]["pools"]["default_limit"] == 4
    assert data["run_queue"]["dequeue_num_workers"] == 6
    assert list(data)[-1] == "telemetry"


def test_an_imported_empty_file_is_written_back_empty():
    assert to_instance_yaml(load("")) == "{}\n"


def test_a_legacy_file_is_written_back_in_its_own_shape():
    config = load(fixture("valid_legacy_run_coordinator.yaml"))

    data = to_instance_dict(config)

    assert list(data) == ["run_coordinator", "run_launcher"]
    coordinator = data["run_coordinator"]
    assert coordinator["module"] == "dagster.core.run_coordinator"
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] == 25
    assert coordinator["config"]["block_op_concurrency_limited_runs"] == {
        "op_concurrency_slot_buffer": 1,
        "enabled": True,
    }


def test_a_run_queue_file_is_written_back_as_run_queue():
    data = to_instance_dict(load(fixture("valid_run_queue.yaml")))

    assert set(data) == {"run_queue", "run_monitoring"}
    assert data["run_queue"]["max_concurrent_runs"] == 15
    assert data["run_monitoring"] == {"enabled": True, "free_slots_after_run_end_seconds": 300}


def test_env_values_are_written_resolved_and_sections_keep_their_order():
    config = load(fixture("valid_full_deployment.yaml"), env=FIXTURE_ENV)

    data = to_instance_dict(config)

    assert data["run_coordinator"]["config"]["max_concurrent_runs"] == 30
    assert data["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert list(data) == list(yaml.safe_load(fixture("valid_full_deployment.yaml")))


def test_an_edit_is_written_next_to_the_legacy_values():
    config = load(fixture("valid_legacy_run_coordinator.yaml"))

    edited = apply_setting(config, "dequeue_use_threads", True)
    edited = apply_setting(edited, "default_pool_limit", 3)
    data = to_instance_dict(edited)

    assert data["run_coordinator"]["config"]["dequeue_use_threads"] is True
    # `pools:` would conflict with the legacy limits; the deprecated key does not.
    assert data["concurrency"] == {"default_op_concurrency_limit": 3}
    assert parse_instance_dict(data, env={}).config == edited


def test_setting_run_granularity_on_a_legacy_file_moves_the_limits_to_the_concurrency_block():
    config = load(fixture("valid_legacy_run_coordinator.yaml"))

    edited = apply_setting(config, "granularity", "run")
    data = to_instance_dict(edited)

    assert data["concurrency"]["runs"]["max_concurrent_runs"] == 25
    assert data["concurrency"]["pools"] == {"granularity": "run", "op_granularity_run_buffer": 1}
    assert "max_concurrent_runs" not in data["run_coordinator"]["config"]
    assert data["run_coordinator"]["config"]["dequeue_interval_seconds"] == 10
    reparsed = parse_instance_dict(data, env={})
    assert reparsed.errors == ()
    assert reparsed.config == edited


def test_characters_pyyaml_mangles_survive_export():
    # Found by hypothesis: PyYAML writes a trailing NEL raw in a quoted string and reads it back
    # as a line break unless non-ASCII text is escaped.
    config = dataclasses.replace(
        InstanceConfig(),
        queue=QueueSettings(tag_limits=(TagLimit("0é", 1, value="é\x85"),)),
        ignored={"nux": {"note": "naïve"}},
    )

    assert load(to_instance_yaml(config)) == config


def test_non_ascii_text_is_written_readably_when_pyyaml_can():
    config = dataclasses.replace(
        InstanceConfig(), queue=QueueSettings(tag_limits=(TagLimit("équipe", 1),))
    )

    assert "key: équipe" in to_instance_yaml(config)


@pytest.mark.parametrize("path", VALID_FIXTURES, ids=lambda p: p.name)
def test_every_valid_fixture_round_trips_with_its_layout(path):
    config = load(path.read_text(), env=FIXTURE_ENV)

    again = load(to_instance_yaml(config))

    assert again == config
    assert again.layout.sources == config.layout.sources
    assert again.layout.legacy_block == config.layout.legacy_block
    assert again.layout.coordinator_module == config.layout.coordinator_module
    assert again.layout.coordinator_class == config.layout.coordinator_class


# --- flat settings -------------------------------------------------------------------------------


def test_flat_settings_name_every_value():
    config = load(fixture("valid_concurrency.yaml"))

    flat = config_to_flat(config)

    assert tuple(flat) == SETTING_NAMES
    assert flat["max_concurrent_runs"] == 4
    assert flat["tag_limits"] == [{"key": "dagster/partition_set", "limit": 2}]
    assert flat["monitoring.free_slots_after_run_end_seconds"] == 120
    assert flat["extra.daemon_heartbeat_tolerance_seconds"] == 90
    assert flat["granularity"] == "op"


def test_sources_say_where_each_value_was_read():
    sources = config_sources(load(fixture("valid_concurrency.yaml")))

    assert sources["max_concurrent_runs"] == "concurrency.runs.max_concurrent_runs"
    assert sources["slot_buffer"] == "concurrency.pools.op_granularity_run_buffer"
    assert sources["dequeue_interval_seconds"] == "run_queue.dequeue_interval_seconds"
    assert sources["block_op_concurrency_limited_runs"] == (
        "run_queue.block_op_concurrency_limited_runs.enabled"
    )
    assert sources["dequeue_use_threads"] is None
    assert config_sources(InstanceConfig())["max_concurrent_runs"] is None


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("max_concurrent_runs", -2, f"max_concurrent_runs: -2 {MAX_RUNS_MESSAGE}"),
        ("max_concurrent_runs", "5", "max_concurrent_runs: expected an integer, got string '5'"),
        (
            "max_concurrent_runs",
            {"env": "X"},
            "max_concurrent_runs: expected an integer, got mapping {'env': 'X'}",
        ),
        ("granularity", "RUN", "granularity: expected 'op' or 'run', got string 'RUN'"),
        (
            "default_pool_limit",
            1001,
            "default_pool_limit: 1001 is out of range: a default pool limit must be between 0 and 1000",
        ),
        (
            "slot_buffer",
            -1,
            "slot_buffer: -1 is invalid: a buffer must be >= 0 (a negative buffer silently shrinks pool capacity; lower the pool limit instead)",
        ),
        (
            "tag_limits",
            [{"key": "a", "limit": 1}, {"key": "b", "limit": -1}],
            "tag_limits[1].limit: -1 is invalid: a tag limit must be >= 0",
        ),
        ("monitoring.enabled", "on", "monitoring.enabled: expected true or false, got string 'on'"),
        (
            "monitoring.poll_interval_seconds",
            0,
            "monitoring.poll_interval_seconds: 0 is invalid: it must be >= 1",
        ),
        (
            "extra.run_heartbeat_timeout_seconds",
            -5,
            "extra.run_heartbeat_timeout_seconds: -5 is invalid: it must be >= 0",
        ),
    ],
)
def test_validate_setting_uses_the_file_rules_and_messages(name, value, error):
    assert str(validate_setting(name, value)) == error


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_concurrent_runs", -1),
        ("tag_limits", None),
        ("default_pool_limit", None),
        ("dequeue_num_workers", None),
        ("monitoring.start_timeout_seconds", -10),
        ("monitoring.free_slots_after_run_end_seconds", None),
    ],
)
def test_validate_setting_accepts_valid_values(name, value):
    assert validate_setting(name, value) is None


def test_validate_setting_rejects_an_unknown_name():
    error = validate_setting("max_runs", 3)

    assert error.path == "max_runs"
    assert error.message.startswith("unknown setting; known settings: max_concurrent_runs, ")


def test_apply_setting_changes_one_value_and_normalises_it():
    config = InstanceConfig()

    assert apply_setting(config, "max_concurrent_runs", 3).queue.max_concurrent_runs == 3
    assert apply_setting(config, "monitoring.start_timeout_seconds", -1).monitoring == (
        MonitoringConfig(start_timeout_seconds=0)
    )
    assert apply_setting(config, "tag_limits", [{"key": "a", "limit": 1}]).queue.tag_limits == (
        TagLimit("a", 1),
    )
    moved = apply_setting(config, "extra.started_run_allotment_seconds", 9)
    assert moved.queue.started_run_allotment_seconds == 9
    assert moved.extra.started_run_allotment_seconds == 9


def test_apply_setting_refuses_an_invalid_value():
    with pytest.raises(InvalidSetting) as raised:
        apply_setting(InstanceConfig(), "max_concurrent_runs", -3)

    assert raised.value.error == ConfigError("max_concurrent_runs", f"-3 {MAX_RUNS_MESSAGE}")


def test_check_config_finds_rules_that_involve_several_settings():
    config = apply_setting(InstanceConfig(), "block_op_concurrency_limited_runs", False)

    assert check_config(config) == ()
    assert [str(e) for e in check_config(apply_setting(config, "granularity", "run"))] == [
        "concurrency.pools.granularity: 'run' needs pool-aware dequeuing, but "
        "run_queue.block_op_concurrency_limited_runs.enabled is false: pools would be enforced "
        "nowhere"
    ]


def test_instance_config_refuses_inconsistent_values():
    with pytest.raises(ValueError, match="started_run_allotment_seconds"):
        InstanceConfig(queue=QueueSettings(started_run_allotment_seconds=2))
    with pytest.raises(ValueError, match="ignored sections"):
        InstanceConfig(ignored={"run_queue": {}})


# --- round trips over generated configurations -------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12).filter(lambda t: "\x00" not in t)
_tag_key = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(
    lambda key: key_problem(key) is None
)
_count = st.integers(0, INT32_MAX)
_tag_limits = st.lists(
    st.one_of(
        st.builds(TagLimit, key=_tag_key, limit=_count),
        st.builds(TagLimit, key=_tag_key, limit=_count, value=_text),
        st.builds(TagLimit, key=_tag_key, limit=_count, per_unique_value=st.just(True)),
        st.builds(TagLimit, key=_tag_key, limit=_count, distinct_values=st.just(True)),
    ),
    max_size=4,
).map(tuple)
_queued_bounds = st.lists(
    st.builds(
        QueuedBound, key=_tag_key, seconds=st.integers(1, INT32_MAX), value=st.none() | _text
    ),
    max_size=3,
).map(tuple)
_fair_shares = st.none() | st.builds(
    FairShare,
    key=_tag_key,
    weights=st.dictionaries(_text, st.integers(1, 1000), max_size=3).map(
        lambda weights: tuple(sorted(weights.items()))
    ),
)
_yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=8,
)
_ignored = st.dictionaries(
    _text.filter(lambda key: key not in KNOWN_SECTIONS), _yaml_values, max_size=3
)


def _range_of(name: str) -> tuple[int, int]:
    accepted = int_setting_range(name)
    return (0 if accepted.minimum is None else accepted.minimum), accepted.maximum


@st.composite
def instance_configs(draw) -> InstanceConfig:
    blocking = draw(st.booleans())
    extra = ExtraConfig(
        **{
            f.name: draw(st.integers(*_range_of(f"extra.{f.name}")))
            for f in dataclasses.fields(ExtraConfig)
            if int_setting_range(f"extra.{f.name}") is not None
        },
        max_queued_seconds_by_tag=draw(_queued_bounds),
        fair_share=draw(_fair_shares),
    )
    queue = QueueSettings(
        max_concurrent_runs=draw(st.integers(-1, INT32_MAX)),
        tag_limits=draw(_tag_limits),
        block_op_concurrency_limited_runs=blocking,
        # Q6 and the buffer rule: both need blocking.
        slot_buffer=draw(_count) if blocking else 0,
        granularity=draw(st.sampled_from(["op", "run"])) if blocking else "op",
        started_run_allotment_seconds=float(extra.started_run_allotment_seconds),
        fair_share=extra.fair_share,
    )
    monitoring = MonitoringConfig(
        enabled=draw(st.booleans()),
        start_timeout_seconds=draw(_count),
        cancel_timeout_seconds=draw(_count),
        max_runtime_seconds=draw(_count),
        max_resume_run_attempts=draw(_count),
        poll_interval_seconds=draw(st.integers(1, INT32_MAX)),
        cancellation_thread_poll_interval_seconds=draw(st.integers(1, INT32_MAX)),
        free_slots_after_run_end_seconds=draw(_count),
    )
    return InstanceConfig(
        queue=queue,
        dequeue_interval_seconds=draw(st.integers(1, INT32_MAX)),
        dequeue_use_threads=draw(st.booleans()),
        dequeue_num_workers=draw(st.none() | st.integers(1, INT32_MAX)),
        max_user_code_failure_retries=draw(_count),
        user_code_failure_retry_delay=draw(_count),
        default_pool_limit=draw(st.none() | st.integers(0, 1000)),
        monitoring=monitoring,
        extra=extra,
        ignored=draw(_ignored),
    )


_FIXTURE_LAYOUTS = [None] + [
    load(path.read_text(), env=FIXTURE_ENV).layout for path in VALID_FIXTURES
]


def _without_queue(config: InstanceConfig) -> InstanceConfig:
    """`config` under Dagster's DefaultRunCoordinator: the queue settings are its own."""
    defaults = InstanceConfig()
    return dataclasses.replace(
        config,
        run_coordinator="default",
        queue=dataclasses.replace(
            config.queue,
            max_concurrent_runs=-1,
            tag_limits=(),
            block_op_concurrency_limited_runs=False,
            slot_buffer=0,
            granularity="op",
        ),
        dequeue_interval_seconds=defaults.dequeue_interval_seconds,
        dequeue_use_threads=defaults.dequeue_use_threads,
        dequeue_num_workers=defaults.dequeue_num_workers,
        max_user_code_failure_retries=defaults.max_user_code_failure_retries,
        user_code_failure_retry_delay=defaults.user_code_failure_retry_delay,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=instance_configs(),
    layout=st.sampled_from(_FIXTURE_LAYOUTS),
    no_queue=st.booleans(),
)
def test_export_then_parse_gives_back_the_same_config(config, layout, no_queue):
    # With a fixture's layout this is "import a file, edit anything, export".
    config = dataclasses.replace(config, layout=layout)
    if no_queue:
        config = _without_queue(config)

    result = parse_instance_yaml(to_instance_yaml(config), env={})

    assert result.errors == ()
    assert result.config == config


@settings(max_examples=100, deadline=None)
@given(config=instance_configs())
def test_every_flat_value_validates_and_applies_to_the_same_config(config):
    flat = config_to_flat(config)

    for name, value in flat.items():
        assert validate_setting(name, value) is None, name
        assert apply_setting(config, name, value) == config, name
