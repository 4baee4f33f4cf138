"""Partition keys at a given moment, and what a backfill request selects (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queueing.engine.partitions import (
    MAX_BACKFILL_PARTITIONS,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    PartitionError,
    StaticPartitionsDefinition,
    backfill_status,
    partition_tag_errors,
    select_partitions,
)

NOW = datetime(2024, 1, 5, 10, 30, tzinfo=UTC)


def test_a_day_exists_once_it_has_ended_and_end_offset_adds_the_current_one():
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    assert daily.partition_keys(NOW) == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    ahead = DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)
    assert ahead.partition_keys(NOW)[-1] == "2024-01-05"
    behind = DailyPartitionsDefinition(start_date="2024-01-01", end_offset=-1)
    assert behind.partition_keys(NOW)[-1] == "2024-01-03"


def test_days_follow_the_timezone():
    # 10:30 UTC is already the 6th in Tokyo (UTC+9 = 19:30 on the 5th): the 5th has not ended.
    tokyo = DailyPartitionsDefinition(start_date="2024-01-01", timezone="Asia/Tokyo")
    assert tokyo.partition_keys(NOW)[-1] == "2024-01-04"
    late = datetime(2024, 1, 5, 16, 0, tzinfo=UTC)  # 01:00 on the 6th in Tokyo
    assert tokyo.partition_keys(late)[-1] == "2024-01-05"


def test_hourly_and_monthly_keys():
    hourly = HourlyPartitionsDefinition(start_date="2024-01-05-08:00")
    assert hourly.partition_keys(NOW) == ["2024-01-05-08:00", "2024-01-05-09:00"]
    monthly = MonthlyPartitionsDefinition(start_date="2023-11-01")
    assert monthly.partition_keys(NOW) == ["2023-11-01", "2023-12-01"]


def test_bad_definitions_name_the_problem():
    with pytest.raises(PartitionError, match="start_date"):
        DailyPartitionsDefinition(start_date="yesterday")
    with pytest.raises(PartitionError, match="unknown timezone"):
        DailyPartitionsDefinition(start_date="2024-01-01", timezone="Mars/Olympus")
    with pytest.raises(PartitionError, match="duplicate"):
        StaticPartitionsDefinition(["a", "a"])
    with pytest.raises(PartitionError, match="list"):
        StaticPartitionsDefinition("abc")


def test_the_partition_tag_is_required_known_and_only_for_partitioned_jobs():
    static = StaticPartitionsDefinition(["eu", "us"])
    assert partition_tag_errors("j", static, {"dagster/partition": "eu"}, NOW) == []
    (missing,) = partition_tag_errors("j", static, {}, NOW)
    assert missing.path == "tags.dagster/partition" and "choose a partition" in missing.message
    (unknown,) = partition_tag_errors("j", static, {"dagster/partition": "asia"}, NOW)
    assert "no partition 'asia'" in unknown.message
    (plain,) = partition_tag_errors("j", None, {"dagster/partition": "eu"}, NOW)
    assert "not partitioned" in plain.message


def test_select_a_list_a_range_or_all_in_definition_order():
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    keys, errors = select_partitions("j", daily, NOW, keys=["2024-01-03", "2024-01-01"])
    assert (keys, errors) == (["2024-01-01", "2024-01-03"], [])
    keys, _ = select_partitions("j", daily, NOW, start="2024-01-02", end="2024-01-04")
    assert keys == ["2024-01-02", "2024-01-03", "2024-01-04"]
    keys, _ = select_partitions("j", daily, NOW, all_keys=True)
    assert len(keys) == 4


@pytest.mark.parametrize(
    ("kwargs", "path", "words"),
    [
        ({}, "partitions", "exactly one"),
        ({"keys": ["x"], "all_keys": True}, "partitions", "exactly one"),
        ({"keys": ["2030-01-01"]}, "partitions", "no partition '2030-01-01'"),
        ({"start": "2024-01-02"}, "to", "both from and to"),
        ({"start": "2024-01-03", "end": "2024-01-01"}, "from", "comes after"),
        ({"keys": []}, "partitions", "empty"),
    ],
)
def test_bad_selections_name_the_field(kwargs, path, words):
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    keys, errors = select_partitions("j", daily, NOW, **kwargs)
    assert keys == []
    assert errors[0].path == path and words in errors[0].message


def test_a_backfill_has_a_size_limit_and_needs_a_partitioned_job():
    hourly = HourlyPartitionsDefinition(start_date="2020-01-01-00:00")
    _, errors = select_partitions("j", hourly, NOW, all_keys=True)
    assert f"at most {MAX_BACKFILL_PARTITIONS}" in errors[0].message
    _, errors = select_partitions("j", None, NOW, all_keys=True)
    assert "not partitioned" in errors[0].message


def test_backfill_status_follows_its_runs():
    assert backfill_status({"QUEUED": 3, "SUCCESS": 1}, False) == "IN_PROGRESS"
    assert backfill_status({"SUCCESS": 4}, False) == "COMPLETED_SUCCESS"
    assert backfill_status({"SUCCESS": 3, "FAILURE": 1}, False) == "COMPLETED_FAILED"
    assert backfill_status({"CANCELING": 1, "CANCELED": 3}, True) == "CANCELING"
    assert backfill_status({"CANCELED": 4}, True) == "CANCELED"
