"""Pure parts of the simulator and the doctor (no database)."""

from __future__ import annotations

from queueing.engine.config.model import InstanceConfig
from queueing.engine.doctor import diagnose, worst
from queueing.engine.doctor.facts import DoctorFacts, QueuedRun
from queueing.engine.pools import PoolRow, PoolUsage
from queueing.engine.simulate import Proposal, QueueState, simulate
from queueing.engine.types import QueueSettings, RunInfo, RunStatus, TagLimit


def _run(n: int, status: RunStatus = RunStatus.QUEUED, **tags: str) -> RunInfo:
    return RunInfo(run_id=f"run-{n}", status=status, tags=tags, created_seq=n)


def _state(queued=(), active=(), settings=None, rows=None, usage=None, default=None):
    return QueueState(
        settings=settings or QueueSettings(),
        default_pool_limit=default,
        queued=list(queued),
        active=list(active),
        pool_rows=rows or {},
        pool_usage=usage or {},
        now=1000.0,
    )


def test_lowering_a_tag_limit_reports_the_running_runs_above_it_and_launches_nothing_more():
    active = [_run(i, RunStatus.STARTED, database="redshift") for i in range(3)]
    queued = [_run(10, database="redshift"), _run(11, database="snowflake")]
    lowered = QueueSettings(tag_limits=(TagLimit("database", 1, value="redshift"),))

    result = simulate(_state(queued, active), Proposal(settings=lowered))

    assert [(o.rule, o.subject, o.count, o.limit) for o in result.over_limit] == [
        ("tag", "database=redshift", 3, 1)
    ]
    assert result.over_limit[0].holders == ("run-0", "run-1", "run-2")
    assert result.current.launch == ("run-10", "run-11")
    assert result.launch == ("run-11",)
    assert result.no_longer_launched == ("run-10",)
    assert [(b.subject, b.waiting_now, b.waiting_after) for b in result.bottlenecks] == [
        ("database=redshift", 0, 1)
    ]


def test_the_diff_against_today_lists_runs_that_start_stop_starting_or_change_rule():
    # Today: database=redshift is at 1 of 1, so run-10 and run-13 wait on the tag and
    # run-11 and run-12 start (3 of 4 places then taken).
    active = [_run(1, RunStatus.STARTED, database="redshift")]
    queued = [_run(10, database="redshift"), _run(11), _run(12), _run(13, database="redshift")]
    today = QueueSettings(
        max_concurrent_runs=4, tag_limits=(TagLimit("database", 1, value="redshift"),)
    )
    # Proposed: no tag limit but max_concurrent_runs 2: run-10 takes the last place.
    proposed = QueueSettings(max_concurrent_runs=2)

    result = simulate(_state(queued, active, settings=today), Proposal(settings=proposed))

    assert result.current.launch == ("run-11", "run-12")
    assert result.launch == ("run-10",)
    changes = {c.run_id: c for c in result.changes}
    assert list(changes) == ["run-10", "run-11", "run-12", "run-13"]
    assert changes["run-10"].today.subject == "database=redshift"
    assert changes["run-10"].proposed is None
    assert changes["run-11"].today is None
    assert changes["run-11"].proposed.rule == "max_concurrent_runs"
    # run-13 waits today and after, on another rule: a changed wait reason.
    assert changes["run-13"].today.rule == "tag"
    assert changes["run-13"].proposed.rule == "max_concurrent_runs"


def test_a_wait_on_the_same_rule_with_other_numbers_is_no_change():
    queued = [_run(10), _run(11)]
    active = [_run(1, RunStatus.STARTED)]

    result = simulate(
        _state(queued, active, settings=QueueSettings(max_concurrent_runs=1)),
        Proposal(settings=QueueSettings(max_concurrent_runs=0)),
    )

    assert result.changes == ()


def test_a_new_default_limit_moves_only_the_pools_that_follow_it():
    from queueing.engine.simulate import next_tick_snapshot

    rows = {"a": PoolRow("a", 1, follows_default=True), "b": PoolRow("b", 1)}
    state = _state(rows=rows, usage={"a": PoolUsage(1, ("x",))}, default=1)

    snapshot = next_tick_snapshot(
        state, Proposal(change_default_pool_limit=True, default_pool_limit=4)
    )

    assert snapshot.pools["a"].limit == 4 and snapshot.pools["a"].pending == 1
    assert snapshot.pools["b"].limit == 1


def test_the_worst_finding_decides_the_status():
    facts = DoctorFacts(
        now=1000.0,
        config=InstanceConfig(queue=QueueSettings(max_concurrent_runs=0)),
        instance_id="abc",
        queued=[QueuedRun("run-1", "quick", 0, {}, frozenset(), enqueued_at=990.0)],
    )

    findings = diagnose(facts)

    assert worst(findings) == "problem"
    assert worst([f for f in findings if f.status == "ok"]) == "ok"


def test_a_tag_limit_replaced_by_a_later_one_is_reported_as_never_applying():
    # The run queue counts `team` against the last listed key limit only (TagCounter), so
    # the first one can never hold a run: the doctor says so instead of counting it.
    config = InstanceConfig(
        queue=QueueSettings(tag_limits=(TagLimit("team", 1), TagLimit("team", 2)))
    )
    facts = DoctorFacts(
        now=1000.0,
        config=config,
        instance_id="x",
        queued=[
            QueuedRun("q1", "job", 0, {"team": "a"}, frozenset(), enqueued_at=990.0),
        ],
        job_tag_keys=frozenset(),
    )

    finding = next(f for f in diagnose(facts) if f.check == "tag_limits")

    assert finding.status == "warning"
    assert finding.evidence == (
        "tag limit team ≤ 1 never applies: a later limit of the same kind on team replaces "
        "it (the last listed wins); remove one of them",
    )
