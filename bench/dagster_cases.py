"""The Dagster side of the comparison: the same workload through Dagster's own instance API.

Runs inside the separate Dagster virtual environment (bench/compare_dagster.py creates it
and calls `var/dagster-venv/bin/python bench/dagster_cases.py CASE --db KIND --out FILE`).
Each case writes {"rows": [...], "notes": [...]} in the format of bench/cases.py, so the
two systems' figures can be matched row by row.

What is driven: a `DagsterInstance` loaded from a temporary `dagster.yaml` (SQLite storage
in a temporary folder, or PostgreSQL storage in the throwaway database of
`DAGSTER_BENCH_PG_URL`), the `run_queue` block of bench/workload.py, pool limits set with
`event_log_storage.set_concurrency_slots`, queued runs added with `instance.add_run`, the
queue daemon's own `QueuedRunCoordinatorDaemon.run_iteration`, and a run launcher that does
nothing (below), so only Dagster's queue and storage are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402  (PyYAML comes with dagster)
from dagster import DagsterInstance  # noqa: E402
from dagster._core.launcher import RunLauncher  # noqa: E402
from dagster._serdes import ConfigurableClass  # noqa: E402
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


class NoopRunLauncher(RunLauncher, ConfigurableClass):
    """Accepts every launch and does nothing: the bench measures the queue, not execution."""

    def __init__(self, inst_data: Any = None) -> None:
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> Any:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> NoopRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: Any) -> None:
        return None

    def terminate(self, run_id: str) -> bool:
        return False


class ProcessContext:
    """The part of a workspace process context the queue daemon uses (no code location:
    the no-op launcher never looks at the workspace)."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance

    def create_request_context(self) -> None:
        return None


def row(figure: str, samples: list[float], unit: str, **params: Any) -> dict[str, Any]:
    entry = {"figure": figure, **params, **stats(samples), "unit": unit, "system": "dagster"}
    ROWS.append(entry)
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    print(
        f"  dagster {figure} [{shown}] median {entry['median']:.2f} {unit} "
        f"(min {entry['min']:.2f}, max {entry['max']:.2f}, n={entry['n']})",
        flush=True,
    )
    return entry


def pg_url() -> str:
    return os.environ["DAGSTER_BENCH_PG_URL"]


def reset_pg() -> None:
    """Empty Dagster's tables between cases (the schema stays)."""
    import psycopg2

    conn = psycopg2.connect(pg_url())
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'secondary_indexes', 'instance_info', 'kvs')"
        )
        tables = [r[0] for r in cursor.fetchall()]
        if tables:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    conn.close()


def make_instance(
    kind: str, folder: str, max_concurrent_runs: int = LAUNCH_PER_TICK
) -> DagsterInstance:
    document: dict[str, Any] = instance_document(max_concurrent_runs)
    document["run_launcher"] = {"module": "dagster_cases", "class": "NoopRunLauncher"}
    document["telemetry"] = {"enabled": False}
    if kind == "postgresql":
        reset_pg()
        document["storage"] = {
            "postgres": {
                "postgres_url": pg_url().replace("postgresql://", "postgresql+psycopg2://", 1)
            }
        }
    else:
        document["storage"] = {"sqlite": {"base_dir": folder}}
    Path(folder, "dagster.yaml").write_text(yaml.safe_dump(document))
    instance = DagsterInstance.from_config(folder)
    for key, limit in POOLS.items():
        instance.event_log_storage.set_concurrency_slots(key, limit)
    return instance


def job_origin(job_name: str) -> Any:
    """Queued runs must name their code location; the no-op launcher never loads it."""
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )

    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("bench"), "bench_repository")
    return RemoteJobOrigin(repository, job_name)


def add_queued(instance: DagsterInstance, n: int, start: int = 0) -> None:
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunOpConcurrency

    origins = {}
    for spec in make_runs(n, start=start):
        if spec["job"] not in origins:
            origins[spec["job"]] = job_origin(spec["job"])
        summary = spec["pool_summary"]
        instance.add_run(
            DagsterRun(
                job_name=spec["job"],
                run_id=str(uuid.uuid4()),
                status=DagsterRunStatus.QUEUED,
                tags=spec["tags"],
                remote_job_origin=origins[spec["job"]],
                run_op_concurrency=None
                if summary is None
                else RunOpConcurrency(
                    root_key_counts=summary["root_pool_counts"],
                    has_unconstrained_root_nodes=summary["has_unconstrained_root"],
                    all_pools=set(summary["all_pools"]),
                ),
            )
        )


