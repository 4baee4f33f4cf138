"""`runs`, `explain`, `terminate` and `tick run_queue`: the queue as the operator sees it."""

from __future__ import annotations

import pytest

from queueing.engine.types import RunStatus
from queueing.models import Pool, Run
from queueing.services import config as config_service
from queueing.services import run_queue, runs

from .conftest import failed, ok, snapshot

ONE_AT_A_TIME = "run_queue:\n  max_concurrent_runs: 1\n"
FULL = "max_concurrent_runs: 1 of 1 runs in progress"


def submit(job: str = "quick", **tags: str) -> str:
    return ok(
        "submit", job, *[a for k, v in tags.items() for a in ("--tag", f"{k}={v}")]
    ).out.strip()


# --- runs ------------------------------------------------------------------------------


def test_runs_lists_queued_runs_in_the_order_the_next_tick_considers_them(db):
    low = submit(**{"dagster/priority": "-3"})
    first = submit()
    high = submit(**{"dagster/priority": "5"})
    second = submit()

    data = ok("runs", "--status", "QUEUED", "--json").json

    assert [r["run_id"] for r in data["runs"]] == [high, first, second, low]
    assert [r["queue"]["position"] for r in data["runs"]] == [1, 2, 3, 4]
    assert data["total"] == 4


def test_runs_without_a_filter_puts_queued_runs_first_in_queue_order(db):
    old_done = submit()
    runs.terminate(old_done, actor="test")
    first = submit()
    high = submit(**{"dagster/priority": "5"})
    new_done = submit()
    runs.terminate(new_done, actor="test")

    data = ok("runs", "--json").json

    assert [r["run_id"] for r in data["runs"]] == [high, first, new_done, old_done]
    assert [r["queue"] is None for r in data["runs"]] == [False, False, True, True]


def test_runs_after_a_tick_says_why_each_queued_run_waits(db):
    config_service.load_yaml(ONE_AT_A_TIME, actor="test")
    ids = [submit() for _ in range(3)]

    result = run_queue.tick()

    assert result.launched == (ids[0],)
    text = ok("runs", "--status", "QUEUED").out.splitlines()
    assert text == [
        f"{ids[1]}  QUEUED     quick                    p=0  #1 {FULL}",
        f"{ids[2]}  QUEUED     quick                    p=0  #2 {FULL}",
        "(2 of 2 runs)",
    ]
    data = ok("runs", "--status", "QUEUED", "--json").json
    assert [r["wait_reason"] for r in data["runs"]] == [FULL, FULL]
    assert [r["queue"]["blocking"]["rule"] for r in data["runs"]] == ["max_concurrent_runs"] * 2


def test_runs_filters_by_several_statuses_and_job(db):
    queued = submit("redshift_etl")
    launched = submit()
    run_queue.tick()  # launches both: the default allows 10
    waiting = submit()

    data = ok("runs", "--status", "STARTING", "--status", "QUEUED", "--json").json
    by_job = ok("runs", "--job", "redshift_etl", "--json").json

    assert [r["run_id"] for r in data["runs"]] == [waiting, launched, queued]
    assert [r["run_id"] for r in by_job["runs"]] == [queued]


def test_runs_limit_counts_all_runs_but_shows_only_some(db):
    ids = [submit() for _ in range(3)]

    data = ok("runs", "--limit", "2", "--json").json

    assert data["total"] == 3
    assert [r["run_id"] for r in data["runs"]] == ids[:2]


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_runs_refuses_a_limit_below_one(db, limit):
    assert failed("runs", "--limit", limit).error_lines == [
        f"--limit: {limit} is invalid: show at least 1 run"
    ]


# --- explain ---------------------------------------------------------------------------


@pytest.fixture
def crowded(db):
    """One redshift run launched; a second waits on runs, the database tag and the pool."""
    config_service.load_yaml(
        "run_queue:\n  max_concurrent_runs: 1\n"
        "  tag_concurrency_limits:\n    - key: database\n      limit: 1\n",
        actor="test",
    )
    Pool.objects.create(key="redshift", limit=1)
    launched = submit("redshift_etl")
    waiting = submit("redshift_etl")
    run_queue.tick()
    return launched, waiting


