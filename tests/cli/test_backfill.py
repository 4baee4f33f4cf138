"""`manage.py backfill launch|list|show|cancel|rerun`."""

from __future__ import annotations

from queueing.models import Backfill, Run

from .conftest import failed, ok


def test_launch_prints_the_id_and_queues_one_run_per_partition(db):
    result = ok(
        "backfill",
        "launch",
        "daily_sleepy",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-03",
        "--tag",
        "team=data",
    )
    backfill = Backfill.objects.get()
    assert result.out.strip() == backfill.backfill_id
    assert [r.tags["team"] for r in Run.objects.filter(backfill=backfill)] == ["data"] * 3
    data = ok("backfill", "launch", "odd_partitions_fail", "--partitions", "p1,p2", "--json").json
    assert data["partitions"] == 2 and data["status"] == "IN_PROGRESS"


def test_list_show_cancel_and_rerun(db):
    backfill_id = ok("backfill", "launch", "odd_partitions_fail", "--all").out.strip()
    listed = ok("backfill", "list", "--json").json
    assert [b["backfill_id"] for b in listed] == [backfill_id]
    shown = ok("backfill", "show", backfill_id, "--json").json
    assert [r["partition"] for r in shown["runs"]] == [f"p{i}" for i in range(10)]
    text = ok("backfill", "show", backfill_id).out
    assert "p9" in text and "QUEUED" in text
    assert "CANCELED" in ok("backfill", "cancel", backfill_id).out
    rerun_id = ok("backfill", "rerun", backfill_id).out.strip()
    assert Backfill.objects.get(backfill_id=rerun_id).parent.backfill_id == backfill_id


def test_bad_requests_exit_1_naming_the_field_and_change_nothing(db, unchanged):
    assert failed("backfill", "launch", "daily_sleepy").error_lines[0].startswith("partitions:")
    assert (
        "no partition '1999-01-01'"
        in failed("backfill", "launch", "daily_sleepy", "--partitions", "1999-01-01").err
    )
    assert failed("backfill", "launch", "quick", "--all").err.startswith("job:")
    assert failed("backfill", "launch", "daily_sleepy", "--all", "--tag", "novalue").err.startswith(
        "--tag:"
    )
    assert "does not exist" in failed("backfill", "show", "nosuchid").err
    unchanged()