def finish_starting(instance: DagsterInstance) -> int:
    """Runs complete as soon as they launch: every STARTING run reports success."""
    from dagster import DagsterEvent, DagsterEventType
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTING]))
    for run in runs:
        instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name
            ),
            run_id=run.run_id,
        )
    return len(runs)


def new_daemon() -> Any:
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    return QueuedRunCoordinatorDaemon(interval_seconds=5)


def timed_iteration(daemon: Any, context: ProcessContext) -> float:
    started = time.perf_counter()
    for _ in daemon.run_iteration(context):
        pass
    return (time.perf_counter() - started) * 1000


def launched_count(instance: DagsterInstance) -> int:
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    return instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.STARTING]))


# --- cases ----------------------------------------------------------------------------


def case_tick(args: argparse.Namespace) -> None:
    """One daemon iteration at a steady queue length, launching LAUNCH_PER_TICK runs."""
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            instance = make_instance(args.db, folder)
            started = time.perf_counter()
            add_queued(instance, size)
            print(
                f"  (added {size} queued runs in {time.perf_counter() - started:.0f} s)", flush=True
            )
            daemon = new_daemon()
            context = ProcessContext(instance)
            select = []
            samples = []
            next_seq = size
            for rep in range(args.reps + 1):
                # The read-and-order part alone (no launch), as the issue quotes it.
                concurrency = instance.get_concurrency_config()
                began = time.perf_counter()
                daemon._get_runs_to_dequeue(instance, concurrency, fixed_iteration_time=None)
                select.append((time.perf_counter() - began) * 1000)
                elapsed = timed_iteration(daemon, context)
                launched = launched_count(instance)
                if launched != LAUNCH_PER_TICK:
                    NOTES.append(f"dagster tick at {size} on {args.db} launched {launched} runs")
                if rep:  # the first iteration warms Dagster's caches: not counted
                    samples.append(elapsed)
                finish_starting(instance)
                add_queued(instance, launched, start=next_seq)
                next_seq += launched
            row("dequeue_tick_ms", samples, "ms", db=args.db, queued=size)
            row("dequeue_select_ms", select[1:], "ms", db=args.db, queued=size)
            if args.memory:
                tracemalloc.start()
                timed_iteration(daemon, context)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                row("tick_peak_memory_mb", [peak / 2**20], "MiB", db=args.db, queued=size)
            instance.dispose()


def case_drain(args: argparse.Namespace) -> None:
    """Drain `--runs` queued runs; `launch_ms_per_run` is the daemon's per-run dequeue time
    (re-read the run, report STARTING, re-read, call the launcher)."""
    with tempfile.TemporaryDirectory() as folder:
        instance = make_instance(args.db, folder)
        add_queued(instance, args.runs)
        daemon = new_daemon()
        context = ProcessContext(instance)
        spent = {"launch": 0.0}
        dequeue = daemon._dequeue_run

        def timed_dequeue(*a: Any, **kw: Any) -> Any:
            began = time.perf_counter()
            try:
                return dequeue(*a, **kw)
            finally:
                spent["launch"] += time.perf_counter() - began

        daemon._dequeue_run = timed_dequeue
        total = 0
        ticking = 0.0
        deadline = time.monotonic() + args.max_seconds
        while total < args.runs and time.monotonic() < deadline:
            ticking += timed_iteration(daemon, context) / 1000
            launched = finish_starting(instance)  # not timed: the runs finish, not the queue
            if not launched:
                raise RuntimeError(f"the Dagster queue stopped draining at {total}")
            total += launched
        if total < args.runs:
            NOTES.append(
                f"dagster drain on {args.db} stopped after {args.max_seconds:.0f} s with "
                f"{total} of {args.runs} runs launched; the rate is over those"
            )
        row("drain_runs_per_s", [total / ticking], "runs/s", db=args.db, runs=args.runs)
        row("launch_ms_per_run", [spent["launch"] * 1000 / total], "ms", db=args.db, runs=args.runs)
        instance.dispose()


def case_submit(args: argparse.Namespace) -> None:
    """`create_run_for_job` (the run and its plan snapshot) then the queued coordinator's
    `submit_run` (the enqueue event): what a launch from the UI or a sensor costs."""
    from dagster import job, op
    from dagster._core.run_coordinator import SubmitRunContext

    @op(pool="redshift")
    def extract() -> int:
        return 1

    @op
    def transform(value: int) -> int:
        return value

    @op(pool="redshift")
    def load(value: int) -> int:
        return value

    @job(tags={"database": "redshift"})
    def redshift_etl() -> None:
        load(transform(extract()))

    specs = make_runs(args.runs)
    origin = job_origin("redshift_etl")
    rates = []
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory() as folder:
            instance = make_instance(args.db, folder)
            started = time.perf_counter()
            for spec in specs:
                run = instance.create_run_for_job(
                    redshift_etl, tags=spec["tags"], remote_job_origin=origin
                )
                instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
            rates.append(len(specs) / (time.perf_counter() - started))
            instance.dispose()
    row("submit_runs_per_s", rates, "runs/s", db=args.db, via="service")


