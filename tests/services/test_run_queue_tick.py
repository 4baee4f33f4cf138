"""The dequeue tick on a real database: it launches exactly what the engine decides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from queueing.engine.types import RunStatus
from queueing.models import DaemonHeartbeat, Pool, Run, RunEvent, RunWait
from queueing.services import run_queue, runs
from queueing.services.config import current_config

from .helpers import load_config, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(run_queue, "send_launches", lambda ids: sent.extend(ids))
    return sent


def test_tick_launches_what_the_engine_decided(no_broker, django_capture_on_commit_callbacks):
    load_config({"concurrency": {"runs": {"max_concurrent_runs": 2}}})
    first, second, third = submit(), submit(), submit()
    expected = run_queue.evaluate(current_config()).decision.launch
    with django_capture_on_commit_callbacks(execute=True):
        result = run_queue.tick()
    assert result.launched == expected == (first.run_id, second.run_id)
    assert no_broker == [first.run_id, second.run_id]
    third.refresh_from_db()
    assert third.status == RunStatus.QUEUED
    assert third.wait_rule == "max_concurrent_runs:max_concurrent_runs"
    assert "2 of 2" in third.wait_reason
    assert Run.objects.filter(status=RunStatus.STARTING).count() == 2
    assert RunEvent.objects.filter(kind="starting").count() == 2


def test_zero_max_concurrent_runs_launches_nothing():
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    run = submit()
    assert run_queue.tick().launched == ()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_priority_runs_launch_first_and_fifo_inside_a_priority():
    load_config({"run_queue": {"max_concurrent_runs": 2}})
    low = submit()
    high = submit(**{"dagster/priority": "5"})
    low_2 = submit()
    assert run_queue.tick().launched == (high.run_id, low.run_id)
    low_2.refresh_from_db()
    assert low_2.status == RunStatus.QUEUED


def test_tag_limit_holds_runs_and_counts_active_runs_across_ticks():
    load_config(
        {
            "run_queue": {
                "tag_concurrency_limits": [{"key": "database", "value": "redshift", "limit": 1}]
            }
        }
    )
    a = submit(database="redshift")
    b = submit(database="redshift")
    c = submit(database="snowflake")
    assert set(run_queue.tick().launched) == {a.run_id, c.run_id}
    assert run_queue.tick().launched == ()
    b.refresh_from_db()
    assert b.wait_rule == "tag:database=redshift"
    assert a.run_id[:8] in b.wait_reason
    runs.transition([a.run_id], RunStatus.STARTING, RunStatus.STARTED)
    runs.transition([a.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
    assert run_queue.tick().launched == (b.run_id,)


def test_wait_history_stores_only_changes_of_rule():
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    submit()
    waiting = submit(team="x")
    run_queue.tick()
    run_queue.tick()
    run_queue.tick()
    assert RunWait.objects.filter(run=waiting).count() == 1
    # Room in the queue now, but a tag limit of 0 on `team` holds the run instead.
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": 5,
                "tag_concurrency_limits": [{"key": "team", "limit": 0}],
            }
        }
    )
    run_queue.tick()
    history = list(RunWait.objects.filter(run=waiting).order_by("id"))
    assert [w.rule for w in history] == ["max_concurrent_runs:max_concurrent_runs", "tag:team"]
    assert history[0].ended_at is not None
    assert history[1].ended_at is None


def test_wait_history_starts_when_the_run_is_queued():
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    submit()
    with time_machine.travel(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), tick=False):
        waiting = submit()
    with time_machine.travel(datetime(2026, 1, 1, 12, 1, tzinfo=UTC), tick=False):
        run_queue.tick()

    waiting.refresh_from_db()
    history = list(RunWait.objects.filter(run=waiting))
    # One stretch, from the enqueue on, under the rule the tick gives it (not a minute late).
    assert [(w.rule, w.started_at, w.ended_at) for w in history] == [
        ("max_concurrent_runs:max_concurrent_runs", waiting.enqueued_at, None)
    ]
    assert waiting.wait_rule == "max_concurrent_runs:max_concurrent_runs"


def test_a_run_the_next_tick_launches_gets_no_wait_at_enqueue():
    run = submit()

    run.refresh_from_db()
    assert not RunWait.objects.filter(run=run).exists() and run.wait_rule == ""


def test_runs_queued_behind_a_full_queue_wait_from_their_enqueue_however_many():
    # Past the first read of the tick, unread runs wait on the gate that fills the queue.
    load_config({"run_queue": {"max_concurrent_runs": 0}})
    for _ in range(3):
        submit()
    backlog = run_queue.FIRST_READ + 5
    ready = runs.prepare("quick")
    with transaction.atomic():
        created = runs.insert_runs(ready, [ready.tags] * backlog, actor="test")

    assert RunWait.objects.filter(run__in=created, started_at=created[0].enqueued_at).count() == (
        backlog
    )
    assert RunWait.objects.filter(run__in=created).values("rule").distinct().count() == 1


def test_first_tick_applies_a_default_pool_limit_to_a_new_pool():
    # Q3 fixed: the default is initialised before the pool is evaluated.
    load_config({"concurrency": {"pools": {"default_limit": 1}}})
    runs_on_pool = [submit("api_ingest") for _ in range(3)]
    launched = run_queue.tick().launched
    assert Pool.objects.get(key="api").limit == 1
    assert Pool.objects.get(key="api").from_default is True
    # api_ingest has three roots on pool `api`: one run uses the pool's room.
    assert launched == (runs_on_pool[0].run_id,)


def test_tick_records_heartbeat_with_launch_count():
    submit()
    run_queue.tick()
    beat = DaemonHeartbeat.objects.get(daemon="run_queue")
    assert beat.last_launched == 1
    assert beat.last_tick_duration_ms is not None
    assert beat.errors == []


def test_tick_not_due_is_skipped_without_force():
    run_queue.tick()
    submit()
    assert run_queue.tick(force=False).ran is False
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 1


def test_canceled_queued_run_is_never_launched():
    run = submit()
    runs.terminate(run.run_id, actor="test")
    assert run_queue.tick().launched == ()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED


def stored_rules() -> dict[str, str]:
    return dict(Run.objects.queued().values_list("run_id", "wait_rule"))


def open_wait_rules() -> dict[int, list[str]]:
    history: dict[int, list[str]] = {}
    for run_pk, rule in RunWait.objects.filter(ended_at__isnull=True).values_list("run_id", "rule"):
        history.setdefault(run_pk, []).append(rule)
    return history


def test_a_tick_over_a_full_queue_reads_its_head_and_stores_the_same_rules(monkeypatch):
    """Past the runs that use up max_concurrent_runs every run waits on it: a tick that
    reads only the queue's head must launch and store exactly what a whole read does."""
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": 3,
                "tag_concurrency_limits": [{"key": "database", "limit": 1}],
            }
        }
    )
    queued = [submit(database="redshift") if i % 2 else submit() for i in range(14)]
    monkeypatch.setattr(run_queue, "FIRST_READ", 4)
    read: list[int] = []
    build = run_queue._run_infos.build

    def counting_build(row_lists, whole=True):
        read.append(len(row_lists[0]))
        return build(row_lists, whole)

    monkeypatch.setattr(run_queue._run_infos, "build", counting_build)
    expected = run_queue.evaluate(current_config()).decision
    read.clear()

    result = run_queue.tick()

    # Runs 0, 1 (first redshift) and 2 launch; run 3 (redshift) waits on the tag limit.
    assert read == [4], "the head of four runs already used up max_concurrent_runs"
    assert result.launched == expected.launch == tuple(r.run_id for r in queued[:3])
    assert result.queued == 11
    full = "max_concurrent_runs:max_concurrent_runs"
    rules = stored_rules()
    assert rules == {r.run_id: run_queue.rule_key(expected.verdicts[r.run_id]) for r in queued[3:]}
    assert rules[queued[3].run_id] == full  # capacity is checked first: 3 of 3 in progress
    assert set(rules.values()) == {full}
    assert (
        Run.objects.get(pk=queued[13].pk).wait_reason
        == "max_concurrent_runs: 3 of 3 runs in progress"
    )
    assert open_wait_rules() == {r.pk: [full] for r in queued[3:]}

    # A later tick changes nothing for runs whose rule did not change, read or not...
    late = submit()
    assert run_queue.tick().launched == ()
    assert open_wait_rules() == {r.pk: [full] for r in [*queued[3:], late]}
    assert RunWait.objects.count() == 12


