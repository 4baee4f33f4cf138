"""Queue-age bounds (`concurrency_ui.max_queued_seconds` and `max_queued_seconds_by_tag`):
which bound decides, who is overdue, how the file spells them, the linter and the doctor."""

from __future__ import annotations

import pytest
import yaml

from queueing.engine.config.export import to_instance_dict, to_instance_yaml
from queueing.engine.config.flat import apply_setting, config_to_flat
from queueing.engine.config.model import ExtraConfig, InstanceConfig, InvalidSetting
from queueing.engine.config.reader import parse_instance_dict, parse_instance_yaml
from queueing.engine.doctor import diagnose
from queueing.engine.doctor.facts import DoctorFacts, QueuedRun
from queueing.engine.staleness import (
    QueuedAge,
    QueuedBound,
    StaleRules,
    bound_for,
    overdue,
)

NOW = 1_000_000.0
RULES = StaleRules(
    3600,
    (
        QueuedBound("team", 600, "growth"),
        QueuedBound("dagster/backfill", 86400),
        QueuedBound("team", 1200),
    ),
)


def test_without_rules_no_run_is_ever_overdue():
    runs = [QueuedAge("a", 0.0, {})]
    assert overdue(StaleRules(), runs, NOW) == ()
    assert StaleRules().shortest() is None


def test_the_deployment_wide_bound_applies_to_every_run():
    bound = bound_for(StaleRules(3600), {})
    assert bound is not None and bound.seconds == 3600
    assert bound.rule == "concurrency_ui.max_queued_seconds"


def test_the_shortest_applicable_bound_decides_and_is_named_with_its_tag():
    growth = bound_for(RULES, {"team": "growth"})
    assert growth is not None
    assert (growth.seconds, growth.rule, growth.subject) == (
        600,
        "concurrency_ui.max_queued_seconds_by_tag[0]",
        "team=growth",
    )
    other_team = bound_for(RULES, {"team": "data"})
    assert other_team is not None and other_team.seconds == 1200
    assert other_team.subject == "team"
    # A longer tag bound never lengthens the deployment-wide one.
    backfill = bound_for(RULES, {"dagster/backfill": "b1"})
    assert backfill is not None and backfill.seconds == 3600


def test_a_key_value_bound_does_not_apply_to_other_values():
    rules = StaleRules(0, (QueuedBound("team", 60, "growth"),))
    assert bound_for(rules, {"team": "data"}) is None
    assert bound_for(rules, {}) is None


def test_a_run_is_overdue_only_once_it_waited_longer_than_its_bound():
    runs = [
        QueuedAge("young", NOW - 599, {"team": "growth"}),
        QueuedAge("exact", NOW - 600, {"team": "growth"}),
        QueuedAge("old", NOW - 601, {"team": "growth"}),
        QueuedAge("other", NOW - 1000, {"team": "data"}),
    ]
    found = overdue(RULES, runs, NOW)
    assert [t.run_id for t in found] == ["old"]
    reason = found[0].reason
    assert "concurrency_ui.max_queued_seconds_by_tag[0] (team=growth): 600 s" in reason
    assert "queued for 601 seconds" in reason


def test_the_file_reads_and_writes_both_rules_back():
    text = """
concurrency_ui:
  max_queued_seconds: 3600
  max_queued_seconds_by_tag:
    - {key: team, value: growth, seconds: 600}
    - {key: dagster/backfill, seconds: 86400}
"""
    result = parse_instance_yaml(text, env={})
    assert result.errors == ()
    config = result.config
    assert config is not None
    assert config.extra.max_queued_seconds == 3600
    assert config.extra.max_queued_seconds_by_tag == (
        QueuedBound("team", 600, "growth"),
        QueuedBound("dagster/backfill", 86400),
    )
    again = parse_instance_yaml(to_instance_yaml(config), env={}).config
    assert again == config
    assert to_instance_dict(config)["concurrency_ui"]["max_queued_seconds_by_tag"][0] == {
        "key": "team",
        "value": "growth",
        "seconds": 600,
    }


def test_a_file_without_bounds_exports_none():
    config = parse_instance_dict({"run_queue": {"max_concurrent_runs": 3}}, env={}).config
    assert config is not None
    assert "concurrency_ui" not in to_instance_dict(config)