def test_explain_lists_every_gate_with_live_numbers(crowded):
    launched, waiting = crowded

    lines = ok("explain", waiting).out.splitlines()

    assert lines == [
        f"run {waiting} of redshift_etl: QUEUED",
        f"  position 1 in the queue, priority 0; waits: {FULL}",
        f"  [BLOCKED] {FULL}",
        f"  [BLOCKED] tag database: 1 of 1 runs, held by {launched[:8]}",
        f"  [BLOCKED] pool redshift is full: 1 step of started runs (holding or waiting) counts against its 1 slot; runs counted: {launched[:8]}",
    ]


def test_explain_shows_passing_gates_too(crowded):
    launched, waiting = crowded
    config_service.load_yaml("run_queue:\n  max_concurrent_runs: 5\n", actor="test")

    lines = ok("explain", waiting).out.splitlines()

    assert (
        lines[1]
        == "  position 1 in the queue, priority 0; waits: pool redshift is full: 1 step of started runs (holding or waiting) counts against its 1 slot; runs counted: "
        + launched[:8]
    )
    assert lines[2] == "  [ok     ] max_concurrent_runs: 1 of 5 runs in progress"
    assert lines[3].startswith("  [BLOCKED] pool redshift is full: 1 step")


def test_explain_json_has_the_gates_and_the_steps(crowded):
    _, waiting = crowded

    data = ok("explain", waiting, "--json").json

    assert data["queue"]["launches_next_tick"] is False
    assert [(g["rule"], g["count"], g["limit"], g["passed"]) for g in data["queue"]["gates"]] == [
        ("max_concurrent_runs", 1, 1, False),
        ("tag", 1, 1, False),
        ("pool", 1, 1, False),
    ]
    assert [s["step_key"] for s in data["steps"]] == [
        "extract_orders",
        "transform_orders",
        "load_orders",
    ]


def test_explain_a_run_that_would_launch(db):
    run_id = submit()

    lines = ok("explain", run_id).out.splitlines()

    assert lines[1] == "  position 1 in the queue, priority 0; launches at the next tick"
    assert lines[2] == "  [ok     ] max_concurrent_runs: 0 of 10 runs in progress"


def test_explain_a_run_that_is_not_queued_lists_its_steps(crowded):
    launched, _ = crowded

    lines = ok("explain", launched).out.splitlines()

    assert lines[0] == f"run {launched} of redshift_etl: STARTING"
    assert [line.split()[1] for line in lines[1:]] == [
        "extract_orders",
        "transform_orders",
        "load_orders",
    ]


def test_explain_an_unknown_run_exits_1(db):
    assert failed("explain", "nope").error_lines == ["run 'nope' does not exist"]


# --- terminate -------------------------------------------------------------------------


def test_terminate_cancels_a_queued_run(db):
    run_id = submit()

    result = ok("terminate", run_id)

    assert result.out.strip() == f"{run_id} CANCELED"
    assert Run.objects.get(run_id=run_id).status == RunStatus.CANCELED


def test_terminate_a_launched_run_then_force_it(db):
    run_id = submit()
    run_queue.tick()

    assert ok("terminate", run_id, "--json").json == {"run_id": run_id, "status": "CANCELING"}
    assert failed("terminate", run_id).error_lines == [
        "the run is already being canceled; use force to mark it canceled now"
    ]
    assert ok("terminate", run_id, "--force").out.strip() == f"{run_id} CANCELED"


def test_terminate_a_finished_run_exits_1_and_changes_nothing(db):
    run_id = submit()
    runs.terminate(run_id, actor="test")
    check = snapshot()

    result = failed("terminate", run_id)

    assert result.error_lines == [
        f"run {run_id} is CANCELED: only queued or in-progress runs can be terminated"
    ]
    check()


def test_terminate_an_unknown_run_exits_1(unchanged):
    assert failed("terminate", "nope").error_lines == ["run 'nope' does not exist"]
    unchanged()


# --- tick ------------------------------------------------------------------------------


def test_tick_run_queue_launches_what_the_limits_allow(db):
    config_service.load_yaml(ONE_AT_A_TIME, actor="test")
    ids = [submit() for _ in range(2)]

    data = ok("tick", "run_queue", "--json").json
    text = ok("tick", "run_queue").out

    assert data["launched"] == [ids[0]]
    assert (data["queued"], data["active"]) == (1, 1)
    assert text.startswith("launched 0 run(s); 1 still queued, 1 in progress")
    assert Run.objects.get(run_id=ids[1]).wait_reason == FULL


def test_tick_run_monitoring_runs_once(db):
    data = ok("tick", "run_monitoring", "--json").json

    assert data["ran"] is True
    assert data["actions"] == []