def test_a_tick_reads_further_while_runs_could_still_launch(monkeypatch):
    """Runs held by a tag limit do not fill the queue: the tick reads past them and
    launches the first runs that can go, deep in the queue."""
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": 2,
                "tag_concurrency_limits": [{"key": "database", "limit": 0}],
            }
        }
    )
    held = [submit(database="redshift") for _ in range(9)]
    free = [submit() for _ in range(3)]
    monkeypatch.setattr(run_queue, "FIRST_READ", 2)
    monkeypatch.setattr(run_queue, "READ_GROWTH", 2)

    result = run_queue.tick()

    assert result.launched == (free[0].run_id, free[1].run_id)
    rules = stored_rules()
    assert {rules[r.run_id] for r in held} == {"tag:database"}
    assert rules[free[2].run_id] == "max_concurrent_runs:max_concurrent_runs"
    assert result.queued == 10


def test_a_tick_over_a_long_queue_applies_default_pool_limits_of_unread_runs(monkeypatch):
    load_config(
        {"concurrency": {"runs": {"max_concurrent_runs": 1}, "pools": {"default_limit": 2}}}
    )
    submit()
    submit()
    submit("pooled_pair")  # never read by the tick: the head fills the queue
    monkeypatch.setattr(run_queue, "FIRST_READ", 1)
    run_queue.tick()
    assert Pool.objects.get(key="shared").limit == 2


