"""Every parser of user input answers arbitrary input with errors, never an exception.

Pure engine functions (no database): the `dagster.yaml` reader, run tags, priorities and
run config. Hypothesis searches for inputs that crash them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_yaml
from queueing.engine.config.reader import parse_instance_dict, parse_instance_yaml
from queueing.engine.inputs import InputRefused, check_value
from queueing.engine.submission import parse_priority, validate_run_config, validate_tags

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), children, max_size=4)
    ),
    max_leaves=30,
)
KEYS = [
    "run_queue",
    "concurrency",
    "run_coordinator",
    "run_monitoring",
    "concurrency_ui",
    "runs",
    "pools",
    "max_concurrent_runs",
    "tag_concurrency_limits",
    "key",
    "value",
    "limit",
    "default_limit",
    "granularity",
    "applyLimitPerUniqueValue",
    "config",
    "class",
    "module",
]
# Documents shaped like dagster.yaml, with wrong values where the parser must catch them.
shaped = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(st.text(max_size=300))
def test_any_text_is_a_parse_result_not_a_crash(text):
    result = parse_instance_yaml(text)

    assert (result.config is None) == bool(result.errors)


@FUZZ
@given(
    st.text(
        alphabet=st.sampled_from(list(":-[]{}!&*#|>'\"%@` \n\t\x00\x1f\ufeffabc01")), max_size=120
    )
)
def test_yaml_punctuation_and_control_characters_are_errors_not_crashes(text):
    result = parse_instance_yaml(text)

    assert (result.config is None) == bool(result.errors)


@FUZZ
@given(documents | shaped)
def test_any_document_is_validated_or_refused_with_paths(document):
    try:
        # Every document reaches the reader through the input boundary, which refuses what
        # JSON cannot hold (NaN, integer keys, ...).
        check_value(document)
    except InputRefused as exc:
        assert exc.error.path and exc.error.message
        return
    result = parse_instance_dict(document)

    if result.config is None:
        assert result.errors and all(error.path and error.message for error in result.errors)
    else:
        # What was accepted can be written out and read back as the same configuration.
        again = parse_instance_yaml(to_instance_yaml(result.config))
        assert again.config == result.config


@FUZZ
@given(documents)
def test_any_tags_are_validated_or_refused(tags):
    valid, errors = validate_tags(tags)

    assert isinstance(valid, dict) and isinstance(errors, list)
    if not errors and isinstance(tags, dict):
        parse_priority(valid)


@FUZZ
@given(st.dictionaries(st.text(max_size=30), st.text(max_size=30), max_size=3))
def test_any_priority_tag_is_an_int_in_range_or_an_error(tags):
    priority, errors = parse_priority(tags)

    assert isinstance(priority, int)
    assert errors or -(2**31) <= priority < 2**31


@FUZZ
@given(documents | shaped, st.frozensets(st.text(max_size=8), max_size=3))
def test_any_run_config_is_validated_or_refused(run_config, steps):
    settings_, errors = validate_run_config(run_config, steps)

    assert isinstance(errors, list)
