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
    p95,
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


# Ticks after the first of `case_unlimited` reported on their own: they move most stored
# rules to the tags every tick fills (the first tick stored whichever was full then).
UNLIMITED_SETTLE_TICKS = 4


def case_unlimited(args: argparse.Namespace) -> None:
    """The steady tick of an unlimited queue (`max_concurrent_runs: -1`, the ten tag limits
    and five pools of the workload): the runs launched by a tick finish and as many new
    ones are submitted before the next. The first tick reads the whole queue; the next
    UNLIMITED_SETTLE_TICKS rewrite the stored rules of many runs (`unlimited_tick_settle_ms`),
    then the planner statistics are refreshed, as autovacuum would do after such a rewrite
    (with the statistics of the load, every stored rule '', the planner walks the queue)."""
    kind = db_kind()
    for size in args.sizes:
        reset()
        configure(max_concurrent_runs=-1)
        create_queued(size)
        if kind == "postgresql":
            analyze()
        first, launched = _timed_tick()
        row("unlimited_tick_first_ms", [first], "ms", db=kind, queued=size)
        next_seq = size
        settle, samples, counts = [], [], []
        for rep in range(UNLIMITED_SETTLE_TICKS + args.reps):
            finish_started()
            create_queued(max(len(launched), 1), start=next_seq)
            next_seq += max(len(launched), 1)
            elapsed, launched = _timed_tick()
            if rep < UNLIMITED_SETTLE_TICKS:
                settle.append(elapsed)
                if rep == UNLIMITED_SETTLE_TICKS - 1 and kind == "postgresql":
                    # They rewrote well over autovacuum's 10% of the table: it would analyze.
                    analyze()
                continue
            samples.append(elapsed)
            counts.append(len(launched))
        row("unlimited_tick_settle_ms", settle, "ms", db=kind, queued=size)
        row("unlimited_tick_ms", samples, "ms", db=kind, queued=size)
        row("unlimited_tick_launched", counts, "runs", db=kind, queued=size)
        purge_broker()


# Rows per finished run in the seeded history: two steps, the run's five events (enqueued,
# starting, started, ended, plus one per step start/end: nine) and one stretch of waiting.
HISTORY_STEPS, HISTORY_EVENTS, HISTORY_WAITS = 2, 9, 1


def seed_history(count: int) -> None:
    """Bulk-insert `count` finished runs (one in ten FAILURE, one in fifty CANCELED; ended
    one a second going back from two hours ago, so the last hour's figures of the pages
    count the same runs as on an empty history: what is measured is the size) with their steps, events and wait history, by
    INSERT … SELECT over a generated series on the server (no row crosses the wire)."""
    from django.db import connection

    pg = connection.vendor == "postgresql"
    if pg:
        series = f"generate_series(1, {count}) AS s(g)"
        ago = "now() - make_interval(secs => g + 7200)"
        later = "now() - make_interval(secs => g + 7198)"
        series_of = "generate_series(1, {n}) AS k(i)"
    else:
        series = f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) SELECT g FROM s)"
        ago = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (g + 7200) || ' seconds')"
        later = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (g + 7198) || ' seconds')"
        series_of = "(WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {n}) SELECT i FROM k)"
    json = "::jsonb" if pg else ""
    status = (
        "CASE WHEN g % 50 = 0 THEN 'CANCELED' WHEN g % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END"
    )
    tags = '\'{"team": "team-\' || (g % 12) || \'", "env": "prod"}\''
    plan = "'{\"steps\": []}'"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO queueing_run (run_id, job_name, location_name, status, tags, priority,"
            " run_config, plan, created_at, enqueued_at, launched_at, started_at, ended_at,"
            " updated_at, worker, launch_count, failure_reason, wait_rule, wait_reason)"
            f" SELECT 'history-' || g, 'quick', 'queueing.demo.definitions', {status},"
            f" ({tags}){json}, 0, '{{}}'{json}, {plan}{json}, {ago}, {ago}, {ago}, {ago}, {later}, {later},"
            f" 'bench', 1, '', '', '' FROM {series}"
        )
        history = "FROM queueing_run r, {series} WHERE r.run_id LIKE 'history-%'"
        cursor.execute(
            "INSERT INTO queueing_step (run_id, step_key, op_name, plan_index, pool, pools,"
            " priority, status, wait_reason, started_at, ended_at, logs, error)"
            f" SELECT r.id, 'step_' || i, 'op_' || i, i, '', '{{}}'{json}, 0, 'SUCCESS', '',"
            " r.started_at, r.ended_at, 'done', '' "
            + history.format(series=series_of.format(n=HISTORY_STEPS))
        )
        cursor.execute(
            "INSERT INTO queueing_runevent (run_id, step_key, kind, message, created_at)"
            " SELECT r.id, '', 'event', 'history', r.ended_at "
            + history.format(series=series_of.format(n=HISTORY_EVENTS))
        )
        cursor.execute(
            "INSERT INTO queueing_runwait (run_id, rule, message, started_at, ended_at)"
            " SELECT r.id, 'max_concurrent_runs:max_concurrent_runs', 'full', r.created_at,"
            " r.launched_at " + history.format(series=series_of.format(n=HISTORY_WAITS))
        )


