"""Warm steps (queueing/zygote.py): the executor runs here, in the test process, as a runs
worker's thread does; its steps are forked by a real zygote process (or started cold) and
write to the committed test database."""

from __future__ import annotations

import os
import pickle
import signal
import textwrap
import threading

import pytest

from queueing import locations, zygote
from queueing.engine.types import RunStatus
from queueing.models import Run, Step
from queueing.services import execution, runs
from tests.support.workers import child_env, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not zygote.supported(), reason="the zygote needs Linux"),
]


@pytest.fixture
def worker_env(monkeypatch):
    """This process's environment as a worker's: its children use the test database."""
    for key, value in child_env().items():
        monkeypatch.setenv(key, value)
    zygote.shutdown()
    yield
    zygote.shutdown()


@pytest.fixture
def warm(worker_env):
    ready = zygote.warm()
    assert ready is not None, "the zygote did not come up"
    return ready


def _execute(job: str, run_config: dict | None = None) -> Run:
    run = runs.submit(job, run_config=run_config, actor="test")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.STARTING)
    execution.execute_run(run.run_id)
    run.refresh_from_db()
    return run


def _in_thread(job: str, run_config: dict | None = None) -> tuple[Run, threading.Thread]:
    run = runs.submit(job, run_config=run_config, actor="test")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.STARTING)
    thread = threading.Thread(target=execution.execute_run, args=(run.run_id,))
    thread.start()
    return run, thread


def _outputs(run: Run) -> dict[str, dict]:
    return {s.step_key: pickle.loads(bytes(s.output)) for s in run.steps.all()}


