"""Several processes ticking the run queue at once never exceed a limit or launch twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter

import pytest
from django.db import connections

from queueing.engine.types import ACTIVE_STATUSES, RunStatus
from queueing.models import Run, RunEvent
from queueing.services import runs
from tests.services.helpers import load_config
from tests.support.workers import ROOT, child_env

pytestmark = [pytest.mark.django_db(transaction=True)]

SECONDS = float(os.environ.get("DOUBLE_TICK_SECONDS", "15"))


def _run_tickers(tmp_path, count: int, finish: bool) -> list[int]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.tick_loop",
                str(SECONDS),
                "finish" if finish else "tick",
            ],
            cwd=str(ROOT),
            env=child_env(),
            stdout=open(tmp_path / f"tick{i}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for i in range(count)
    ]
    return [p.wait(SECONDS + 120) for p in procs]


def _observe(stop: threading.Event, samples: list[tuple[int, int]]) -> None:
    conn = connections.create_connection("default")
    active = tuple(s.value for s in ACTIVE_STATUSES)
    try:
        while not stop.is_set():
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE tags->>'db' IS NOT NULL) "
                    "FROM queueing_run WHERE status = ANY(%s)",
                    [list(active)],
                )
                samples.append(cursor.fetchone())
            stop.wait(0.05)
    finally:
        conn.close()


@pytest.mark.postgres
def test_three_tick_loops_racing_keep_every_limit_and_launch_each_run_once(tmp_path):
    load_config(
        {
            "run_queue": {
                "max_concurrent_runs": 4,
                "tag_concurrency_limits": [{"key": "db", "limit": 2}],
            }
        }
    )
    for i in range(300):
        runs.submit("quick", tags={"db": "x"} if i % 2 else {}, actor="test")
    samples: list[tuple[int, int]] = []
    stop = threading.Event()
    observer = threading.Thread(target=_observe, args=(stop, samples))
    observer.start()
    try:
        codes = _run_tickers(tmp_path, 3, finish=True)
    finally:
        stop.set()
        observer.join()
    assert codes == [0, 0, 0], (tmp_path / "tick0.log").read_text()[-2000:]
    assert len(samples) > 20
    assert max(total for total, _ in samples) <= 4
    assert max(db for _, db in samples) <= 2
    launches = Counter(RunEvent.objects.filter(kind="starting").values_list("run_id", flat=True))
    assert len(launches) >= 20, "the racing ticks barely launched anything"
    assert max(launches.values()) == 1
    assert Run.objects.filter(status=RunStatus.SUCCESS).count() == len(launches)
