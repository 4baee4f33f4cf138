"""End-to-end latency with real Celery workers, as `manage.py dev` runs them (no beat).

Used by `bench/cases.py latency` (make bench) and `bench/compare_dagster.py`. The workers
share the bench database and broker of the calling process (its DATABASE_URL and
CELERY_BROKER_URL). Beat is not started: every run here is launched by the tick its submit
or the end of the previous run asked for (`services.tick_requests`), never by the periodic
tick, which the default dequeue interval (5 s) would make obvious in the figures.

Times come from the database's stamps (`started_at`, `ended_at`, written by the worker on
this machine) against the submitting process's clock just before `runs.submit`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The one-step demo job with its nap scaled to nothing: a no-op op.
NOOP_JOB = "quick"


class Workers:
    """A control worker (ticks) and `runs` workers (runs), started and stopped here."""

    def __init__(self, run_workers: int = 1, concurrency: int = 16, log_dir: Path | None = None):
        self.run_workers = run_workers
        self.concurrency = concurrency
        self.log_dir = log_dir or ROOT / "var" / "bench"
        self.procs: list[subprocess.Popen] = []

    def _start(self, name: str, queue: str, pool: list[str]) -> None:
        env = {**os.environ, "DEMO_SLEEP_SCALE": "0", "PYTHONUNBUFFERED": "1"}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115
        command = [
            sys.executable, "-m", "celery", "-A", "concurrency_ui", "worker", "-Q", queue,
            *pool, "-n", f"{name}@%h", "-l", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.procs.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        )

    def __enter__(self) -> Workers:
        self._start("bench-control", "control", ["-P", "solo"])
        for i in range(self.run_workers):
            self._start(f"bench-runs{i}", "runs", ["-P", "threads", "-c", str(self.concurrency)])
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def _stamps(run_id: str) -> tuple[str, float | None, float | None]:
    from queueing.models import Run

    status, started, ended = Run.objects.filter(run_id=run_id).values_list(
        "status", "started_at", "ended_at"
    )[0]
    return (
        status,
        None if started is None else started.timestamp(),
        None if ended is None else ended.timestamp(),
    )


def finished(run_id: str) -> tuple[str, float | None, float | None] | None:
    from queueing.engine.types import FINISHED_STATUSES

    stamps = _stamps(run_id)
    return stamps if stamps[0] in FINISHED_STATUSES else None


def submit_one(job: str = NOOP_JOB, timeout: float = 60) -> dict[str, float]:
    """Submit one run and wait for its end: submit → STARTED and submit → SUCCESS, in ms."""
    from queueing.services import runs

    began = time.time()
    run_id = runs.submit(job, actor="bench").run_id
    status, started, ended = wait_for(lambda: finished(run_id), timeout, f"run {run_id}")
    if status != "SUCCESS" or started is None or ended is None:
        raise RuntimeError(f"run {run_id} ended {status}")
    return {"started_ms": (started - began) * 1000, "success_ms": (ended - began) * 1000}


def handover(job: str = NOOP_JOB, timeout: float = 60) -> float:
    """With max_concurrent_runs 1 (set by the caller): two runs submitted together; the
    time from the first one's end to the second one's start, in ms."""
    from queueing.services import runs

    first = runs.submit(job, actor="bench").run_id
    second = runs.submit(job, actor="bench").run_id
    _, _, ended = wait_for(lambda: finished(first), timeout, f"run {first}")
    _, started, _ = wait_for(lambda: finished(second), timeout, f"run {second}")
    assert ended is not None and started is not None
    return (started - ended) * 1000


def burst(count: int, job: str = NOOP_JOB, timeout: float = 900) -> dict[str, float]:
    """Submit `count` runs at once and wait for all: wall time (s) and runs/s."""
    from queueing.engine.types import FINISHED_STATUSES
    from queueing.models import Run
    from queueing.services import runs

    began = time.time()
    ids = [runs.submit(job, actor="bench").run_id for _ in range(count)]

    def all_done() -> bool:
        return (
            Run.objects.filter(run_id__in=ids, status__in=list(FINISHED_STATUSES)).count() == count
        )

    wait_for(all_done, timeout, f"{count} runs", every=0.1)
    last = max(
        e.timestamp() for e in Run.objects.filter(run_id__in=ids).values_list("ended_at", flat=True)
    )
    failed = Run.objects.filter(run_id__in=ids).exclude(status="SUCCESS").count()
    if failed:
        raise RuntimeError(f"{failed} of {count} runs did not succeed")
    wall = last - began
    return {"wall_s": wall, "runs_per_s": count / wall}
