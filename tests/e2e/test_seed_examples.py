"""The seed guide's run tag limit examples, as written, with real backfills and a real sensor
executed by real Celery workers and beat: `dagster/backfill` limited to 10 across every
backfill, with `applyLimitPerUniqueValue: true` to 10 for each backfill, and
`dagster/sensor_name: my_cool_sensor` limited to 5."""

from __future__ import annotations

import pytest

from queueing.engine.types import FINISHED_STATUSES, RunStatus
from queueing.models import AutomationTick, Run
from queueing.services import backfills, config
from queueing.services.queries import filter_runs
from tests.support.workers import wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# The guide's dagster.yaml, character for character apart from the line breaks.
GUIDE_PLAIN = """\
run_queue:
  max_concurrent_runs: 15
  tag_concurrency_limits:
    - key: "database"
      value: "redshift" # applies when the `database` tag has a value of `redshift`
      limit: 4
    - key: "dagster/backfill" # applies when the `dagster/backfill` tag is present, regardless of value
      limit: 10
"""

# The per-backfill form the issue quotes: each backfill gets its own 10.
GUIDE_PER_BACKFILL = """\
run_queue:
  tag_concurrency_limits:
    - key: "dagster/backfill"
      value:
        applyLimitPerUniqueValue: true
      limit: 10
"""

PARTITIONS = 14
RUN_SECONDS = 5


def _load(document: str, max_concurrent_runs: int | None = None) -> None:
    config.load_yaml(document, actor="test")
    # Only the pace of the test is changed, by name, next to the guide's values.
    edits: dict = {"dequeue_interval_seconds": 1, "monitoring.poll_interval_seconds": 1}
    if max_concurrent_runs is not None:
        edits["max_concurrent_runs"] = max_concurrent_runs
    config.edit_settings(edits, actor="test", source="test")


def _two_backfills() -> list[str]:
    run_config = {"ops": {"partition_sleep": {"config": {"seconds": RUN_SECONDS}}}}
    return [
        backfills.launch(
            "daily_sleepy",
            start=start,
            end=end,
            run_config=run_config,
            actor="test",
        ).backfill_id
        for start, end in (("2024-01-01", "2024-01-14"), ("2024-02-01", "2024-02-14"))
    ]


def _peak(runs: list[Run]) -> int:
    """The most runs in progress at once: from launch (STARTING) to the end."""
    events = sorted(
        [(r.launched_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def _run_to_the_end(processes, ids: list[str]) -> dict[str, list[Run]]:
    processes.worker(concurrency=24)
    processes.beat()

    def finished() -> bool:
        return (
            not Run.objects.filter(backfill__backfill_id__in=ids)
            .exclude(status__in=list(FINISHED_STATUSES))
            .exists()
        )

    wait_until(finished, timeout=300, interval=1, message="both backfills to finish")
    result = {i: list(Run.objects.filter(backfill__backfill_id=i)) for i in ids}
    for backfill_runs in result.values():
        assert len(backfill_runs) == PARTITIONS
        assert {r.status for r in backfill_runs} == {RunStatus.SUCCESS}, processes.log("w1")[-3000:]
    return result


def test_the_plain_backfill_limit_holds_ten_runs_across_every_backfill(processes):
    _load(GUIDE_PLAIN)
    ids = _two_backfills()
    by_backfill = _run_to_the_end(processes, ids)
    every = [r for backfill_runs in by_backfill.values() for r in backfill_runs]
    assert _peak(every) == 10
    for i in ids:
        assert backfills.progress(backfills.get(i)).status == "COMPLETED_SUCCESS"


def test_the_per_value_backfill_limit_gives_each_backfill_its_own_ten(processes):
    # max_concurrent_runs 10 (the default) would hide the per-backfill limit: raised to 30.
    _load(GUIDE_PER_BACKFILL, max_concurrent_runs=30)
    ids = _two_backfills()
    by_backfill = _run_to_the_end(processes, ids)
    for backfill_runs in by_backfill.values():
        assert _peak(backfill_runs) == 10
    every = [r for backfill_runs in by_backfill.values() for r in backfill_runs]
    # Both backfills ran 10 at once at the same time.
    assert _peak(every) == 20


# The guide's sensor example: the runs of one sensor limited to 5.
GUIDE_SENSOR = """\
run_queue:
  tag_concurrency_limits:
    - key: "dagster/sensor_name"
      value: "my_cool_sensor"
      limit: 5
"""


def test_a_burst_of_twelve_sensor_runs_never_has_more_than_five_in_progress(processes):
    from queueing.services import automation

    _load(GUIDE_SENSOR)
    automation.set_status("sensor", "my_cool_sensor", running=True, actor="test")
    # The burst's runs sleep long enough for the limit to matter.
    processes.worker(concurrency=12, queues="control,runs,automation", BURST_RUN_SECONDS="3")
    processes.beat()

    def burst():
        return filter_runs(tags={"dagster/sensor_name": "my_cool_sensor"})

    wait_until(lambda: burst().count() == 12, timeout=120, message="the sensor's burst")
    wait_until(
        lambda: not burst().exclude(status__in=list(FINISHED_STATUSES)).exists(),
        timeout=300,
        interval=1,
        message="the burst to finish",
    )
    runs = list(burst())
    assert {r.status for r in runs} == {RunStatus.SUCCESS}, processes.log("w1")[-3000:]
    assert _peak(runs) == 5
    # Beat kept ticking the sensor: its cursor held it to one burst, its run keys once each.
    wait_until(
        lambda: AutomationTick.objects.filter(name="my_cool_sensor", outcome="SKIPPED").exists(),
        timeout=60,
        message="a later tick of the sensor",
    )
    assert burst().count() == 12
