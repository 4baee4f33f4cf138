"""Dagster end to end, as a Dagster user runs it (the `e2e` case of bench/dagster_cases.py).

Runs inside the Dagster virtual environment. A temporary DAGSTER_HOME holds a
`dagster.yaml` with the QueuedRunCoordinator (`max_concurrent_runs` as asked, Dagster's
default 5 s dequeue interval unless told otherwise), the default run launcher and the
storage it is given; a gRPC code server (`dagster api grpc`) serves bench/dagster_noop.py
(one no-op op, the twin of concurrency-ui's `quick` with its nap scaled to nothing, whose
job uses Dagster's default multiprocess executor); `dagster-daemon run` runs every daemon
a deployment runs. Runs are submitted the way Dagster's own `launchRun` mutation and
`dagster job launch` do it, in this process: the remote job (read once from the code server,
as the webserver caches it), then per run the execution plan from the code server,
`instance.create_run` and `instance.submit_run` (the coordinator's enqueue). Times are the
run records' `start_time` / `end_time` (written by the run worker from its events, same
machine) against this process's clock just before the submit.

Every process started here is started in its own session and killed with its whole
process group (and any descendant that left it) on the way out, failure or not.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LOCATION = "bench_e2e"
JOB = "quick"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command may hold spaces and parentheses: the fields after the last ")".
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group (and descendants outside it), then, `grace` seconds on,
    SIGKILL what is left."""
    pids = [proc.pid, *_descendants(proc.pid)]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not any(_alive(p) for p in pids[1:]):
                return
            time.sleep(0.1)
    proc.wait(5)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Deployment:
    """DAGSTER_HOME, code server, daemon, and this process's instance and workspace."""

    def __init__(
        self,
        home: str,
        storage: dict[str, Any],
        max_concurrent_runs: int,
        dequeue_interval_seconds: int | None = None,
    ) -> None:
        self.home = Path(home)
        self.storage = storage
        self.max_concurrent_runs = max_concurrent_runs
        self.dequeue_interval_seconds = dequeue_interval_seconds
        self.procs: list[subprocess.Popen] = []
        self.port = _free_port()
        self.instance: Any = None
        self._workspace_context: Any = None
        self._remote_job: Any = None
        self._code_location: Any = None

    # -- processes --------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home), "PYTHONWARNINGS": "ignore"}

    def _start(self, name: str, command: list[str]) -> None:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                command,
                cwd=self.home,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def _wait_code_server(self, timeout: float = 120) -> None:
        from dagster._grpc.client import DagsterGrpcClient

        client = DagsterGrpcClient(port=self.port, host="127.0.0.1")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                raise RuntimeError(f"the code server exited; see {self.home / 'code-server.log'}")
            try:
                client.ping("bench")
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"the code server did not answer within {timeout:g} s")

    def __enter__(self) -> Deployment:
        coordinator_config: dict[str, Any] = {"max_concurrent_runs": self.max_concurrent_runs}
        if self.dequeue_interval_seconds is not None:
            coordinator_config["dequeue_interval_seconds"] = self.dequeue_interval_seconds
        document = {
            "storage": self.storage,
            "run_coordinator": {
                "module": "dagster._core.run_coordinator",
                "class": "QueuedRunCoordinator",
                "config": coordinator_config,
            },
            "telemetry": {"enabled": False},
        }
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(document))
        workspace = {
            "load_from": [
                {
                    "grpc_server": {
                        "host": "127.0.0.1",
                        "port": self.port,
                        "location_name": LOCATION,
                    }
                }
            ]
        }
        (self.home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        try:
            self._start(
                "code-server",
                [
                    str(BIN / "dagster"), "api", "grpc", "--python-file",
                    str(HERE / "dagster_noop.py"), "--host", "127.0.0.1",
                    "--port", str(self.port), "--location-name", LOCATION,
                ],
            )  # fmt: skip
            self._wait_code_server()
            self._start(
                "daemon",
                [str(BIN / "dagster-daemon"), "run", "-w", str(self.home / "workspace.yaml")],
            )
            self._open_workspace()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._workspace_context is not None:
            self._workspace_context.__exit__(None, None, None)
            self._workspace_context = None
        for proc in reversed(self.procs):
            _kill_tree(proc)
        self.procs = []
        if self.instance is not None:
            self.instance.dispose()
            self.instance = None

    # -- submitting and reading -------------------------------------------------------

    def _open_workspace(self) -> None:
        from dagster import DagsterInstance
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import GrpcServerTarget

        self.instance = DagsterInstance.from_config(str(self.home))
        self._workspace_context = WorkspaceProcessContext(
            self.instance,
            GrpcServerTarget(host="127.0.0.1", port=self.port, socket=None, location_name=LOCATION),
        ).__enter__()
        workspace = self._workspace_context.create_request_context()
        self._code_location = workspace.get_code_location(LOCATION)
        repository = next(iter(self._code_location.get_repositories().values()))
        self._remote_job = repository.get_full_job(JOB)
        self._repository = repository

    def submit(self) -> str:
        """What `launchRun` does: the plan from the code server, the run, the enqueue."""
        workspace = self._workspace_context.create_request_context()
        remote_job = self._remote_job
        plan = self._code_location.get_execution_plan(
            remote_job, {}, step_keys_to_execute=None, known_state=None, instance=self.instance
        ).execution_plan_snapshot
        run = self.instance.create_run(
            job_name=remote_job.name,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=dict(remote_job.tags),
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=self._repository.asset_graph,
        )
        self.instance.submit_run(run.run_id, workspace)
        return run.run_id

    def wait_one(self, run_id: str, timeout: float) -> Any:
        from dagster._core.storage.dagster_run import FINISHED_STATUSES

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.instance.get_run_record_by_id(run_id)
            if record is not None and record.dagster_run.status in FINISHED_STATUSES:
                return record
            time.sleep(0.01)
        raise RuntimeError(f"timed out after {timeout:g} s waiting for run {run_id}")


def single(deployment: Deployment, timeout: float = 120) -> dict[str, float]:
    """One run, submitted and waited for: submit → STARTED and submit → SUCCESS in ms."""
    began = time.time()
    run_id = deployment.submit()
    record = deployment.wait_one(run_id, timeout)
    status = record.dagster_run.status.value
    if status != "SUCCESS" or record.start_time is None or record.end_time is None:
        raise RuntimeError(f"run {run_id} ended {status}; see {deployment.home}")
    return {
        "started_ms": (record.start_time - began) * 1000,
        "success_ms": (record.end_time - began) * 1000,
    }


def burst(deployment: Deployment, count: int, timeout: float) -> dict[str, Any]:
    """`count` runs submitted at once: wall time from the first submit to the last run's
    end (s) and runs per second; raises if a run did not succeed. After `timeout` seconds
    it stops waiting: `finished` runs, the wall time so far (a lower bound) and the rate of
    the runs that finished, marked `partial`."""
    from dagster._core.storage.dagster_run import FINISHED_STATUSES, RunsFilter

    began = time.time()
    ids = [deployment.submit() for _ in range(count)]
    submitted = time.time() - began
    deadline = time.monotonic() + timeout
    finished_filter = RunsFilter(run_ids=ids, statuses=list(FINISHED_STATUSES))
    shown = time.monotonic()
    while (done := deployment.instance.get_runs_count(finished_filter)) < count:
        if time.monotonic() > deadline:
            break
        if time.monotonic() - shown > 30:
            shown = time.monotonic()
            print(
                f"    {done} of {count} runs finished after {time.time() - began:.0f} s", flush=True
            )
        time.sleep(0.5)
    records = [
        r
        for r in deployment.instance.get_run_records(RunsFilter(run_ids=ids))
        if r.dagster_run.status in FINISHED_STATUSES
    ]
    failed = [r for r in records if r.dagster_run.status.value != "SUCCESS"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} runs did not succeed")
    if len(records) < count:
        wall = time.time() - began
        last = max((r.end_time for r in records), default=began)
        return {
            "wall_s": wall,
            "runs_per_s": len(records) / (last - began) if records else 0.0,
            "submit_s": submitted,
            "finished": len(records),
            "partial": True,
        }
    wall = max(r.end_time for r in records) - began
    return {"wall_s": wall, "runs_per_s": count / wall, "submit_s": submitted, "finished": count}