def case_slots(args: argparse.Namespace) -> None:
    """Claim+free cycles/s of N processes on one pool of limit 2, with an observer."""
    limit = 2
    for count in args.processes:
        rates, overs, details = [], [], []
        for _ in range(args.reps):
            cycles, over, detail = slot_round(args.db, count, limit, args.seconds)
            rates.append(cycles / args.seconds)
            overs.append(over)
            details.append(detail)
        row("slot_cycles_per_s", rates, "cycles/s", db=args.db, processes=count)
        row("slot_oversubscriptions", overs, "count", db=args.db, processes=count)
        ROWS[-1].update(
            observer_samples=sum(d["samples"] for d in details),
            observer_max_holders=max(d["max_holders"] for d in details),
            max_overlapping_intervals=max(d["overlap"] for d in details),
        )


def slot_round(db: str, count: int, limit: int, seconds: float) -> tuple[int, int, dict[str, int]]:
    with tempfile.TemporaryDirectory() as folder:
        instance = make_instance(db, folder)
        instance.event_log_storage.set_concurrency_slots("bench_slots", limit)
        instance.dispose()
        common = ["--db", db, "--folder", folder, "--seconds", str(seconds)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "slot-worker",
                    "--out",
                    f"{folder}/w{i}",
                    "--worker",
                    str(i),
                    *common,
                ]
            )
            for i in range(count)
        ]
        observer = subprocess.Popen(
            [sys.executable, __file__, "slot-observer", "--out", f"{folder}/observer", *common]
        )
        wait_ready(folder, count + 1)
        Path(folder, "go").write_text(str(time.monotonic() + 0.5))
        for proc in [*procs, observer]:
            if proc.wait(timeout=seconds + 300) != 0:
                raise RuntimeError(f"slot process exited with {proc.returncode}")
        intervals = []
        for i in range(count):
            for line in Path(f"{folder}/w{i}").read_text().splitlines():
                claimed, freed = line.split()
                intervals.append((int(claimed), int(freed)))
        observed = json.loads(Path(f"{folder}/observer").read_text())
    overlap = interval_overlap(intervals)
    over = observed["over_limit"] + (1 if overlap > limit else 0)
    detail = {
        "samples": observed["samples"],
        "max_holders": observed["max_holders"],
        "overlap": overlap,
    }
    return len(intervals), over, detail


def wait_ready(folder: str, count: int) -> None:
    deadline = time.monotonic() + 300
    while len(list(Path(folder).glob("ready-*"))) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("slot processes did not get ready")
        time.sleep(0.05)


def wait_go(folder: str, name: str) -> float:
    Path(folder, f"ready-{name}").touch()
    go = Path(folder, "go")
    while not go.exists() or not go.read_text():
        time.sleep(0.01)
    start_at = float(go.read_text())
    time.sleep(max(0.0, start_at - time.monotonic()))
    return start_at


def slot_worker(args: argparse.Namespace) -> None:
    from dagster._core.instance import DagsterInstance as Instance
    from dagster._utils.concurrency import ConcurrencySlotStatus

    instance = Instance.from_config(args.folder)
    storage = instance.event_log_storage
    run_id = str(uuid.uuid4())
    lines = []
    start_at = wait_go(args.folder, f"w{args.worker}")
    deadline = start_at + args.seconds
    step = 0
    while time.monotonic() < deadline:
        step_key = f"s{step}"
        status = storage.claim_concurrency_slot("bench_slots", run_id, step_key)
        if status.slot_status != ConcurrencySlotStatus.CLAIMED:
            continue
        claimed = time.monotonic_ns()
        freed = time.monotonic_ns()
        storage.free_concurrency_slot_for_step(run_id, step_key)
        lines.append(f"{claimed} {freed}\n")
        step += 1
    storage.free_concurrency_slots_for_run(run_id)
    Path(args.out).write_text("".join(lines))