def _running_pid(run: Run, step_key: str) -> int:
    return wait_until(
        lambda: (
            Step.objects.filter(run=run, step_key=step_key, status=Step.Status.RUNNING)
            .exclude(pid=None)
            .values_list("pid", flat=True)
            .first()
        ),
        timeout=60,
        message=f"step {step_key} to run",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to read its exit status.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_each_step_is_a_forked_child_of_the_zygote_with_a_connection_of_its_own(warm):
    run = _execute("whoami", {"ops": {"where_a": {"config": {"seconds": 0.5}}}})

    assert run.status == RunStatus.SUCCESS
    where = _outputs(run)
    a, b = where["where_a"], where["where_b"]
    assert a["ppid"] == b["ppid"] == warm.pid
    assert len({a["pid"], b["pid"], warm.pid, os.getpid()}) == 4
    assert {s.step_key: s.pid for s in run.steps.all()} == {
        "where_a": a["pid"],
        "where_b": b["pid"],
    }
    if a["backend"] is not None:  # PostgreSQL: each step opened its own session
        assert a["backend"] != b["backend"]
    # The zygote never holds a connection a child could inherit, and has reaped both.
    status = warm.status()
    assert status["open_connections"] == [] and status["children"] == []


def test_a_step_that_kills_its_process_leaves_the_zygote_and_the_other_steps_running(warm):
    slow, thread = _in_thread("sleepy", {"ops": {"plain_sleep": {"config": {"seconds": 2}}}})
    slow_pid = _running_pid(slow, "plain_sleep")

    crashed = _execute("crashes")

    assert crashed.status == RunStatus.FAILURE
    step = crashed.steps.get(step_key="crash_hard")
    assert step.status == Step.Status.FAILURE and "exited with code 7" in step.error
    assert crashed.steps.get(step_key="downstream").status == Step.Status.SKIPPED
    assert _alive(slow_pid) and warm.status()["pid"] == warm.pid
    thread.join(60)
    slow.refresh_from_db()
    assert slow.status == RunStatus.SUCCESS
    assert warm.status()["pid"] == warm.pid and not warm.dead.is_set()


def _catches_sigterm(pid: int) -> bool:
    """The step process has installed its SIGTERM handler: the op is about to run or runs."""
    with open(f"/proc/{pid}/status") as fh:
        caught = next(line for line in fh if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("warm_steps", [True, False], ids=["forked", "cold"])
def test_canceling_a_run_stops_its_step_process_the_same_way_forked_or_cold(
    worker_env, settings, warm_steps
):
    settings.STEP_ZYGOTE = warm_steps
    ready = zygote.warm() if warm_steps else None
    run, thread = _in_thread("sleepy", {"ops": {"plain_sleep": {"config": {"seconds": 120}}}})
    pid = _running_pid(run, "plain_sleep")
    wait_until(lambda: _catches_sigterm(pid), timeout=60, message="the op to run")
    if ready is not None:
        assert ready.status()["children"] == [pid]

    runs.terminate(run.run_id, actor="test")
    thread.join(60)

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    step = run.steps.get()
    # SIGTERM interrupts the op, which reports the interruption as the step's failure.
    assert step.status == Step.Status.FAILURE and "KeyboardInterrupt: terminated" in step.error
    assert not _alive(pid)
    if ready is not None:
        assert ready.status()["children"] == []  # reaped; the zygote serves the next step
    assert _execute("quick").status == RunStatus.SUCCESS


def test_a_dead_zygote_fails_its_running_step_and_the_next_step_gets_a_new_one(warm):
    run, thread = _in_thread("sleepy", {"ops": {"plain_sleep": {"config": {"seconds": 120}}}})
    pid = _running_pid(run, "plain_sleep")

    os.kill(warm.pid, signal.SIGKILL)
    thread.join(60)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE
    step = run.steps.get()
    assert step.status == Step.Status.FAILURE
    assert f"exited with code {-signal.SIGKILL}" in step.error
    assert not _alive(pid), "a step must die with its zygote (parent-death signal)"
    # The next step starts cold at once, or forked by a new zygote: either way it runs.
    assert _execute("quick").status == RunStatus.SUCCESS
    again = zygote.warm()
    assert again is not None and again.pid != warm.pid
    run = _execute("whoami")
    assert {w["ppid"] for w in _outputs(run).values()} == {again.pid}


def test_a_changed_code_location_replaces_the_zygote(worker_env, monkeypatch, tmp_path):
    module = f"zygote_probe_{os.getpid()}"
    source = tmp_path / f"{module}.py"

    def write(version: str, mtime: int) -> None:
        source.write_text(
            textwrap.dedent(
                f"""
                import os
                from queueing.definitions import Definitions, job, op

                @op
                def which_version():
                    return ("{version}", os.getppid())

                @job
                def versioned():
                    which_version()

                defs = Definitions(jobs=[versioned])
                """
            )
        )
        os.utime(source, ns=(mtime, mtime))  # same size: only the time says it changed

    write("v1", 1_000_000_000 * 10**9)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("CODE_LOCATIONS", f"{os.environ['CODE_LOCATIONS']},{module}")
    monkeypatch.setattr(locations, "_workspace", locations.Workspace.load())
    first = zygote.warm()
    assert first is not None

    def version() -> tuple[str, int]:
        run = _execute("versioned")
        assert run.status == RunStatus.SUCCESS, run.failure_reason
        return pickle.loads(bytes(run.steps.get().output))

    assert version() == ("v1", first.pid)
    write("v2", 1_000_000_100 * 10**9)
    # The stale zygote refuses: this step starts cold, with the new code.
    assert version() == ("v2", os.getpid())
    second = zygote.warm()
    assert second is not None and second.pid != first.pid
    assert version() == ("v2", second.pid)


def test_with_the_zygote_off_steps_start_cold(worker_env, settings):
    settings.STEP_ZYGOTE = False
    run = _execute("whoami")
    assert run.status == RunStatus.SUCCESS
    assert {w["ppid"] for w in _outputs(run).values()} == {os.getpid()}
    with zygote._lock:
        assert zygote._current is None, "no zygote is started when it is off"


def test_no_step_waits_for_a_zygote_still_starting_it_starts_cold_meanwhile(worker_env):
    # Nothing warmed it: the first launch starts the zygote, which cannot be ready yet.
    run = _execute("whoami")
    assert run.status == RunStatus.SUCCESS
    assert {w["ppid"] for w in _outputs(run).values()} == {os.getpid()}
    ready = zygote.warm()
    assert ready is not None
    run = _execute("whoami")
    assert {w["ppid"] for w in _outputs(run).values()} == {ready.pid}


def test_a_step_that_reports_before_its_start_is_recorded_keeps_its_result(warm, monkeypatch):
    # A forked no-op step can finish before the executor has written RUNNING: that write
    # must not undo the step's SUCCESS (the executor would then fail it as a crash).
    record_start = execution.Executor._record_start

    def after_the_step_reported(self, key, pid):
        wait_until(
            lambda: Step.objects.filter(run=self.run, step_key=key, status="SUCCESS").exists(),
            timeout=60,
            message="the step to report",
        )
        record_start(self, key, pid)

    monkeypatch.setattr(execution.Executor, "_record_start", after_the_step_reported)
    run = _execute("quick")

    assert run.status == RunStatus.SUCCESS, run.failure_reason
    step = run.steps.get()
    assert step.status == Step.Status.SUCCESS
    assert step.pid is not None and step.started_at is not None
