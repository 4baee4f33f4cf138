"""One benchmark case per call, in its own process, against the database of `DATABASE_URL`.

`python bench/cases.py CASE --out FILE [options]` writes {"rows": [...], "notes": [...]}:
each row is one figure (`figure`, the parameters that name it, `median`/`min`/`max`, `n`,
`unit`). `bench/run.py` prepares the database (migrated, empty) and collects the rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import (  # noqa: E402
    LAUNCH_PER_TICK,
    POOLS,
    instance_document,
    interval_overlap,
    make_runs,
    stats,
)

ROWS: list[dict[str, Any]] = []
NOTES: list[str] = []


def row(figure: str, samples: list[float], unit: str, **params: Any) -> dict[str, Any]:
    entry = {"figure": figure, **params, **stats(samples), "unit": unit}
    ROWS.append(entry)
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    print(
        f"  {figure} [{shown}] median {entry['median']:.2f} {unit} "
        f"(min {entry['min']:.2f}, max {entry['max']:.2f}, n={entry['n']})",
        flush=True,
    )
    return entry


# --- database set-up ------------------------------------------------------------------


def setup_django() -> None:
    # The bench serves no static file; whitenoise's "no directory" warning is noise here.
    warnings.filterwarnings("ignore", message="No directory at")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concurrency_ui.settings")
    # The benchmarks measure the submit path, not the per-user submit quota.
    os.environ.setdefault("SUBMIT_RATE", "off")
    import django

    django.setup()


def db_kind() -> str:
    from django.db import connection

    return connection.vendor


def reset() -> None:
    """Empty every table the benchmarks write (the schema stays migrated)."""
    from django.apps import apps
    from django.db import connection

    tables = [m._meta.db_table for m in apps.get_app_config("queueing").get_models()]
    tables.append("knox_authtoken")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("PRAGMA foreign_keys = ON")


def analyze() -> None:
    """Refresh planner statistics after a bulk load, as autovacuum would soon do."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def configure(max_concurrent_runs: int = LAUNCH_PER_TICK) -> None:
    import yaml

    from queueing.services import config, pools

    config.load_yaml(yaml.safe_dump(instance_document(max_concurrent_runs)), actor="bench")
    for key, limit in POOLS.items():
        pools.set_limit(key, limit, actor="bench")


def create_queued(n: int, start: int = 0) -> None:
    """Bulk-insert `n` queued runs of the shared workload (no plan: the tick never reads it)."""
    from django.utils import timezone

    from queueing.engine.types import RunStatus
    from queueing.models import Run

    now = timezone.now()
    batch = []
    for spec in make_runs(n, start=start):
        batch.append(
            Run(
                job_name=spec["job"],
                location_name="queueing.demo.definitions",
                status=RunStatus.QUEUED,
                tags=spec["tags"],
                priority=spec["priority"],
                plan={},
                pool_summary=spec["pool_summary"],
                enqueued_at=now,
            )
        )
        if len(batch) == 5000:
            Run.objects.bulk_create(batch)
            batch = []
    if batch:
        Run.objects.bulk_create(batch)


def finish_started() -> int:
    """Runs complete as soon as they launch: every STARTING run becomes SUCCESS."""
    from django.utils import timezone

    from queueing.engine.types import RunStatus
    from queueing.models import Run

    now = timezone.now()
    return Run.objects.filter(status=RunStatus.STARTING).update(
        status=RunStatus.SUCCESS, ended_at=now, updated_at=now
    )


