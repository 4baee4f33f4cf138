"""Start estimates (issue 18): how long estimating the whole queue takes, and how close the
estimate made at enqueue comes to the real start. Prints the figures and adds them to
bench/results.json (rows "start_estimates_ms" and "start_estimate_error_s").

    DATABASE_URL=postgres://…/DB python bench/estimates.py speed
    DATABASE_URL=postgres://…/DB CELERY_BROKER_URL=redis://…/N python bench/estimates.py accuracy

Both EMPTY the database of DATABASE_URL first (every queueing table): give it a scratch one.
`speed`: the queued runs of the shared bench workload (ten tag limits, five pools, 25 runs
in progress, a history of successful runs for every job): reading the queue
(`run_queue.evaluate`) and the engine's incremental replay of its first 500, 1,000 and 2,000
runs in queue order (`--sizes`), each timed `--reps` times (once above 2,000), with the
plain replay once at 500 runs for comparison (and whether both agree). `accuracy`: real Celery worker and beat processes execute a recorded mixed
workload of the demo jobs (submitted in bursts, `max_concurrent_runs: 3`); right after each
submit the estimate of that run is taken as a page would (`services.estimates.current`);
once every run finished, each estimate is compared with the real start (launch time) for
the runs that started within 30 minutes of their submit. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cases import configure, create_queued, reset, setup_django  # noqa: E402
from workload import stats  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
# The recorded workload: (seconds after the start, demo job) in bursts.
WORKLOAD_SEED = 18
DEMO_JOBS = ["quick", "redshift_etl", "api_ingest", "parallel_fanout", "snowflake_sync"]


def _save(rows: list[dict]) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    names = {(r["figure"], r.get("case")) for r in rows}
    data["rows"] = [r for r in data.get("rows", []) if (r["figure"], r.get("case")) not in names]
    data["rows"].extend(rows)
    RESULTS.write_text(json.dumps(data, indent=1, default=str) + "\n")


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    reset()


def speed(reps: int, sizes: list[int]) -> list[dict]:
    from django.db import connection
    from django.utils import timezone

    from queueing.engine.estimates import replay_events, replay_ticks
    from queueing.engine.gates import queue_order
    from queueing.engine.types import RunStatus
    from queueing.models import Run
    from queueing.services import config, estimates, run_queue

    _migrate()
    configure(max_concurrent_runs=25)
    run_queue.send_launches = lambda ids: None  # launches go nowhere: nothing executes them
    create_queued(max(sizes))
    # A history: 20 successful runs of every job of the workload, 1 to 10 minutes each.
    rng = random.Random(WORKLOAD_SEED)
    end = timezone.now() - timedelta(hours=1)
    jobs = sorted(set(Run.objects.values_list("job_name", flat=True)))
    history = [
        Run(
            job_name=job,
            location_name="queueing.demo.definitions",
            status=RunStatus.SUCCESS,
            plan={},
            started_at=end - timedelta(seconds=rng.uniform(60, 600)),
            ended_at=end,
        )
        for job in jobs
        for _ in range(20)
    ]
    Run.objects.bulk_create(history)
    run_queue.tick()  # 25 runs in progress
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    current = config.current_config()
    reading = []
    for _ in range(reps):
        started = time.perf_counter()
        evaluation = run_queue.evaluate(current)
        reading.append((time.perf_counter() - started) * 1000)
    snapshot = evaluation.snapshot
    job_of = dict(Run.objects.values_list("run_id", "job_name"))
    medians, fallback = estimates.durations()
    tick = current.dequeue_interval_seconds
    ordered = queue_order(snapshot.queued)
    rows = [
        {
            "figure": "start_estimates_read_ms",
            "case": "estimates",
            "db": connection.vendor,
            "queued": len(ordered),
            **stats(reading),
            "unit": "ms",
        }
    ]
    print(
        f"start estimates: reading the queue of {len(ordered)} runs ({connection.vendor}) "
        f"median {statistics.median(reading):.0f} ms"
    )
    for size in sizes:
        part = replace(snapshot, queued=tuple(ordered[:size]))
        samples = []
        for _ in range(reps if size <= 2000 else 1):
            started = time.perf_counter()
            found = replay_events(part, job_of, medians, fallback, tick)
            samples.append((time.perf_counter() - started) * 1000)
        kinds = Counter(e.kind for e in found.values())
        row = {
            "figure": "start_estimates_replay_ms",
            "case": f"estimates_{size}",
            "queued": len(part.queued),  # fewer than `size` when the tick launched some
            **stats(samples),
            "kinds": dict(kinds),
            "unit": "ms",
        }
        line = (
            f"start estimates, incremental replay of {size} queued runs: median "
            f"{row['median']:.0f} ms (min {row['min']:.0f}, max {row['max']:.0f}); {dict(kinds)}"
        )
        if size <= 500:
            started = time.perf_counter()
            plain = replay_ticks(part, job_of, medians, fallback, tick, max_rounds=10**6)
            row["plain_replay_ms"] = (time.perf_counter() - started) * 1000
            row["plain_agrees"] = plain == found
            line += f"; the plain replay {row['plain_replay_ms']:.0f} ms, agrees: {plain == found}"
        print(line)
        rows.append(row)
    return rows


def _workload(seconds: int, runs: int) -> list[tuple[float, str]]:
    """Bursts of submits: a third of the runs at the start, the rest in bursts."""
    rng = random.Random(WORKLOAD_SEED)
    times = [0.0] * (runs // 3)
    while len(times) < runs:
        at = rng.uniform(5, seconds)
        times += [at] * rng.randint(2, 5)
    return [(t, rng.choice(DEMO_JOBS)) for t in sorted(times[:runs])]


def accuracy(seconds: int, runs: int, warmup: int) -> list[dict]:
    import yaml
    from django.db import connection
    from django.utils import timezone

    from queueing.engine.types import FINISHED_STATUSES
    from queueing.models import Run
    from queueing.services import config, estimates
    from queueing.services import runs as run_service

    _migrate()
    config.load_yaml(
        yaml.safe_dump(
            {
                "run_queue": {"max_concurrent_runs": 3, "dequeue_interval_seconds": 1},
                "run_monitoring": {"poll_interval_seconds": 2},
            }
        ),
        actor="bench",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DEMO_SLEEP_SCALE": "0.3"}
    log = open(ROOT / "var" / "bench-estimates-workers.log", "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "concurrency_ui",
                "worker",
                "-Q",
                "runs,control",
                "-c",
                "6",
                "-P",
                "threads",
                "-n",
                "bench-estimates@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "concurrency_ui",
                "beat",
                "-s",
                str(ROOT / "var" / "bench-estimates-beat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        # Warm-up: every demo job once, so each has a typical duration.
        first = [run_service.submit(job, actor="bench").run_id for job in DEMO_JOBS * warmup]
        _wait(
            lambda: (
                Run.objects.filter(run_id__in=first, status__in=FINISHED_STATUSES).count()
                == len(first)
            ),
            600,
        )
        made: dict[str, float | None] = {}
        kinds: dict[str, str] = {}
        start = time.monotonic()
        for at, job in _workload(seconds, runs):
            time.sleep(max(0.0, at - (time.monotonic() - start)))
            run = run_service.submit(job, actor="bench")
            found = estimates.current().get(run.run_id)
            made[run.run_id] = None if found is None else found.starts_in
            kinds[run.run_id] = "missing" if found is None else found.kind
        _wait(
            lambda: (
                Run.objects.filter(run_id__in=list(made), status__in=FINISHED_STATUSES).count()
                == len(made)
            ),
            1800,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    errors = []
    for run in Run.objects.filter(run_id__in=list(made)):
        if run.launched_at is None or made[run.run_id] is None:
            continue
        real = (run.launched_at - run.enqueued_at).total_seconds()
        if real <= 30 * 60:
            errors.append(abs(made[run.run_id] - real))
    errors.sort()
    p90 = errors[int(0.9 * (len(errors) - 1))] if errors else float("nan")
    median = statistics.median(errors) if errors else float("nan")
    waits = [
        (r.launched_at - r.enqueued_at).total_seconds()
        for r in Run.objects.filter(run_id__in=list(made), launched_at__isnull=False)
    ]
    print(
        f"start estimate accuracy, {len(errors)} runs of {len(made)} ({connection.vendor}, real "
        f"workers, demo jobs, max_concurrent_runs 3): absolute error median {median:.1f} s, "
        f"p90 {p90:.1f} s; real waits median {statistics.median(waits):.1f} s, max "
        f"{max(waits):.1f} s; estimate kinds {sorted(set(kinds.values()))}"
    )
    del timezone
    return [
        {
            "figure": "start_estimate_error_s",
            "case": "estimates",
            "db": connection.vendor,
            "runs": len(errors),
            "median": median,
            "p90": p90,
            "min": errors[0] if errors else None,
            "max": errors[-1] if errors else None,
            "n": len(errors),
            "real_wait_median_s": statistics.median(waits),
            "real_wait_max_s": max(waits),
            "unit": "s",
        }
    ]


def _wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the workload to finish")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["speed", "accuracy"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sizes", default="500,1000,2000")
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("SUBMIT_RATE", "off")
    setup_django()
    if args.mode == "speed":
        rows = speed(args.reps, [int(size) for size in args.sizes.split(",")])
    else:
        rows = accuracy(args.seconds, args.runs, args.warmup)
    _save(rows)


if __name__ == "__main__":
    main()
