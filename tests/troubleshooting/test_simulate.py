"""The simulator predicts exactly what the next real tick launches, before and after a change.

States are built with the services (submit, tick, status changes, slot claims, pool limits,
configuration loads), so the prediction is checked against the real tick on the real
database, not against a second model of it.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from queueing.engine.config.export import to_instance_dict
from queueing.engine.config.flat import apply_setting
from queueing.engine.simulate import blocking_counts
from queueing.engine.types import RunStatus
from queueing.models import DaemonHeartbeat, DeploymentSettings, Pool, Run, TickRecord
from queueing.services import config, pools, run_queue, runs
from queueing.services import simulate as simulate_service

from .helpers import load

pytestmark = pytest.mark.django_db

# warehouse_rebuild claims 3 warehouse slots, partner_sync 2 warehouse + 1 partner_api.
JOBS = ("quick", "redshift_etl", "api_ingest", "warehouse_rebuild", "partner_sync")
POOLS = ("redshift", "api", "warehouse", "partner_api")
TAG_LIMITS = (
    {"key": "database", "value": "redshift"},
    {"key": "database"},
    {"key": "team", "value": {"applyLimitPerUniqueValue": True}},
    {"key": "team", "value": "a"},
    # concurrency-ui's own distinct-values cap: its count goes inside the value.
    {"key": "database", "value": {"maxUniqueValues": None}},
)
# concurrency-ui's fair share (None: off, Dagster's order).
FAIR_SHARES = (None, {"key": "team"}, {"key": "team", "weights": {"a": 3}}, {"key": "database"})
HYPOTHESIS = settings(
    max_examples=int(os.environ.get("SIMULATE_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _with_limit(item: dict, limit: int) -> dict:
    if isinstance(item.get("value"), dict) and "maxUniqueValues" in item["value"]:
        return {**item, "value": {"maxUniqueValues": limit}}
    return {**item, "limit": limit}


@st.composite
def documents(draw):
    blocking = draw(st.booleans())
    # Run granularity and a buffer only apply to pool-aware dequeuing (refused without it).
    pools_block = {
        "granularity": draw(st.sampled_from(["op", "run"])) if blocking else "op",
        "op_granularity_run_buffer": draw(st.integers(0, 2)) if blocking else 0,
    }
    default = draw(st.none() | st.integers(0, 3))
    if default is not None:
        pools_block["default_limit"] = default
    tags = [
        _with_limit(item, draw(st.integers(0, 3)))
        for item in draw(st.lists(st.sampled_from(TAG_LIMITS), max_size=3, unique_by=str))
    ]
    fair = draw(st.sampled_from(FAIR_SHARES))
    return {
        "concurrency_ui": {} if fair is None else {"fair_share": fair},
        "concurrency": {
            "runs": {
                "max_concurrent_runs": draw(st.sampled_from([-1, 0, 1, 2, 3, 4, 6, 8, 12])),
                "tag_concurrency_limits": tags,
            },
            "pools": pools_block,
        },
        "run_queue": {"block_op_concurrency_limited_runs": {"enabled": blocking}},
    }


@st.composite
def submissions(draw, min_size=1, max_size=8):
    items = []
    for _ in range(draw(st.integers(min_size, max_size))):
        tags = {}
        team = draw(st.sampled_from(["a", "b", None]))
        if team:
            tags["team"] = team
        if draw(st.booleans()):
            tags["database"] = draw(st.sampled_from(["redshift", "snowflake"]))
        priority = draw(st.sampled_from([None, -1, 0, 2]))
        if priority is not None:
            tags["dagster/priority"] = str(priority)
        items.append((draw(st.sampled_from(JOBS)), tags))
    return items


def _reset() -> None:
    Run.objects.all().delete()  # steps, events, waits and claims go with their runs
    Pool.objects.all().delete()
    DaemonHeartbeat.objects.all().delete()
    TickRecord.objects.all().delete()
    DeploymentSettings.objects.all().delete()


def _build(data) -> None:
    """A queue with history: runs launched, started (some long ago), finished, holding or
    waiting for slots; pool limits set by hand; then a new configuration and new runs."""
    _reset()
    load(data.draw(documents(), label="first configuration"))
    for job, tags in data.draw(submissions(), label="first runs"):
        runs.submit(job, tags=tags, actor="test")
    run_queue.tick()
    default = config.current_config().default_pool_limit
    for run in Run.objects.filter(status=RunStatus.STARTING).order_by("id"):
        fate = data.draw(st.sampled_from(["starting", "started", "started long ago", "finished"]))
        if fate == "starting":
            continue
        runs.transition([run.run_id], RunStatus.STARTING, RunStatus.STARTED)
        if fate == "started long ago":
            # Outside the allotment of SEMANTICS 2.7: only its claims count for its pools.
            Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=5))
        if fate == "finished":
            runs.transition([run.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
            continue
        for step in run.steps.order_by("plan_index"):
            if step.pools and data.draw(st.booleans(), label=f"claim {step.step_key}"):
                pools.try_claim(run, step.step_key, step.pools, step.priority, default)
    for key in POOLS:
        limit = data.draw(st.sampled_from([None, 0, 1, 1, 2, 3]), label=f"limit of {key}")
        if limit is not None:
            pools.set_limit(key, limit, actor="test")
    load(data.draw(documents(), label="second configuration"))
    for job, tags in data.draw(submissions(), label="more runs"):
        runs.submit(job, tags=tags, actor="test")


@HYPOTHESIS
@given(data=st.data())
def test_with_no_change_the_prediction_is_exactly_what_the_next_tick_launches(data):
    _build(data)
    now = timezone.now()

    predicted = simulate_service.simulate(now=now)
    result = run_queue.tick(now=now)

    assert result.launched == predicted.launch
    event(f"launched {min(len(result.launched), 3)}+")
    for rule, _subject in blocking_counts(predicted.current):
        event(f"held by {rule}")
    assert predicted.launch == predicted.current.launch
    assert predicted.newly_launched == predicted.no_longer_launched == ()


@st.composite
def changes(draw):
    kind = draw(
        st.sampled_from(["max_concurrent_runs", "pool", "default_pool_limit", "tags", "fair_share"])
    )
    if kind == "fair_share":
        return "extra.fair_share", draw(st.sampled_from(FAIR_SHARES))
    if kind == "max_concurrent_runs":
        return kind, draw(st.integers(-1, 6))
    if kind == "pool":
        return kind, (draw(st.sampled_from(POOLS)), draw(st.none() | st.integers(0, 3)))
    if kind == "default_pool_limit":
        return kind, draw(st.none() | st.integers(0, 3))
    tags = [
        _with_limit(item, draw(st.integers(0, 3)))
        for item in draw(st.lists(st.sampled_from(TAG_LIMITS), max_size=3, unique_by=str))
    ]
    return kind, tags


def _apply_for_real(kind: str, value) -> None:
    if kind == "pool":
        key, limit = value
        if limit is None:
            if Pool.objects.filter(key=key).exists():
                pools.delete_pool(key, actor="test")
        else:
            pools.set_limit(key, limit, actor="test")
        return
    name = "tag_limits" if kind == "tags" else kind
    changed = to_instance_dict(apply_setting(config.current_config(), name, value))

    def replace(document: dict) -> None:
        document.clear()
        document.update(changed)

    config.update_document(replace, actor="test", source="api")


@HYPOTHESIS
@given(data=st.data(), change=changes())
def test_a_changed_limit_predicts_what_the_tick_launches_once_it_is_applied(data, change):
    _build(data)
    kind, value = change
    now = timezone.now()
    if kind == "pool":
        key, limit = value
        predicted = simulate_service.simulate(pool_limits={key: limit}, now=now)
    else:
        name = "tag_limits" if kind == "tags" else kind
        predicted = simulate_service.simulate(settings={name: value}, now=now)
    active_before = Run.objects.active().count()

    _apply_for_real(kind, value)
    result = run_queue.tick(now=now)

    assert result.launched == predicted.launch
    # Runs in progress are never interrupted: a lowered limit is reported, not enforced on them.
    if kind == "max_concurrent_runs" and 0 <= value < active_before:
        over = [o for o in predicted.over_limit if o.rule == "max_concurrent_runs"]
        assert over and over[0].count == active_before and over[0].limit == value
        assert result.launched == ()
        assert Run.objects.active().count() == active_before


def test_lowering_a_pool_limit_reports_the_runs_holding_more_slots_than_the_new_limit():
    load({"run_queue": {"max_concurrent_runs": 5}})
    pools.set_limit("api", 3, actor="test")
    first = runs.submit("api_ingest", actor="test")
    run_queue.tick()
    runs.transition([first.run_id], RunStatus.STARTING, RunStatus.STARTED)
    for step in first.steps.filter(pool="api"):
        assert pools.try_claim(first, step.step_key, "api", step.priority, None).claimed
    waiting = runs.submit("api_ingest", actor="test")

    simulation = simulate_service.simulate(pool_limits={"api": 1})

    assert [(o.rule, o.subject, o.count, o.limit) for o in simulation.over_limit] == [
        ("pool", "api", 3, 1)
    ]
    assert simulation.over_limit[0].holders == (first.run_id,)
    assert simulation.launch == ()
    bottleneck = {(b.rule, b.subject): b for b in simulation.bottlenecks}[("pool", "api")]
    assert (bottleneck.waiting_now, bottleneck.waiting_after) == (1, 1)
    assert waiting.run_id in simulate_service.simulation_to_dict(simulation)["waiting"]


def test_raising_max_concurrent_runs_launches_the_runs_it_held_back():
    load({"run_queue": {"max_concurrent_runs": 1}})
    held = [runs.submit("quick", actor="test") for _ in range(3)]

    simulation = simulate_service.simulate(settings={"max_concurrent_runs": 3})

    assert simulation.current.launch == (held[0].run_id,)
    assert simulation.launch == tuple(r.run_id for r in held)
    assert simulation.newly_launched == (held[1].run_id, held[2].run_id)
    mcr = {(b.rule, b.subject): b for b in simulation.bottlenecks}[
        ("max_concurrent_runs", "max_concurrent_runs")
    ]
    assert (mcr.waiting_now, mcr.waiting_after) == (2, 0)
    # Nothing was saved.
    assert config.current_config().queue.max_concurrent_runs == 1
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 3


def test_an_invalid_proposal_is_refused_with_the_same_error_as_the_edit():
    from queueing.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        simulate_service.simulate(settings={"max_concurrent_runs": -5})
    assert refused.value.errors[0].path == "max_concurrent_runs"
    with pytest.raises(InvalidInput) as refused:
        simulate_service.simulate(pool_limits={"api": 5000})
    assert refused.value.errors[0].path == "pools.api"


def test_under_fair_share_the_prediction_remembers_the_turns_finished_runs_had():
    # Team a already had two turns since the oldest queued run was enqueued: the tick gives
    # the one free slot to team b's later run, and so must the prediction.
    load(
        {"run_queue": {"max_concurrent_runs": 1}, "concurrency_ui": {"fair_share": {"key": "team"}}}
    )
    first_a = runs.submit("quick", tags={"team": "a"}, actor="test")
    later_b = runs.submit("quick", tags={"team": "b"}, actor="test")
    for _ in range(2):
        had = runs.submit("quick", tags={"team": "a"}, actor="test")
        Run.objects.filter(pk=had.pk).update(
            status=RunStatus.SUCCESS, launched_at=timezone.now(), ended_at=timezone.now()
        )

    predicted = simulate_service.simulate()
    result = run_queue.tick()

    assert predicted.launch == result.launched == (later_b.run_id,)
    verdict = predicted.current.verdicts[first_a.run_id]
    assert verdict.blocking.rule == "fair_share"


def test_turning_fair_share_on_predicts_the_interleaving_the_tick_then_launches():
    load({"run_queue": {"max_concurrent_runs": 2}})
    backfill = [runs.submit("quick", tags={"team": "data"}, actor="test") for _ in range(4)]
    small = runs.submit("quick", tags={"team": "growth"}, actor="test")

    simulation = simulate_service.simulate(settings={"extra.fair_share": {"key": "team"}})

    assert simulation.current.launch == (backfill[0].run_id, backfill[1].run_id)
    assert simulation.launch == (backfill[0].run_id, small.run_id)
    assert simulation.newly_launched == (small.run_id,)
    _apply_for_real("extra.fair_share", {"key": "team"})
    assert run_queue.tick().launched == simulation.launch


def test_a_lower_queue_age_bound_names_the_runs_monitoring_would_cancel():
    from queueing.services import staleness

    load({"run_queue": {"max_concurrent_runs": 0}, "concurrency_ui": {"max_queued_seconds": 3600}})
    old = runs.submit("quick", tags={"team": "growth"}, actor="test")
    young = runs.submit("quick", tags={"team": "growth"}, actor="test")
    now = timezone.now()
    Run.objects.filter(pk=old.pk).update(enqueued_at=now - timedelta(minutes=20))
    Run.objects.filter(pk=young.pk).update(enqueued_at=now - timedelta(minutes=5))
    bounds = [{"key": "team", "value": "growth", "seconds": 600}]

    simulation = simulate_service.simulate(
        settings={"extra.max_queued_seconds_by_tag": bounds}, now=now
    )
    answer = simulate_service.simulation_to_dict(simulation)

    assert simulation.overdue_now == ()
    assert [t.run_id for t in simulation.newly_overdue] == [old.run_id]
    assert answer["canceled_for_queue_age"] == [
        {
            "run_id": old.run_id,
            "rule": "concurrency_ui.max_queued_seconds_by_tag[0]",
            "subject": "team=growth",
            "seconds": 600,
            "waited_seconds": 1200,
        }
    ]
    assert (answer["canceled_for_queue_age_total"], answer["canceled_for_queue_age_now"]) == (1, 0)
    # Nothing was saved; once it is, monitoring cancels exactly the predicted run.
    assert Run.objects.queued().count() == 2
    _apply_for_real("extra.max_queued_seconds_by_tag", bounds)
    canceled = staleness.cancel_overdue(config.current_config(), now)
    assert [t.run_id for t in canceled] == [old.run_id]


def test_a_distinct_values_cap_predicts_the_backfills_the_tick_launches():
    load({"run_queue": {"max_concurrent_runs": -1}})
    made = [
        runs.submit("quick", tags={"dagster/backfill": f"b{n}"}, actor="test")
        for n in (1, 1, 2, 3, 3)
    ]
    cap = [{"key": "dagster/backfill", "value": {"maxUniqueValues": 2}}]

    simulation = simulate_service.simulate(settings={"tag_limits": cap})

    assert simulation.launch == tuple(r.run_id for r in made[:3])
    waiting = simulate_service.simulation_to_dict(simulation)["waiting"]
    assert waiting[made[3].run_id]["subject"] == "dagster/backfill (distinct values)"
    _apply_for_real("tags", cap)
    assert run_queue.tick().launched == simulation.launch