@pytest.mark.parametrize(
    ("bounds", "path", "words"),
    [
        ({"key": "team", "seconds": 0}, "[0].seconds", "between 1 and"),
        ({"key": "team", "seconds": "10"}, "[0].seconds", "expected an integer"),
        ({"key": "team"}, "[0]", "missing required key 'seconds'"),
        ({"seconds": 5}, "[0]", "missing required key 'key'"),
        ({"key": "team", "seconds": 5, "value": 3}, "[0].value", "expected a string"),
        ({"key": "team", "seconds": 5, "limit": 3}, "[0].limit", "unknown key"),
        ({"key": " team", "seconds": 5}, "[0].key", "space"),
        ("team", "[0]", "expected a mapping"),
    ],
)
def test_a_bad_bound_is_refused_naming_its_path(bounds, path, words):
    result = parse_instance_dict(
        {"concurrency_ui": {"max_queued_seconds_by_tag": [bounds]}}, env={}
    )
    assert result.config is None
    messages = [str(e) for e in result.errors]
    assert any(
        m.startswith(f"concurrency_ui.max_queued_seconds_by_tag{path}:") and words in m
        for m in messages
    ), messages


def test_a_negative_deployment_bound_is_refused():
    result = parse_instance_dict({"concurrency_ui": {"max_queued_seconds": -5}}, env={})
    assert [e.path for e in result.errors] == ["concurrency_ui.max_queued_seconds"]


def test_the_bounds_are_edited_by_name_like_every_setting():
    config = apply_setting(
        InstanceConfig(), "extra.max_queued_seconds_by_tag", [{"key": "team", "seconds": 30}]
    )
    assert config.extra.max_queued_seconds_by_tag == (QueuedBound("team", 30),)
    assert config_to_flat(config)["extra.max_queued_seconds_by_tag"] == [
        {"key": "team", "seconds": 30}
    ]
    with pytest.raises(InvalidSetting) as refused:
        apply_setting(InstanceConfig(), "extra.max_queued_seconds_by_tag", [{"key": "team"}])
    assert refused.value.error.path == "extra.max_queued_seconds_by_tag[0]"


def test_the_linter_warns_about_bounds_that_can_never_cancel_a_run():
    text = """
run_monitoring: {enabled: false}
concurrency_ui:
  max_queued_seconds: 600
  max_queued_seconds_by_tag: [{key: team, seconds: 900}]
"""
    warnings = [str(w) for w in parse_instance_yaml(text, env={}).warnings]
    assert any("runs queued too long are not canceled" in w for w in warnings), warnings
    assert any(
        w.startswith("concurrency_ui.max_queued_seconds_by_tag[0].seconds") and "never cancels" in w
        for w in warnings
    ), warnings


def _facts(extra: ExtraConfig, queued=(), timeouts=None) -> DoctorFacts:
    return DoctorFacts(
        now=NOW,
        config=InstanceConfig(extra=extra),
        instance_id="x",
        queued=tuple(queued),
        queue_timeouts=timeouts or {},
    )


def _queued(run_id: str, age: float, **tags: str) -> QueuedRun:
    return QueuedRun(run_id, "etl", 0, tags, frozenset(), NOW - age, wait_reason="tag team: 1 of 1")


def _age_finding(facts: DoctorFacts):
    return next(f for f in diagnose(facts) if f.check == "queue_age")


def test_the_doctor_reports_runs_close_to_their_bound():
    extra = ExtraConfig(max_queued_seconds=1000)
    finding = _age_finding(_facts(extra, [_queued("a" * 36, 850), _queued("b" * 36, 100)]))
    assert finding.status == "warning"
    assert len(finding.evidence) == 1
    line = finding.evidence[0]
    assert "aaaaaaaa" in line and "concurrency_ui.max_queued_seconds: 1000 s" in line
    assert "tag team: 1 of 1" in line


def test_the_doctor_reports_jobs_whose_runs_keep_timing_out():
    finding = _age_finding(
        _facts(ExtraConfig(max_queued_seconds=1000), timeouts={"etl": 3, "x": 1})
    )
    assert finding.status == "warning"
    assert finding.evidence == (
        "job etl: 3 runs canceled for waiting too long in the queue in the last 24.0 h",
    )


def test_the_doctor_is_content_without_bounds_or_near_runs():
    assert _age_finding(_facts(ExtraConfig())).status == "ok"
    assert (
        _age_finding(_facts(ExtraConfig(max_queued_seconds=1000), [_queued("a", 10)])).status
        == "ok"
    )


def test_the_doctor_section_round_trips_through_yaml():
    # The finding's evidence and the YAML export use the same spelling of the rule.
    config = InstanceConfig(extra=ExtraConfig(max_queued_seconds=5))
    assert yaml.safe_load(to_instance_yaml(config))["concurrency_ui"]["max_queued_seconds"] == 5