def slot_observer(args: argparse.Namespace) -> None:
    """Counts slot rows held (run_id set) of the pool, straight from the database."""
    import psycopg2

    if args.db != "postgresql":
        raise SystemExit("the slot benchmark runs on PostgreSQL only")
    conn = psycopg2.connect(pg_url())
    conn.autocommit = True
    cursor = conn.cursor()
    sql = (
        "SELECT COUNT(*) FROM concurrency_slots WHERE concurrency_key = %s "
        "AND run_id IS NOT NULL AND deleted = false"
    )
    samples = over = highest = 0
    start_at = wait_go(args.folder, "observer")
    deadline = start_at + args.seconds
    while time.monotonic() < deadline:
        cursor.execute(sql, ["bench_slots"])
        holders = cursor.fetchone()[0]
        samples += 1
        highest = max(highest, holders)
        if holders > 2:
            over += 1
        # Polling flat out would take a core of two from the processes measured.
        time.sleep(0.002)
    Path(args.out).write_text(
        json.dumps({"samples": samples, "max_holders": highest, "over_limit": over})
    )


def case_e2e(args: argparse.Namespace) -> None:
    """The whole path as a Dagster user runs it (bench/dagster_e2e.py): `--reps` single runs
    of a one-op no-op job, one at a time (submit → STARTED and submit → SUCCESS), then
    `--runs` runs submitted at once (wall time and runs/s), `max_concurrent_runs` 8."""
    import dagster_e2e

    home = tempfile.mkdtemp(prefix="dagster-e2e-")
    if args.db == "postgresql":
        reset_pg()
        url = pg_url().replace("postgresql://", "postgresql+psycopg2://", 1)
        storage: dict[str, Any] = {"postgres": {"postgres_url": url}}
    else:
        storage = {"sqlite": {"base_dir": str(Path(home, "storage"))}}
    started, success = [], []
    with dagster_e2e.Deployment(
        home, storage, max_concurrent_runs=8, dequeue_interval_seconds=args.dequeue_interval
    ) as deployment:
        dagster_e2e.single(deployment, timeout=300)  # the first run warms the code server
        for _ in range(args.reps):
            time.sleep(0.3)
            one = dagster_e2e.single(deployment)
            started.append(one["started_ms"])
            success.append(one["success_ms"])
            print(
                f"    run: started {one['started_ms']:.0f} ms, success {one['success_ms']:.0f} ms",
                flush=True,
            )
        interval = deployment.instance.run_coordinator.dequeue_interval_seconds
        if args.runs:
            result = dagster_e2e.burst(deployment, args.runs, timeout=args.max_seconds)
    for figure, samples in (
        ("e2e_submit_to_started_ms", started),
        ("e2e_submit_to_success_ms", success),
    ):
        row(figure, samples, "ms", db=args.db)
        ROWS[-1]["p95"] = round(p95(samples), 1)
    if args.runs:
        partial = {"finished": result["finished"], "at_least": True} if "partial" in result else {}
        row("burst_wall_s", [result["wall_s"]], "s", db=args.db, runs=args.runs, **partial)
        row("burst_runs_per_s", [result["runs_per_s"]], "runs/s", db=args.db, runs=args.runs)
        NOTES.append(
            f"e2e burst on {args.db}: {args.runs} runs submitted in {result['submit_s']:.1f} s "
            f"(the wall time includes it)"
        )
        if partial:
            NOTES.append(
                f"e2e burst on {args.db} stopped at --max-seconds {args.max_seconds:g}: "
                f"{result['finished']} of {args.runs} runs had finished; burst_wall_s is the "
                f"time so far (the whole burst takes longer), burst_runs_per_s the rate of "
                f"the finished runs"
            )
    NOTES.append(
        f"e2e on {args.db}: dequeue interval {interval} s, max_concurrent_runs 8, "
        f"default run launcher, multiprocess executor, `dagster api grpc` code server, "
        f"`dagster-daemon run`; logs were in {home} (removed)"
    )
    shutil.rmtree(home, ignore_errors=True)


CASES = {
    "tick": case_tick,
    "drain": case_drain,
    "submit": case_submit,
    "slots": case_slots,
    "e2e": case_e2e,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=[*sorted(CASES), "slot-worker", "slot-observer"])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--dequeue-interval", type=int, help="seconds (Dagster's default: 5)")
    parser.add_argument("--folder")
    parser.add_argument("--worker", type=int, default=0)
    args = parser.parse_args(argv)
    if args.case == "slot-worker":
        slot_worker(args)
        return 0
    if args.case == "slot-observer":
        slot_observer(args)
        return 0
    # A SIGTERM (the caller stopping) unwinds like Ctrl-C, so daemons and servers die too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    CASES[args.case](args)
    Path(args.out).write_text(json.dumps({"rows": ROWS, "notes": NOTES}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
