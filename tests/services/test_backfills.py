"""Backfills: one queued run per partition through the submit's rules, cancel, re-run."""

from __future__ import annotations

import pytest

from queueing.engine.types import RunStatus
from queueing.errors import Conflict, InvalidInput
from queueing.models import AuditEntry, Backfill, Run
from queueing.services import backfills, run_queue, runs
from queueing.services.runs import QueueFull
from tests.services.helpers import load_config

pytestmark = pytest.mark.django_db


def test_a_backfill_queues_one_tagged_run_per_partition_in_order():
    backfill = backfills.launch(
        "daily_sleepy", start="2024-01-01", end="2024-01-05", tags={"team": "x"}, actor="ann"
    )
    created = list(Run.objects.filter(backfill=backfill).order_by("id"))
    assert [r.tags["dagster/partition"] for r in created] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    assert {r.tags["dagster/backfill"] for r in created} == {backfill.backfill_id}
    assert all(r.tags["team"] == "x" and r.status == RunStatus.QUEUED for r in created)
    assert all(r.steps.count() == 1 for r in created)
    assert AuditEntry.objects.filter(action="backfill.launch", actor="ann").exists()
    assert backfills.progress(backfill).status == "IN_PROGRESS"


def test_bad_requests_store_nothing_and_name_the_field():
    with pytest.raises(InvalidInput) as caught:
        backfills.launch("daily_sleepy", partitions=["1999-01-01"], actor="ann")
    assert caught.value.errors[0].path == "partitions"
    with pytest.raises(InvalidInput) as caught:
        backfills.launch("quick", all_partitions=True, actor="ann")
    assert "not partitioned" in caught.value.errors[0].message
    with pytest.raises(InvalidInput) as caught:
        backfills.launch(
            "daily_sleepy",
            partitions=["2024-01-01"],
            tags={"dagster/backfill": "mine"},
            actor="ann",
        )
    assert caught.value.errors[0].path == "tags.dagster/backfill"
    with pytest.raises(InvalidInput) as caught:
        backfills.launch(
            "daily_sleepy",
            partitions=["2024-01-01"],
            run_config={"ops": {"nope": {}}},
            actor="ann",
        )
    assert "nope" in str(caught.value)
    assert not Run.objects.exists() and not Backfill.objects.exists()


def test_a_backfill_that_would_pass_the_queue_cap_is_refused_whole():
    load_config({"concurrency_ui": {"max_queued_runs": 5}})
    runs.submit("quick", actor="ann")
    with pytest.raises(QueueFull, match="cannot take 5 more runs"):
        backfills.launch("daily_sleepy", start="2024-01-01", end="2024-01-05", actor="ann")
    assert Run.objects.count() == 1 and not Backfill.objects.exists()
    backfills.launch("daily_sleepy", start="2024-01-01", end="2024-01-04", actor="ann")
    assert Run.objects.queued().count() == 5


def test_a_partitioned_run_must_name_a_known_partition():
    with pytest.raises(InvalidInput, match="choose a partition"):
        runs.submit("daily_sleepy", actor="ann")
    with pytest.raises(InvalidInput, match="not partitioned"):
        runs.submit("quick", tags={"dagster/partition": "2024-01-01"}, actor="ann")
    run = runs.submit("daily_sleepy", tags={"dagster/partition": "2024-01-01"}, actor="ann")
    assert run.tags["dagster/partition"] == "2024-01-01"


def test_the_backfill_tag_limit_holds_its_queued_runs_and_the_page_says_why():
    load_config(
        {"run_queue": {"tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 2}]}}
    )
    backfill = backfills.launch("daily_sleepy", start="2024-01-01", end="2024-01-05", actor="ann")
    run_queue.tick(force=True)
    progress = backfills.progress(backfill, holding=True)
    assert progress.counts == {"STARTING": 2, "QUEUED": 3}
    ((rule, message, held, gate),) = progress.holding
    assert held == 3 and "dagster/backfill" in message and gate.message == message


def test_cancel_cancels_queued_runs_and_asks_running_ones_to_stop():
    load_config({"run_queue": {"max_concurrent_runs": 1}})
    backfill = backfills.launch("daily_sleepy", start="2024-01-01", end="2024-01-03", actor="ann")
    run_queue.tick(force=True)
    progress = backfills.cancel(backfill.backfill_id, actor="bob")
    assert progress.counts == {"CANCELING": 1, "CANCELED": 2}
    assert progress.status == "CANCELING"
    assert AuditEntry.objects.filter(action="backfill.cancel", actor="bob").exists()
    with pytest.raises(Conflict, match="already canceled"):
        backfills.cancel(backfill.backfill_id, actor="bob")


def test_rerun_failed_makes_a_new_backfill_of_the_failed_partitions():
    backfill = backfills.launch("odd_partitions_fail", all_partitions=True, actor="ann")
    with pytest.raises(Conflict, match="no failed"):
        backfills.rerun_failed(backfill.backfill_id, actor="ann")
    for run in backfill.runs.all():
        odd = int(run.tags["dagster/partition"][-1]) % 2
        run.status = RunStatus.FAILURE if odd else RunStatus.SUCCESS
        run.save()
    assert backfills.progress(backfill).status == "COMPLETED_FAILED"
    again = backfills.rerun_failed(backfill.backfill_id, actor="ann")
    assert again.parent == backfill
    assert again.partition_keys == ["p1", "p3", "p5", "p7", "p9"]