def purge_broker() -> None:
    """Drop the launch messages the ticks sent (nobody consumes them in a benchmark)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()
    else:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for path in folder.glob("*"):
            path.unlink(missing_ok=True)


# --- cases ----------------------------------------------------------------------------


def case_engine(args: argparse.Namespace) -> None:
    """The pure `decide` on a snapshot built in memory: no database."""
    from queueing.engine.config.reader import parse_instance_dict
    from queueing.engine.run_queue import decide
    from queueing.engine.types import PoolState, PoolSummary, QueueSnapshot, RunInfo, RunStatus

    settings = parse_instance_dict(instance_document()).config.queue
    pools = {key: PoolState(key=key, limit=limit) for key, limit in POOLS.items()}
    for size in args.sizes:
        queued = []
        for seq, spec in enumerate(make_runs(size), start=1):
            summary = spec["pool_summary"]
            queued.append(
                RunInfo(
                    run_id=f"run-{seq:08d}",
                    status=RunStatus.QUEUED,
                    tags=spec["tags"],
                    created_seq=seq,
                    priority=spec["priority"],
                    pool_summary=None
                    if summary is None
                    else PoolSummary(
                        root_pool_counts=summary["root_pool_counts"],
                        all_pools=frozenset(summary["all_pools"]),
                        has_unconstrained_root=summary["has_unconstrained_root"],
                    ),
                )
            )
        snapshot = QueueSnapshot(settings=settings, queued=queued, active=[], pools=pools, now=0.0)
        reps = args.reps if size <= 10_000 else max(3, args.reps // 2)
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            decision = decide(snapshot)
            samples.append((time.perf_counter() - started) * 1000)
        assert len(decision.launch) == LAUNCH_PER_TICK, len(decision.launch)
        row("engine_decide_ms", samples, "ms", queued=size)


def _timed_tick() -> tuple[float, tuple[str, ...]]:
    from queueing.services import run_queue

    started = time.perf_counter()
    result = run_queue.tick()  # the launches are sent on commit, inside this call
    return (time.perf_counter() - started) * 1000, result.launched


def case_tick(args: argparse.Namespace) -> None:
    """The whole tick (read, decide, write, enqueue) at a steady queue length.

    Each repetition launches LAUNCH_PER_TICK runs; they then finish and as many new runs
    are submitted, so every tick sees the same queue length. The first tick after the
    queue is loaded stores a waiting reason for every run; it is reported on its own.
    """
    kind = db_kind()
    for size in args.sizes:
        reset()
        configure()
        create_queued(size)
        if kind == "postgresql":
            analyze()
        first, launched = _timed_tick()
        row("dequeue_tick_first_ms", [first], "ms", db=kind, queued=size)
        next_seq = size
        samples = []
        for _ in range(args.reps):
            finish_started()
            create_queued(len(launched), start=next_seq)
            next_seq += len(launched)
            elapsed, launched = _timed_tick()
            assert len(launched) == LAUNCH_PER_TICK, len(launched)
            samples.append(elapsed)
        row("dequeue_tick_ms", samples, "ms", db=kind, queued=size)
        purge_broker()


def case_drain(args: argparse.Namespace) -> None:
    """Drain a queue of `--runs` runs, LAUNCH_PER_TICK per tick, runs finishing at once.

    The rate counts the ticks' time only. `launch_ms_per_run` is the time the tick spends
    after the engine decided (status updates, events, waiting reasons, the broker sends)
    divided by the runs launched.
    """
    from queueing.services import run_queue

    kind = db_kind()
    spent = {"apply": 0.0, "send": 0.0}
    apply, send = run_queue._apply, run_queue.send_launches

    def timed_apply(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return apply(*a, **kw)
        finally:
            spent["apply"] += time.perf_counter() - started

    def timed_send(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return send(*a, **kw)
        finally:
            spent["send"] += time.perf_counter() - started

    run_queue._apply, run_queue.send_launches = timed_apply, timed_send
    rates, per_run = [], []
    for _ in range(args.reps):
        reset()
        configure()
        create_queued(args.runs)
        if kind == "postgresql":
            analyze()
        spent.update(apply=0.0, send=0.0)
        total = 0
        elapsed = 0.0
        while total < args.runs:
            began = time.perf_counter()
            launched = run_queue.tick().launched
            elapsed += time.perf_counter() - began
            finish_started()  # not timed: the runs finish, not the queue
            total += len(launched)
            if not launched:
                raise RuntimeError(f"the queue stopped draining at {total} of {args.runs}")
        rates.append(total / elapsed)
        per_run.append((spent["apply"] + spent["send"]) * 1000 / total)
        purge_broker()
    row("drain_runs_per_s", rates, "runs/s", db=kind, runs=args.runs)
    row("launch_ms_per_run", per_run, "ms", db=kind, runs=args.runs)


def _bench_user():
    from django.contrib.auth.models import User

    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    return user


def case_submit(args: argparse.Namespace) -> None:
    """Submissions through `services.runs.submit` and through POST /api/runs/."""
    from django.test import Client

    from queueing.services import runs

    kind = db_kind()
    specs = make_runs(args.runs)
    service, api = [], []
    for _ in range(args.reps):
        reset()
        configure()
        started = time.perf_counter()
        for spec in specs:
            runs.submit(spec["job"], tags=spec["tags"], actor="bench")
        service.append(len(specs) / (time.perf_counter() - started))

        reset()
        configure()
        client = Client()
        client.force_login(_bench_user())
        started = time.perf_counter()
        for spec in specs:
            response = client.post(
                "/api/runs/",
                {"job": spec["job"], "tags": spec["tags"]},
                content_type="application/json",
            )
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /api/runs/ answered {response.status_code}: {response.content[:300]!r}"
                )
        api.append(len(specs) / (time.perf_counter() - started))
    row("submit_runs_per_s", service, "runs/s", db=kind, via="service")
    row("submit_runs_per_s", api, "runs/s", db=kind, via="api")


def case_page(args: argparse.Namespace) -> None:
    """Server time of the Queued tab and of GET /api/runs/?status=QUEUED (reasons included)."""
    from django.test import Client
    from django.urls import Resolver404, resolve

    from queueing.services import run_queue

    kind = db_kind()
    reset()
    configure()
    create_queued(args.size)
    if kind == "postgresql":
        analyze()
    run_queue.tick()  # store reasons, as a live deployment has
    purge_broker()
    client = Client()
    client.force_login(_bench_user())
    targets = [("api", "/api/runs/?status=QUEUED")]
    try:
        resolve("/runs/")
        targets.append(("queued_tab", "/runs/?tab=queued"))
    except Resolver404:
        NOTES.append("the Queued tab (/runs/?tab=queued) does not resolve: not measured")
    for name, url in targets:
        response = client.get(url)  # warm caches (templates, workspace) once
        if response.status_code != 200:
            NOTES.append(f"{url} answered {response.status_code}: not measured")
            continue
        body = response.content
        if name == "api":
            data = json.loads(body)
            assert data["count"] == args.size - LAUNCH_PER_TICK, data["count"]
            assert data["results"][0]["queue"] is not None
        samples = []
        for _ in range(args.reps):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        row("queued_page_ms", samples, "ms", db=kind, page=name, queued=args.size)


def case_memory(args: argparse.Namespace) -> None:
    """Peak Python memory (tracemalloc) of one tick, and the time of an untraced tick."""
    kind = db_kind()
    for size in args.sizes:
        reset()
        configure()
        create_queued(size)
        if kind == "postgresql":
            analyze()
        _timed_tick()  # the first tick writes every waiting reason; measure a steady one
        finish_started()
        create_queued(LAUNCH_PER_TICK, start=size)
        elapsed, _ = _timed_tick()
        row("dequeue_tick_ms_untraced", [elapsed], "ms", db=kind, queued=size)
        finish_started()
        create_queued(LAUNCH_PER_TICK, start=size + LAUNCH_PER_TICK)
        gc.collect()
        tracemalloc.start()
        _timed_tick()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        row("tick_peak_memory_mb", [peak / 2**20], "MiB", db=kind, queued=size)
        purge_broker()


# Slot benchmark shapes: pool limits and the demand every cycle claims. Each lets two
# steps hold at once, as the single-slot case does, so their rates compare.
SLOT_SHAPES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "single": ({"bench_slots": 2}, {"bench_slots": 1}),
    "weighted": ({"bench_slots": 6}, {"bench_slots": 3}),
    "multi_pool": ({"bench_slots": 2, "bench_api": 2}, {"bench_slots": 1, "bench_api": 1}),
}


def case_slots(args: argparse.Namespace) -> None:
    """Claim+free cycles per second of N processes on one pool of limit 2, with an observer.

    Each worker loops: claim (a blocked step waits for the pool's notification, as the
    executor does), note the time, free. The observer process counts holders in the
    database every 2 ms; the workers' own [claimed, freed] intervals (taken strictly inside
    the real holding time) are merged too. Either seeing more than 2 holders at once is an
    oversubscription. `--reps` rounds per process count. `--shapes` adds `weighted` (3
    slots of a pool of 6) and `multi_pool` (1 slot of each of two pools of 2, claimed
    together): figures `weighted_slot_cycles_per_s`, `multi_pool_slot_cycles_per_s`.
    """
    kind = db_kind()
    for shape in args.shapes:
        limits, demand = SLOT_SHAPES[shape]
        prefix = "" if shape == "single" else f"{shape}_"
        for count in args.processes:
            rates, overs, details = [], [], []
            for _ in range(args.reps):
                cycles, over, detail = _slot_round(count, limits, demand, args.seconds)
                rates.append(cycles / args.seconds)
                overs.append(over)
                details.append(detail)
            row(f"{prefix}slot_cycles_per_s", rates, "cycles/s", db=kind, processes=count)
            row(f"{prefix}slot_oversubscriptions", overs, "count", db=kind, processes=count)
            ROWS[-1].update(
                observer_samples=sum(d["samples"] for d in details),
                observer_max_holders=max(d["max_holders"] for d in details),
                max_overlapping_intervals=max(d["overlap"] for d in details),
            )


def _slot_round(
    count: int, limits: dict[str, int], demand: dict[str, int], seconds: float
) -> tuple[int, int, dict[str, int]]:
    """One timed round of `count` cycling processes and the observer: (cycles, over, detail)."""
    from queueing.engine.types import RunStatus
    from queueing.models import Run
    from queueing.services import pools

    reset()
    for key, limit in limits.items():
        pools.set_limit(key, limit, actor="bench")
    spec = ",".join(f"{key}={slots}" for key, slots in demand.items())
    # Steps that may hold at once: the overlap of the holders' intervals may not exceed it.
    capacity = min(limits[key] // slots for key, slots in demand.items())
    run_ids = [
        Run.objects.create(
            job_name="quick", location_name="bench", status=RunStatus.STARTED, plan={}
        ).run_id
        for _ in range(count)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        worker = str(ROOT / "bench" / "slot_worker.py")
        observer = subprocess.Popen(
            [sys.executable, worker, "observe", spec, tmp, str(seconds), f"{tmp}/observer"]
        )
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    worker,
                    "cycle",
                    spec,
                    tmp,
                    str(seconds),
                    f"{tmp}/w{i}",
                    run_id,
                ]
            )
            for i, run_id in enumerate(run_ids)
        ]
        # Start together once every process has set Django up.
        deadline = time.monotonic() + 300
        while len(list(Path(tmp).glob("ready-*"))) < count + 1:
            if time.monotonic() > deadline:
                raise RuntimeError("slot processes did not get ready")
            time.sleep(0.05)
        Path(tmp, "go").write_text(str(time.monotonic() + 0.5))
        for proc in [*procs, observer]:
            if proc.wait(timeout=seconds + 300) != 0:
                raise RuntimeError(f"slot process exited with {proc.returncode}")
        intervals = []
        for i in range(count):
            with open(f"{tmp}/w{i}") as fh:
                for line in fh:
                    claimed, freed = line.split()
                    intervals.append((int(claimed), int(freed)))
        with open(f"{tmp}/observer") as fh:
            observed = json.load(fh)
    overlap = interval_overlap(intervals)
    over = observed["over_limit"] + (1 if overlap > capacity else 0)
    detail = {
        "samples": observed["samples"],
        "max_holders": observed["max_holders"],
        "overlap": overlap,
    }
    return len(intervals), over, detail


CASES = {
    "engine": case_engine,
    "tick": case_tick,
    "drain": case_drain,
    "submit": case_submit,
    "page": case_page,
    "memory": case_memory,
    "slots": case_slots,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--shapes", nargs="*", default=["single"], choices=sorted(SLOT_SHAPES))
    args = parser.parse_args(argv)
    if args.case != "engine":
        setup_django()
    CASES[args.case](args)
    with open(args.out, "w") as fh:
        json.dump({"rows": ROWS, "notes": NOTES}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