def _page_ms(client: Any, url: str, reps: int) -> list[float]:
    response = client.get(url)  # warm caches (templates, workspace) once
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return samples


def case_history(args: argparse.Namespace) -> None:
    """The steady tick and the pages with an empty history, then with `--size` finished
    runs (seeded by `seed_history`) behind the same queue of `--queued` runs."""
    from django.test import Client

    from queueing.engine.types import RunStatus
    from queueing.models import Run

    kind = db_kind()
    for history in (0, args.size):
        reset()
        if history:
            began = time.perf_counter()
            seed_history(history)
            NOTES.append(
                f"seeded {history:,} finished runs on {kind} in {time.perf_counter() - began:.0f} s"
            )
        configure()
        create_queued(args.queued)
        analyze()
        _timed_tick()  # the first tick stores every waiting reason
        ticks = []
        launched: tuple[str, ...] = ()
        seq = args.queued
        for _ in range(args.reps):
            finish_started()
            create_queued(LAUNCH_PER_TICK, start=seq)
            seq += LAUNCH_PER_TICK
            elapsed, launched = _timed_tick()
            ticks.append(elapsed)
        purge_broker()
        row("history_tick_ms", ticks, "ms", db=kind, history=history, queued=args.queued)
        client = Client()
        client.force_login(_bench_user())
        newest = Run.objects.filter(status=RunStatus.SUCCESS).order_by("-id").first()
        oldest = Run.objects.filter(status=RunStatus.SUCCESS).order_by("id").first()
        pages = [
            ("queued_tab", "/runs/?tab=queued"),
            ("finished_tab", "/runs/?tab=finished"),
            ("run_page", f"/runs/{oldest.run_id}/"),
            ("metrics", "/metrics"),
            ("overview", "/"),
        ]
        if newest is not None and newest.pk != oldest.pk:
            pages.insert(3, ("run_page_newest", f"/runs/{newest.run_id}/"))
        for name, url in pages:
            samples = _page_ms(client, url, args.reps)
            row("history_page_ms", samples, "ms", db=kind, page=name, history=history)


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


def case_backfill(args: argparse.Namespace) -> None:
    """A backfill of `--runs` partitions of the demo's daily asset job, submitted whole by
    `services.backfills.launch` (every run checked by the submit's rules, bulk-inserted
    under the queue-cap lock), with a queue cap set so that the cap's count is paid too."""
    from django.utils import timezone

    from queueing.locations import get_workspace
    from queueing.services import backfills, config

    kind = db_kind()
    found = get_workspace().find_job("daily_sales_job")
    assert found is not None and found[1].partitions_def is not None
    keys = found[1].partitions_def.partition_keys(timezone.now())
    if len(keys) < args.runs:
        raise RuntimeError(f"daily_sales_job has {len(keys)} partitions, fewer than {args.runs}")
    chosen = keys[-args.runs :]
    samples = []
    for _ in range(args.reps):
        reset()
        configure()
        config.load_yaml("concurrency_ui:\n  max_queued_runs: 100000\n", actor="bench")
        started = time.perf_counter()
        backfill = backfills.launch(
            "daily_sales_job",
            start=chosen[0],
            end=chosen[-1],
            tags=make_runs(1)[0]["tags"],
            actor="bench",
        )
        samples.append(time.perf_counter() - started)
        assert backfill.runs.count() == args.runs
    row("backfill_submit_s", samples, "s", db=kind, partitions=args.runs)


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


def _broker_kind() -> str:
    from django.conf import settings

    return "redis" if settings.CELERY_BROKER_URL.startswith("redis") else "embedded"


def case_latency(args: argparse.Namespace) -> None:
    """What a user feels, with real workers and no beat (bench/e2e.py): submit → STARTED and
    submit → SUCCESS of single one-step no-op runs submitted apart, and, with
    max_concurrent_runs 1, a run's end → the next queued run STARTED."""
    import e2e
    import yaml
    from django.conf import settings

    from queueing.services import config

    _bench_location()
    kind, broker = db_kind(), _broker_kind()
    # STEP_ZYGOTE=false in the environment measures cold steps (the workers inherit it).
    steps = "zygote" if settings.STEP_ZYGOTE else "cold"
    reset()
    config.load_yaml(yaml.safe_dump({}), actor="bench")  # the defaults: a 5 s interval
    with e2e.Workers():
        e2e.submit_one(timeout=120)  # the workers' first run imports the location
        if steps == "zygote":
            _until_steps_start_warm()
        started, success = [], []
        for _ in range(args.reps):
            time.sleep(0.3)
            one = e2e.submit_one()
            started.append(one["started_ms"])
            success.append(one["success_ms"])
        config.edit_settings({"max_concurrent_runs": 1}, actor="bench")
        handovers = []
        for _ in range(args.reps):
            time.sleep(0.3)
            handovers.append(e2e.handover())
    for figure, samples in (
        ("e2e_submit_to_started_ms", started),
        ("e2e_submit_to_success_ms", success),
        ("e2e_run_end_to_next_started_ms", handovers),
    ):
        row(figure, samples, "ms", db=kind, broker=broker, steps=steps)
        ROWS[-1]["p95"] = round(p95(samples), 1)


