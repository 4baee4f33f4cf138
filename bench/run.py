"""Run the benchmarks, print one table, write bench/results.json.

    python bench/run.py            # full sizes (make bench)
    python bench/run.py --quick    # smaller sizes, fewer repetitions (make bench-quick)
    python bench/run.py --only tick page

Every case runs in its own process against a throwaway database: an SQLite file under
var/bench/ and, when PostgreSQL answers on 127.0.0.1:5432, the database `bench_cui`
(created and dropped here). PostgreSQL ticks send their launches to Redis database 13
when Redis answers, purged afterwards; SQLite ticks use the filesystem broker under
var/bench/. Nothing here asserts a timing: targets are printed, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "bench_cui")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
HISTORY_RUNS = os.environ.get("HISTORY_RUNS", "200000")
# Sizes of the end-to-end cases (bench/compare_dagster.py's Dagster side uses the same):
# E2E_RUNS single runs one at a time (latency), BURST_RUNS runs submitted at once (burst).
E2E_RUNS = os.environ.get("E2E_RUNS")
BURST_RUNS = os.environ.get("BURST_RUNS")

# (case, database kinds, options) per mode. Sizes follow the issue; quick shrinks them.
FULL = [
    ("engine", [None], ["--sizes", "1000", "10000", "100000", "--reps", "7"]),
    ("tick", ["postgresql", "sqlite"], ["--sizes", "1000", "10000", "--reps", "9"]),
    ("drain", ["postgresql", "sqlite"], ["--runs", "5000", "--reps", "3"]),
    ("submit", ["postgresql", "sqlite"], ["--runs", "500", "--reps", "3"]),
    ("backfill", ["postgresql", "sqlite"], ["--runs", "1000", "--reps", "5"]),
    ("page", ["postgresql", "sqlite"], ["--size", "10000", "--reps", "15"]),
    ("memory", ["postgresql", "sqlite"], ["--sizes", "10000", "100000"]),
    (
        "slots",
        ["postgresql"],
        [
            "--processes",
            "1",
            "4",
            "8",
            "--seconds",
            "8",
            "--reps",
            "3",
            "--shapes",
            "single",
            "weighted",
            "multi_pool",
        ],
    ),
    ("latency", ["postgresql", "sqlite"], ["--reps", E2E_RUNS or "20"]),
    ("unlimited", ["postgresql", "sqlite"], ["--sizes", "100000", "--reps", "9"]),
    # HISTORY_RUNS=1000000 for the size (the seeding alone takes minutes).
    ("history", ["postgresql", "sqlite"], ["--size", HISTORY_RUNS, "--reps", "9"]),
    ("burst", ["postgresql"], ["--runs", BURST_RUNS or "500", "--reps", "3"]),
    ("step_start", ["postgresql", "sqlite"], ["--reps", "30"]),
]
QUICK = [
    ("engine", [None], ["--sizes", "1000", "10000", "100000", "--reps", "3"]),
    ("tick", ["postgresql", "sqlite"], ["--sizes", "1000", "10000", "--reps", "3"]),
    ("drain", ["postgresql", "sqlite"], ["--runs", "1000", "--reps", "1"]),
    ("submit", ["postgresql", "sqlite"], ["--runs", "100", "--reps", "1"]),
    ("backfill", ["postgresql", "sqlite"], ["--runs", "1000", "--reps", "2"]),
    ("page", ["postgresql", "sqlite"], ["--size", "10000", "--reps", "5"]),
    ("memory", ["sqlite"], ["--sizes", "10000"]),
    (
        "slots",
        ["postgresql"],
        [
            "--processes",
            "1",
            "4",
            "8",
            "--seconds",
            "3",
            "--reps",
            "1",
            "--shapes",
            "single",
            "weighted",
            "multi_pool",
        ],
    ),
    ("latency", ["postgresql", "sqlite"], ["--reps", E2E_RUNS or "5"]),
    ("unlimited", ["postgresql"], ["--sizes", "100000", "--reps", "5"]),
    ("history", ["postgresql", "sqlite"], ["--size", "20000", "--reps", "3"]),
    ("burst", ["postgresql"], ["--runs", BURST_RUNS or "100", "--reps", "1"]),
    ("step_start", ["postgresql", "sqlite"], ["--reps", "10"]),
]

# Targets of the issue that need no Dagster figure (the ratios are in compare_dagster.py).
ABSOLUTE_TARGETS = [
    ("dequeue_tick_ms", {"db": "postgresql", "queued": 10000}, "<", 100.0),
    ("queued_page_ms", {"page": "queued_tab", "queued": 10000}, "<", 150.0),
    ("slot_oversubscriptions", {}, "==", 0),
    ("unlimited_tick_ms", {"db": "postgresql", "queued": 100000}, "<", 200.0),
    ("e2e_submit_to_started_ms", {"db": "postgresql", "broker": "redis"}, "<", 150.0),
    ("e2e_run_end_to_next_started_ms", {"db": "postgresql", "broker": "redis"}, "<", 150.0),
    ("e2e_submit_to_started_ms", {"db": "sqlite"}, "<", 500.0),
    ("e2e_submit_to_success_ms", {"db": "postgresql", "broker": "redis"}, "<", 300.0),
    ("step_overhead_ms", {"start": "zygote"}, "<", 30.0),
    ("backfill_submit_s", {"db": "postgresql", "partitions": 1000}, "<", 2.0),
    ("weighted_slot_oversubscriptions", {}, "==", 0),
    ("multi_pool_slot_oversubscriptions", {}, "==", 0),
]


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def database_env(kind: str) -> dict[str, str]:
    env = {
        **os.environ,
        "VAR_DIR": str(BENCH_VAR),
        "DJANGO_SETTINGS_MODULE": "concurrency_ui.settings",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
    }
    env.pop("CELERY_BROKER_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("CODE_LOCATIONS", None)  # the demo location: the jobs the workload submits
    if kind == "postgresql":
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{base}/{PG_DB}"
        if redis_available():
            env["CELERY_BROKER_URL"] = REDIS_URL
    else:
        env["DATABASE_URL"] = f"sqlite:///{BENCH_VAR / 'bench.sqlite3'}"
    return env


def prepare(kind: str) -> None:
    """A fresh, migrated database of this kind."""
    if kind == "postgresql":
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB}")
    else:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{BENCH_VAR / 'bench.sqlite3'}{suffix}").unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=database_env(kind),
        check=True,
    )


def cleanup(kinds: set[str]) -> None:
    if "postgresql" in kinds:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        if redis_available():
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
    shutil.rmtree(BENCH_VAR / "broker", ignore_errors=True)


def run_case(case: str, kind: str | None, options: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    label = case if kind is None else f"{case} on {kind}"
    print(f"== {label}", flush=True)
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "cases.py"), case, "--out", out, *options],
            cwd=ROOT,
            env=database_env(kind or "sqlite"),
            check=True,
        )
        with open(out) as fh:
            result = json.load(fh)
    except subprocess.CalledProcessError as exc:
        result = {"rows": [], "notes": [f"{label} failed (exit {exc.returncode})"]}
    finally:
        os.unlink(out)
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return result


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        info["postgresql"] = None
    import sqlite3

    info["sqlite"] = sqlite3.sqlite_version
    return info


def params_of(entry: dict[str, Any]) -> str:
    skip = {"figure", "median", "min", "max", "n", "unit", "case", "system"}
    return " ".join(
        f"{k}={v}"
        for k, v in entry.items()
        if k not in skip
        and not isinstance(v, dict | list)
        and k not in ("observer_samples", "observer_max_holders", "max_overlapping_intervals")
    )


def number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'figure':<26} {'parameters':<36} {'median':>10} {'min':>10} {'max':>10} {'n':>3}  unit",
        "-" * 106,
    ]
    for entry in rows:
        lines.append(
            f"{entry['figure']:<26} {params_of(entry):<36} {number(entry['median']):>10} "
            f"{number(entry['min']):>10} {number(entry['max']):>10} {entry['n']:>3}  {entry['unit']}"
        )
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for figure, params, op, bound in ABSOLUTE_TARGETS:
        for entry in rows:
            if entry["figure"] != figure or any(entry.get(k) != v for k, v in params.items()):
                continue
            value = entry["max"] if op == "==" else entry["median"]
            met = value == bound if op == "==" else value < bound
            lines.append(
                f"{'met    ' if met else 'NOT MET'} {figure} [{params_of(entry)}] "
                f"{number(value)} {op} {bound}"
            )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under 3 minutes")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args(argv)
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    plan = QUICK if args.quick else FULL
    if args.only:
        plan = [p for p in plan if p[0] in args.only]
    notes: list[str] = []
    has_pg = postgres_available()
    if not has_pg:
        notes.append(f"PostgreSQL did not answer at {PG_ADMIN_URL}: PostgreSQL figures skipped")
    elif not redis_available():
        notes.append(
            f"Redis did not answer at {REDIS_URL}: PostgreSQL ticks used the filesystem broker"
        )
    kinds = {k for _, ks, _ in plan for k in ks if k and (k != "postgresql" or has_pg)}
    if any(None in ks for _, ks, _ in plan):
        kinds.add("sqlite")  # the engine case loads the settings module too
    rows: list[dict[str, Any]] = []
    try:
        for kind in sorted(kinds):
            prepare(kind)
        for case, case_kinds, options in plan:
            for kind in case_kinds:
                if kind == "postgresql" and not has_pg:
                    continue
                result = run_case(case, kind, options)
                for entry in result["rows"]:
                    entry["case"] = case
                rows += result["rows"]
                notes += result["notes"]
    finally:
        cleanup(kinds)

    out = Path(args.out)
    if args.only and out.exists():
        # A partial run replaces its cases' rows in an earlier report of the same mode.
        earlier = json.loads(out.read_text())
        if earlier.get("mode") == ("quick" if args.quick else "full"):
            rows = [r for r in earlier["rows"] if r.get("case") not in args.only] + rows
    print()
    print(table(rows))
    targets = check_targets(rows)
    if targets:
        print("\nTargets without a Dagster figure (the rest: bench/compare_dagster.py):")
        print("\n".join(f"  {line}" for line in targets))
    for note in notes:
        print(f"note: {note}")
    report = {
        "mode": "quick" if args.quick else "full",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "rows": rows,
        "targets": targets,
        "notes": notes,
    }
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