def test_waiting_reasons_are_written_in_chunks_without_losing_a_run(monkeypatch):
    """The reasons and history rows go out in statements of at most _CHUNK runs (bound
    parameter limits); groups split across statements must all arrive."""
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": 1,
                "tag_concurrency_limits": [{"key": "database", "limit": 0}],
            }
        }
    )
    monkeypatch.setattr(run_queue, "_CHUNK", 3)
    held = [submit(database="redshift") for _ in range(7)]
    first = submit()
    behind = [submit() for _ in range(5)]
    assert run_queue.tick().launched == (first.run_id,)
    rules = stored_rules()
    assert {rules[r.run_id] for r in held} == {"tag:database"}
    assert {rules[r.run_id] for r in behind} == {"max_concurrent_runs:max_concurrent_runs"}
    assert open_wait_rules() == {
        **{r.pk: ["tag:database"] for r in held},
        **{r.pk: ["max_concurrent_runs:max_concurrent_runs"] for r in behind},
    }
    reasons = dict(Run.objects.queued().values_list("run_id", "wait_reason"))
    assert reasons[held[0].run_id].startswith("tag database: limit is 0")


def test_under_the_default_coordinator_every_queued_run_launches_at_the_next_tick(
    no_broker, django_capture_on_commit_callbacks
):
    # Dagster's DefaultRunCoordinator has no queue: the run limit and the tag limit the
    # file also sets have no effect; the pool limit still holds steps (not the queue).
    load_config(
        {
            "run_coordinator": {
                "module": "dagster.core.run_coordinator",
                "class": "DefaultRunCoordinator",
            },
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": 1,
                    "tag_concurrency_limits": [{"key": "team", "limit": 1}],
                },
                "pools": {"default_limit": 1},
            },
        }
    )
    launched = [submit("quick", team="a").run_id for _ in range(3)]
    launched.append(submit("redshift_etl", team="a").run_id)

    with django_capture_on_commit_callbacks(execute=True):
        result = run_queue.tick()

    assert sorted(result.launched) == sorted(launched) == sorted(no_broker)
    assert Run.objects.filter(status=RunStatus.STARTING).count() == 4
    assert current_config().default_pool_limit == 1


def test_an_unlimited_queue_reads_only_the_runs_no_full_tag_holds_and_launches_the_same():
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": -1,
                "tag_concurrency_limits": [
                    {"key": "team", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                    {"key": "db", "value": "x", "limit": 2},
                ],
            }
        }
    )
    for i in range(30):
        submit(team=f"t{i % 3}", db="x" if i % 2 else "y")
    submit()  # no limited tag: launches at once
    for _ in range(6):
        expected = run_queue.evaluate(current_config()).decision.launch
        assert run_queue.tick().launched == expected
        # Every queued run now waits on a full team with that rule stored: a tick reads none.
        read = run_queue.evaluate(current_config(), complete=False)
        assert read.snapshot.queued == []
        assert read.queued_total == Run.objects.queued().count() > 0
        assert read.decision.launch == ()
        for run in Run.objects.queued():
            assert run.wait_rule.startswith("tag:team=") or run.wait_rule == "tag:db=x"
        # One run ends; the next tick reads the runs of its team again.
        ended = Run.objects.filter(status=RunStatus.STARTING).order_by("id").first()
        runs.transition([ended.run_id], RunStatus.STARTING, RunStatus.STARTED)
        runs.transition([ended.run_id], RunStatus.STARTED, RunStatus.SUCCESS)
        submit(team="t9")  # a new run is always read