def _bench_location() -> None:
    """Add bench/step_location.py to the code locations, for this process and for the
    workers, zygotes and step processes it starts."""
    from queueing import locations

    os.environ["PYTHONPATH"] = str(ROOT / "bench")
    os.environ["CODE_LOCATIONS"] = "queueing.demo.definitions,step_location"
    locations.reload_workspace()


def _until_steps_start_warm(timeout: float = 180) -> None:
    """Submit one-step runs until a runs worker's zygote forks one (it starts with the worker
    and takes a cold start's time to come up), so that the figures are of warm steps."""
    import pickle

    import e2e

    from queueing.models import Step
    from queueing.services import runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_id = runs.submit("forked_or_cold", actor="bench").run_id
        e2e.wait_for(lambda run_id=run_id: e2e.finished(run_id), 60, f"run {run_id}")
        output = Step.objects.filter(run__run_id=run_id).values_list("output", flat=True)[0]
        if output is not None and pickle.loads(bytes(output)) == "zygote":
            return
        time.sleep(0.5)
    NOTES.append("the runs worker's zygote did not come up: steps started cold")


def case_step_start(args: argparse.Namespace) -> None:
    """Step overhead: from asking for a step's process to the op's first line, forked by the
    worker's zygote and cold (`python -m queueing.step_process`), interleaved. The op
    returns `time.time()` when entered (bench/step_location.py); the step process reads
    the run and step and their upstream outputs before it, as for any step."""
    import pickle

    from queueing import zygote
    from queueing.models import Step
    from queueing.services import runs

    _bench_location()
    kind = db_kind()
    reset()
    ready = zygote.warm()
    if ready is None:
        NOTES.append("step_start: the zygote did not come up; only cold figures")
    samples: dict[str, list[float]] = {"zygote": [], "cold": []}
    starts = {"zygote": zygote.start_step, "cold": zygote.cold_start}
    for _ in range(args.reps):
        for start in samples if ready is not None else ["cold"]:
            run = runs.submit("stamped", actor="bench")
            began = time.time()
            process = starts[start](run.run_id, "stamp")
            process.wait(120)
            if process.stderr is not None:
                process.stderr.close()
            if start == "zygote" and not isinstance(process, zygote.ForkedStep):
                raise RuntimeError("a warm step started cold: the zygote went away")
            output = Step.objects.filter(run=run).values_list("output", flat=True)[0]
            if output is None:
                raise RuntimeError(f"step of run {run.run_id} did not report ({start})")
            samples[start].append((pickle.loads(bytes(output)) - began) * 1000)
    zygote.shutdown()
    for start, values in samples.items():
        if values:
            row("step_overhead_ms", values, "ms", db=kind, start=start)
            ROWS[-1]["p95"] = round(p95(values), 1)


def case_burst(args: argparse.Namespace) -> None:
    """`--runs` one-step no-op runs submitted at once with `max_concurrent_runs: 8` and two
    runs workers (bench/e2e.py, no beat): wall time from the first submit to the last run's
    end, and runs per second. The figure bench/compare_dagster.py compares with Dagster."""
    import e2e
    import yaml
    from django.conf import settings

    from queueing.services import config

    _bench_location()
    kind, broker = db_kind(), _broker_kind()
    # As in `latency`: STEP_ZYGOTE=false in the environment measures cold steps.
    steps = "zygote" if settings.STEP_ZYGOTE else "cold"
    walls, rates = [], []
    for _ in range(args.reps):
        reset()
        config.load_yaml(yaml.safe_dump({"run_queue": {"max_concurrent_runs": 8}}), actor="bench")
        with e2e.Workers(run_workers=2):
            e2e.submit_one(timeout=120)  # both workers' imports out of the way
            e2e.submit_one(timeout=120)
            if steps == "zygote":
                _until_steps_start_warm()
            result = e2e.burst(args.runs)
        walls.append(result["wall_s"])
        rates.append(result["runs_per_s"])
    row("burst_wall_s", walls, "s", db=kind, broker=broker, runs=args.runs, steps=steps)
    row("burst_runs_per_s", rates, "runs/s", db=kind, broker=broker, runs=args.runs, steps=steps)


CASES = {
    "engine": case_engine,
    "tick": case_tick,
    "drain": case_drain,
    "submit": case_submit,
    "backfill": case_backfill,
    "page": case_page,
    "memory": case_memory,
    "slots": case_slots,
    "latency": case_latency,
    "unlimited": case_unlimited,
    "history": case_history,
    "burst": case_burst,
    "step_start": case_step_start,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queued", type=int, default=1000)
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
