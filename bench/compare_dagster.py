"""Side by side with Dagster 1.13.28: the same workload through Dagster's own instance API.

    python bench/compare_dagster.py            # install Dagster if needed, run its cases,
                                               # compare with bench/results.json
    python bench/compare_dagster.py --reuse    # only re-render from bench/dagster_results.json

Not part of CI (it installs Dagster and takes tens of minutes). Dagster goes into its own
virtual environment, var/dagster-venv, never into the project's. Its PostgreSQL figures use
the throwaway database `bench_dagster` (`BENCH_DAGSTER_PG_DB` names another; created and
dropped here). The end-to-end case starts a Dagster daemon and code server and stops them
(bench/dagster_e2e.py); its sizes follow `E2E_RUNS` and `BURST_RUNS` as bench/run.py's. Writes
bench/dagster_results.json (Dagster's raw rows) and bench/dagster_comparison.md.
concurrency-ui's figures are read from bench/results.json: run `make bench` first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import run as ours  # noqa: E402

VENV = ROOT / "var" / "dagster-venv"
PYTHON = VENV / "bin" / "python"
DAGSTER = "dagster==1.13.28"
# dagster-postgres pins dagster exactly and no 0.29.28 was published; 0.29.27 (for dagster
# 1.13.27) is installed without its pin. Its storage code is what Dagster's PostgreSQL users run.
DAGSTER_POSTGRES = "dagster-postgres==0.29.27"
PG_DB = os.environ.get("BENCH_DAGSTER_PG_DB", "bench_dagster")
# Dagster's QueuedRunCoordinator polls every 5 s unless configured; DAGSTER_DEQUEUE_INTERVAL=1
# measures the e2e case with a shorter interval (what a tuned deployment might set).
DEQUEUE_INTERVAL = os.environ.get("DAGSTER_DEQUEUE_INTERVAL")
RAW = ROOT / "bench" / "dagster_results.json"
REPORT = ROOT / "bench" / "dagster_comparison.md"

PLAN = [
    ("tick", ["sqlite", "postgresql"], ["--sizes", "1000", "10000", "--reps", "3", "--memory"]),
    ("submit", ["sqlite", "postgresql"], ["--runs", "200", "--reps", "1"]),
    ("slots", ["postgresql"], ["--processes", "1", "4", "8", "--seconds", "8", "--reps", "3"]),
    ("drain", ["sqlite", "postgresql"], ["--runs", "5000", "--max-seconds", "480"]),
    # The whole path (bench/dagster_e2e.py); sizes as bench/run.py's latency and burst cases.
    (
        "e2e",
        ["postgresql"],
        [
            "--reps",
            ours.E2E_RUNS or "20",
            "--runs",
            ours.BURST_RUNS or "500",
            "--max-seconds",
            os.environ.get("BURST_MAX_SECONDS", "10800"),
            *(["--dequeue-interval", DEQUEUE_INTERVAL] if DEQUEUE_INTERVAL else []),
        ],
    ),  # fmt: skip
]

# (figure, params to match, "higher" or "lower" is better, target ratio or None[, statistic])
COMPARED: list[tuple[Any, ...]] = [
    ("dequeue_tick_ms", {"db": "sqlite", "queued": 1000}, "lower", None),
    ("dequeue_tick_ms", {"db": "sqlite", "queued": 10000}, "lower", 20),
    ("dequeue_tick_ms", {"db": "postgresql", "queued": 1000}, "lower", None),
    ("dequeue_tick_ms", {"db": "postgresql", "queued": 10000}, "lower", 20),
    ("launch_ms_per_run", {"db": "sqlite"}, "lower", 20),
    ("launch_ms_per_run", {"db": "postgresql"}, "lower", 20),
    ("drain_runs_per_s", {"db": "sqlite"}, "higher", None),
    ("drain_runs_per_s", {"db": "postgresql"}, "higher", None),
    ("submit_runs_per_s", {"db": "sqlite", "via": "service"}, "higher", 20),
    ("submit_runs_per_s", {"db": "postgresql", "via": "service"}, "higher", 20),
    ("slot_cycles_per_s", {"processes": 1}, "higher", None),
    ("slot_cycles_per_s", {"processes": 4}, "higher", 10),
    ("slot_cycles_per_s", {"processes": 8}, "higher", None),
    ("slot_oversubscriptions", {"processes": 1}, "zero", None),
    ("slot_oversubscriptions", {"processes": 4}, "zero", None),
    ("slot_oversubscriptions", {"processes": 8}, "zero", None),
    ("tick_peak_memory_mb", {"queued": 10000, "db": "sqlite"}, "lower", None),
    ("tick_peak_memory_mb", {"queued": 10000, "db": "postgresql"}, "lower", None),
    ("e2e_submit_to_started_ms", {"db": "postgresql"}, "lower", None),
    ("e2e_submit_to_started_ms", {"db": "postgresql"}, "lower", None, "p95"),
    ("e2e_submit_to_success_ms", {"db": "postgresql"}, "lower", 10),
    ("e2e_submit_to_success_ms", {"db": "postgresql"}, "lower", 10, "p95"),
    ("burst_wall_s", {"db": "postgresql"}, "lower", 10),
    ("burst_runs_per_s", {"db": "postgresql"}, "higher", 10),
]


def install() -> None:
    if PYTHON.exists():
        check = subprocess.run(
            [str(PYTHON), "-c", "import dagster, dagster_postgres; print(dagster.__version__)"],
            capture_output=True,
            text=True,
        )
        if check.returncode == 0 and check.stdout.strip() == DAGSTER.split("==")[1]:
            return
    print(f"== installing {DAGSTER} into {VENV}", flush=True)
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, DAGSTER, "psycopg2-binary"], check=True)
    subprocess.run([*pip, "--no-deps", DAGSTER_POSTGRES], check=True)


def pg_url() -> str:
    return f"{ours.PG_ADMIN_URL.rsplit('/', 1)[0]}/{PG_DB}".replace(
        "postgres://", "postgresql://", 1
    )


def run_dagster_case(case: str, kind: str, options: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    print(f"== dagster {case} on {kind}", flush=True)
    started = time.monotonic()
    env = {**os.environ, "DAGSTER_BENCH_PG_URL": pg_url(), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    try:
        subprocess.run(
            [
                str(PYTHON),
                str(ROOT / "bench" / "dagster_cases.py"),
                case,
                "--db",
                kind,
                "--out",
                out,
                *options,
            ],
            cwd=ROOT / "bench",
            env=env,
            check=True,
        )
        result = json.loads(Path(out).read_text())
    except subprocess.CalledProcessError as exc:
        result = {"rows": [], "notes": [f"dagster {case} on {kind} failed (exit {exc.returncode})"]}
    finally:
        os.unlink(out)
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return result


def dagster_version_line() -> str:
    out = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import dagster, dagster_postgres, sqlalchemy; "
            "print(dagster.__version__, dagster_postgres.__version__, sqlalchemy.__version__)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    ).stdout.split()
    return (
        f"dagster {out[0]}, dagster-postgres {out[1]}, SQLAlchemy {out[2]}"
        if len(out) == 3
        else "?"
    )


def find(rows: list[dict[str, Any]], figure: str, params: dict[str, Any]) -> dict[str, Any] | None:
    for entry in rows:
        if entry["figure"] == figure and all(entry.get(k) == v for k, v in params.items()):
            return entry
    return None


def comparison(ours_rows: list[dict], theirs_rows: list[dict]) -> list[dict[str, Any]]:
    lines = []
    for figure, params, better, target, *rest in COMPARED:
        stat = rest[0] if rest else "median"
        mine, theirs = find(ours_rows, figure, params), find(theirs_rows, figure, params)
        if mine is None or theirs is None or stat not in mine or stat not in theirs:
            continue
        if better == "zero":
            ratio = None
            met = mine["max"] == 0
        elif better == "lower":
            # Dagster's figure may be a lower bound (a burst stopped at its time limit).
            ratio = theirs[stat] / mine[stat] if mine[stat] else float("inf")
            met = None if target is None else ratio >= target
        else:
            ratio = mine[stat] / theirs[stat] if theirs[stat] else float("inf")
            met = None if target is None else ratio >= target
        if better == "lower" and mine.get("runs") != theirs.get("runs"):
            ratio = met = None  # totals of bursts of different sizes do not compare
        elif theirs.get("at_least") and not met:
            met = None  # Dagster's figure is a lower bound: the target may still be met
        lines.append(
            {
                "figure": figure,
                "params": params,
                "ours": mine,
                "dagster": theirs,
                "ratio": ratio,
                "target": target,
                "met": met,
                "better": better,
                "stat": stat,
                "unit": mine["unit"],
            }
        )
    return lines


def render(report: dict, dagster: dict, lines: list[dict], report_notes: list[str]) -> str:
    m = report["machine"]
    out = [
        "# concurrency-ui and Dagster side by side",
        "",
        "Generated by `bench/compare_dagster.py` (not part of CI). Same workload for both",
        "systems (bench/workload.py): the same queued runs (tags, priorities, pool demands),",
        "ten tag limits of the three kinds, five pools with limits, `max_concurrent_runs: 20`",
        "(each tick launches up to 20 runs), and a run launcher that does nothing; the",
        "end-to-end rows (e2e_*, burst_*) run both systems whole instead (below).",
        "Figures are medians of the repetitions (min–max in brackets); the ratio is how many",
        "times better concurrency-ui is (Dagster ÷ ours for times, ours ÷ Dagster for rates).",
        "",
        "## Machine",
        "",
        f"- CPUs (nproc): {m['nproc']}; CPU: {m['cpu'] or 'unknown'}",
        f"- Memory: {m['memory_gib']} GiB",
        f"- Python {m['python']}; PostgreSQL {m.get('postgresql') or 'not available'}; SQLite {m['sqlite']}",
        f"- {m['platform']}",
        f"- Dagster side: {dagster.get('versions', '?')}",
        f"- concurrency-ui figures: bench/results.json, mode `{report['mode']}`, generated {report['generated_at']}",
        f"- Dagster figures: generated {dagster.get('generated_at', '?')}",
        "- A shared cloud VM: its speed varied by up to 2x within this session (a plain Python"
        " loop); treat differences under 2x between separate runs as noise.",
        *([f"- {note}" for note in report_notes] if report_notes else []),
        "",
        "## Figures",
        "",
        "| figure | parameters | concurrency-ui | Dagster 1.13.28 | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def cell(entry: dict, stat: str = "median") -> str:
        if entry.get("at_least"):
            return (
                f"≥ {ours.number(entry['median'])} {entry['unit']} "
                f"(stopped: {entry['finished']} of {entry['runs']} runs finished)"
            )
        if stat != "median":
            return f"{ours.number(entry[stat])} {entry['unit']} (n={entry['n']})"
        if entry["n"] > 1:
            return (
                f"{ours.number(entry['median'])} {entry['unit']} "
                f"({ours.number(entry['min'])}–{ours.number(entry['max'])})"
            )
        return f"{ours.number(entry['median'])} {entry['unit']}"

    for line in lines:
        params = ", ".join(f"{k}={v}" for k, v in line["params"].items())
        if line["stat"] != "median":
            params = f"{params}, {line['stat']}"
        if "runs" in line["ours"]:  # a burst: the sizes, which a quick run may make differ
            params += f", runs={line['ours']['runs']}" + (
                f" (Dagster {line['dagster']['runs']})"
                if line["dagster"].get("runs") != line["ours"]["runs"]
                else ""
            )
        ratio = "–" if line["ratio"] is None else f"{line['ratio']:.1f}×"
        if line["dagster"].get("at_least") and line["ratio"] is not None:
            ratio = f"≥ {ratio}"
        verdict = {True: "met", False: "NOT MET", None: "not known"}[line["met"]]
        if line["better"] == "zero":
            target = "0 (met)" if line["met"] else "0 (NOT MET)"
        elif line["target"] is None:
            target = ""
        else:
            target = f"≥ {line['target']}× ({verdict})"
        out.append(
            f"| {line['figure']} | {params} | {cell(line['ours'], line['stat'])} "
            f"| {cell(line['dagster'], line['stat'])} | {ratio} | {target} |"
        )
    out += ["", "Targets that need no Dagster figure (from bench/results.json):", ""]
    out += [f"- {t}" for t in report.get("targets", [])]
    compared = {id(line["ours"]) for line in lines}
    alone = [r for r in report["rows"] if id(r) not in compared]
    if alone:
        out += ["", "concurrency-ui figures without a Dagster counterpart:", ""]
        out += ["| figure | parameters | median (min–max) |", "| --- | --- | --- |"]
        out += [f"| {r['figure']} | {ours.params_of(r)} | {cell(r)} |" for r in alone]
    extra = [r for r in dagster["rows"] if r["figure"] == "dequeue_select_ms"]
    if extra:
        out += ["", "Dagster's read-and-order step alone (`_get_runs_to_dequeue`, no launch):", ""]
        out += [f"- {r['db']}, {r['queued']} queued: {ours.number(r['median'])} ms" for r in extra]
    out += ["", "## What was driven, and what could not be", ""]
    out += [
        "- Tick: `QueuedRunCoordinatorDaemon(interval_seconds=5).run_iteration(context)` on a",
        "  `DagsterInstance` from a temporary `dagster.yaml` (`run_queue` block as ours, the",
        "  no-op launcher of bench/dagster_cases.py, SQLite or PostgreSQL storage). Queued runs",
        "  are added with `instance.add_run(DagsterRun(status=QUEUED, tags, run_op_concurrency))`",
        "  (the pool demand the webserver would compute from the plan). The first iteration",
        "  warms caches and is not counted; after each iteration the launched runs report",
        "  RUN_SUCCESS and as many new runs are queued, so the queue length stays put.",
        "- Launch cost: the time inside the daemon's `_dequeue_run` (re-read the run, write the",
        "  STARTING event, re-read, call the launcher) per run, while draining 5,000 runs. Ours:",
        "  the tick's time after the engine decided (status updates, events, waiting reasons,",
        "  Celery sends) per launched run. Drain rate counts only the ticks' time for both.",
        "- Submit: `instance.create_run_for_job(job, tags)` (run and plan snapshot) then the",
        "  queued coordinator's `submit_run` (the enqueue event). `instance.submit_run` itself",
        "  refuses runs without a code-location origin, which needs a running code server; the",
        "  coordinator call is what it delegates to. Dagster's GraphQL `launchRun` (its REST-less",
        "  equivalent of our POST /api/runs/) needs dagster-webserver and a code server, so only",
        "  the service-layer figure is compared.",
        "- Slots: `event_log_storage.claim_concurrency_slot(pool, run_id, step_key)` until",
        "  CLAIMED, then `free_concurrency_slot_for_step`, in N processes on one pool of limit 2",
        "  (PostgreSQL). The observer counts `concurrency_slots` rows holding a run in a loop;",
        "  the workers' own [claimed, freed] intervals are merged as well.",
        "- Not compared: `engine_decide_ms` (Dagster has no storage-free decision function: its",
        "  ordering and limit checks are interleaved with paged reads; the read-and-order figure",
        "  above is the closest), and `queued_page_ms` (Dagster's Queued tab is a GraphQL query",
        "  served by dagster-webserver, not installed here).",
        "- End to end (`e2e_*`, `burst_*`, bench/dagster_e2e.py): a temporary DAGSTER_HOME whose",
        "  `dagster.yaml` sets the QueuedRunCoordinator (`max_concurrent_runs: 8`, the default",
        "  5 s dequeue interval unless `DAGSTER_DEQUEUE_INTERVAL` is set) and PostgreSQL storage,",
        "  with the default run launcher; `dagster api grpc` serving bench/dagster_noop.py (one",
        "  op that logs a line: the twin of our demo `quick` with its nap scaled to 0; the job",
        "  runs on the default multiprocess executor); `dagster-daemon run` (every daemon a",
        "  deployment runs). Runs are submitted in the driving process as `launchRun` and",
        "  `dagster job launch` do: the execution plan from the code server, `create_run`,",
        "  `submit_run` (the remote job is read once, as the webserver caches it). Times are",
        "  the run records' start/end stamps against the driver's clock before the submit.",
        "  Ours: `bench/e2e.py` (cases `latency` and `burst` of `make bench`): `services.runs.",
        "  submit` with a control worker and Celery runs workers (one for single runs, two for",
        "  the burst, `max_concurrent_runs: 8`), PostgreSQL + Redis, no beat. Single runs are",
        "  submitted one at a time, 0.3 s after the previous one ended, on both sides; the",
        "  first run of each side warms the workers or code server and is not counted. The",
        "  burst's wall time runs from the first submit to the last run's end (the submits",
        "  included); every run must succeed.",
        "- dagster-postgres: no 0.29.28 exists for dagster 1.13.28; 0.29.27 is installed with",
        "  `--no-deps` beside dagster 1.13.28 (it pins dagster==1.13.27 exactly).",
    ]
    notes = dagster.get("notes", [])
    if notes:
        out += ["", "## Notes from the Dagster run", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reuse", action="store_true", help="do not run Dagster; re-render only")
    parser.add_argument("--only", nargs="*", help="run only these Dagster cases (rows merge)")
    parser.add_argument("--note", action="append", help="a line about this run's conditions")
    args = parser.parse_args(argv)
    results = ROOT / "bench" / "results.json"
    if not results.exists():
        print("bench/results.json is missing: run `make bench` first", file=sys.stderr)
        return 2
    report = json.loads(results.read_text())
    if args.reuse:
        dagster = json.loads(RAW.read_text())
    else:
        install()
        if not ours.postgres_available():
            print("PostgreSQL is needed for the comparison", file=sys.stderr)
            return 2
        previous = (
            json.loads(RAW.read_text()) if RAW.exists() and args.only else {"rows": [], "notes": []}
        )
        plan = [p for p in PLAN if not args.only or p[0] in args.only]
        ran = {(case, kind) for case, kinds, _ in plan for kind in kinds}
        rows = [r for r in previous["rows"] if (r.get("case"), r.get("db")) not in ran]
        notes = list(previous["notes"])
        ours.pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        ours.pg_admin(f"CREATE DATABASE {PG_DB}")
        try:
            for case, kinds, options in plan:
                for kind in kinds:
                    result = run_dagster_case(case, kind, options)
                    for entry in result["rows"]:
                        entry["case"] = case
                    rows += result["rows"]
                    notes += result["notes"]
                    RAW.write_text(json.dumps({"rows": rows, "notes": notes}, indent=1) + "\n")
        finally:
            ours.pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        dagster = {
            "rows": rows,
            "notes": notes,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": dagster_version_line(),
        }
        RAW.write_text(json.dumps(dagster, indent=1) + "\n")
    lines = comparison(report["rows"], dagster["rows"])
    text = render(report, dagster, lines, args.note or [])
    REPORT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