def _end(run_id: str) -> None:
    runs.transition([run_id], RunStatus.STARTING, RunStatus.STARTED)
    runs.transition([run_id], RunStatus.STARTED, RunStatus.SUCCESS)


def test_an_unlimited_queue_reads_a_run_whose_priority_moved_it_out_of_a_full_tag():
    # The stored rule names the old priority's bucket, still full: the run is read and
    # launches, since the priority is the one tag of a queued run that changes.
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": -1,
                "tag_concurrency_limits": [
                    {
                        "key": "dagster/priority",
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": 1,
                    },
                ],
            }
        }
    )
    first = submit(**{"dagster/priority": "5"})
    moved = submit(**{"dagster/priority": "5"})
    assert run_queue.tick().launched == (first.run_id,)
    moved.refresh_from_db()
    assert moved.wait_rule == "tag:dagster/priority=5"
    runs.set_priority(moved.run_id, 3, actor="test")
    assert run_queue.tick().launched == (moved.run_id,)


def test_an_unlimited_queue_reads_a_run_whose_stored_rule_reads_like_a_full_tag_it_lacks():
    # Tag keys may contain "=": the buckets (a, b=c) and (a=b, c) have the same rule text.
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": -1,
                "tag_concurrency_limits": [
                    {"key": "a", "value": "b=c", "limit": 1},
                    {"key": "a=b", "value": "c", "limit": 1},
                ],
            }
        }
    )
    holder, held = submit(**{"a=b": "c"}), submit(**{"a=b": "c"})
    assert run_queue.tick().launched == (holder.run_id,)
    held.refresh_from_db()
    assert held.wait_rule == "tag:a=b=c"
    other = submit(a="b=c")
    assert run_queue.tick().launched == (other.run_id,)
    _end(holder.run_id)
    # (a, b=c) is full, (a=b, c) is not: `held` carries no full tag and launches.
    assert run_queue.tick().launched == (held.run_id,)


@pytest.mark.parametrize("seed", range(4))
def test_an_unlimited_queue_tick_launches_what_a_whole_decide_does_and_keeps_rules_true(
    seed,
):
    import random

    rng = random.Random(seed)
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": -1,
                "tag_concurrency_limits": [
                    {"key": "team", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                    {"key": "db", "value": "x", "limit": 2},
                    {"key": "region", "limit": 2},
                    {"key": "a", "value": "b=c", "limit": 1},
                    {"key": "a=b", "value": "c", "limit": 1},
                    {
                        "key": "dagster/priority",
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": 2,
                    },
                ],
            }
        }
    )

    def random_tags() -> dict[str, str]:
        tags = {"team": f"t{rng.randrange(3)}"}
        if rng.random() < 0.5:
            tags["db"] = rng.choice(("x", "y"))
        if rng.random() < 0.3:
            tags["region"] = "eu"
        if rng.random() < 0.3:
            tags.update(rng.choice(({"a": "b=c"}, {"a=b": "c"})))
        if rng.random() < 0.4:
            tags["dagster/priority"] = str(rng.randrange(3))
        return tags

    for _ in range(40):
        submit(**random_tags())
    for _ in range(12):
        expected = run_queue.evaluate(current_config()).decision
        assert run_queue.tick().launched == expected.launch
        whole = run_queue.evaluate(current_config())
        for run_id, rule in Run.objects.queued().values_list("run_id", "wait_rule"):
            # The text "tag:a=b=c" names two buckets, which the stored rule cannot tell
            # apart (before this shortcut too); the launches above are still exact.
            if rule != "tag:a=b=c":
                assert run_queue._still_holds(rule, whole.decision.verdicts[run_id])
        active = list(
            Run.objects.filter(status=RunStatus.STARTING).values_list("run_id", flat=True)
        )
        for run_id in rng.sample(active, min(len(active), rng.randrange(1, 4))):
            _end(run_id)
        queued = list(Run.objects.queued().values_list("run_id", flat=True))
        for run_id in rng.sample(queued, min(len(queued), 2)):
            runs.set_priority(run_id, rng.randrange(3), actor="test")
        for _ in range(rng.randrange(4)):
            submit(**random_tags())
