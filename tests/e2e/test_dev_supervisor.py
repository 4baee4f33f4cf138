"""`manage.py dev` supervises its children: a dead one comes back, the others keep going."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.request

import pytest

from queueing.engine.types import FINISHED_STATUSES, RunStatus
from queueing.models import Run
from queueing.services import runs
from queueing.supervisor import Supervisor, read_state
from tests.services.helpers import load_config
from tests.support.workers import wait_until

CRASH = (
    "import sys\n"
    "print('starting', flush=True)\n"
    "def inner():\n"
    "    raise RuntimeError('boom at the bottom of the stack')\n"
    "def outer():\n"
    "    inner()\n"
    "outer()\n"
)
STEADY = "import time\nprint('up', flush=True)\ntime.sleep(120)\n"


def test_a_child_that_dies_is_restarted_with_back_off_and_its_whole_traceback_printed(tmp_path):
    out = io.StringIO()
    supervisor = Supervisor(
        [("crashy", [sys.executable, "-c", CRASH]), ("steady", [sys.executable, "-c", STEADY])],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        var_dir=tmp_path,
        out=out,
    )
    for child in supervisor.children:
        supervisor.start(child)
    steady_pid = supervisor.children[1].proc.pid
    restarts_seen: list[float] = []
    exits_seen: list[float] = []
    try:
        deadline = time.monotonic() + 20
        while len(restarts_seen) < 2 and time.monotonic() < deadline:
            before = out.getvalue()
            supervisor.step(timeout=0.05)
            new = out.getvalue()[len(before) :]
            if "exited unexpectedly" in new:
                exits_seen.append(time.monotonic())
            if "started again" in new:
                restarts_seen.append(time.monotonic())
        state = read_state(tmp_path)
    finally:
        supervisor.stop()
    log = out.getvalue()
    assert len(restarts_seen) == 2, log
    # Back-off: 1 s before the first restart, 2 s before the second.
    assert 0.9 <= restarts_seen[0] - exits_seen[0] < 1.6
    assert 1.9 <= restarts_seen[1] - exits_seen[1] < 2.6
    # The whole traceback, every line under the child's prefix.
    prefixed = [line for line in log.splitlines() if "crashy |" in line]
    text = "\n".join(prefixed)
    for expected in (
        "Traceback (most recent call last)",
        "in outer",
        "in inner",
        "RuntimeError: boom",
    ):
        assert expected in text, log
    assert "exited unexpectedly (exit code 1)" in text
    # The other child was never touched.
    assert supervisor.children[1].proc.pid == steady_pid and "steady |" in log
    crashy = next(p for p in state["processes"] if p["name"] == "crashy")
    steady = next(p for p in state["processes"] if p["name"] == "steady")
    assert crashy["restarts"] == 2 and crashy["last_exit_code"] == 1 and crashy["last_exit_at"]
    assert steady["restarts"] == 0 and steady["running"]
    final = read_state(tmp_path)
    assert final["stopped_at"] and not any(p["running"] for p in final["processes"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except Exception:
        return 0


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_under_manage_py_dev_killed_workers_come_back_and_queued_runs_finish(processes, tmp_path):
    load_config(
        {
            "run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 2},
            "run_monitoring": {"poll_interval_seconds": 1},
            "concurrency_ui": {
                "run_heartbeat_timeout_seconds": 10,
                "resend_starting_after_seconds": 10,
            },
        }
    )
    var = tmp_path / "var"
    port = _free_port()
    dev = processes.start(
        "dev",
        ["manage.py", "dev", "--port", str(port)],
        VAR_DIR=str(var),
        # The embedded broker, whatever this session uses: it is what `make dev` runs.
        CELERY_BROKER_URL="filesystem://localhost//",
        REDIS_URL="",
    )
    login = f"http://127.0.0.1:{port}/login/"

    def state():
        return read_state(var) or {"processes": []}

    def process(name):
        return next((p for p in state()["processes"] if p["name"] == name), None)

    first = [runs.submit("quick", actor="test").run_id for _ in range(2)]
    wait_until(
        lambda: Run.objects.filter(run_id__in=first, status=RunStatus.SUCCESS).count() == 2,
        timeout=120,
        message="the first runs to finish under manage.py dev",
    )
    # Runs in flight when the workers die: one queued behind two long ones.
    sleeper = {"ops": {"plain_sleep": {"config": {"seconds": 3}}}}
    busy = [runs.submit("sleepy", run_config=sleeper, actor="test").run_id for _ in range(2)]
    wait_until(
        lambda: Run.objects.filter(run_id__in=busy, status=RunStatus.STARTED).count() == 2,
        timeout=60,
        message="two runs executing",
    )
    killed = {name: process(name)["pid"] for name in ("control", "runs")}
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    queued = [runs.submit("quick", actor="test").run_id for _ in range(4)]

    # The web server keeps serving while the workers are down and coming back.
    assert _get(login) == 200
    wait_until(
        lambda: all(
            (p := process(name))
            and p["running"]
            and p["pid"] != killed[name]
            and p["restarts"] == 1
            for name in killed
        ),
        timeout=60,
        message="both workers to be restarted",
    )
    assert _get(login) == 200
    wait_until(
        lambda: (
            Run.objects.filter(run_id__in=busy + queued, status__in=list(FINISHED_STATUSES)).count()
            == 6
        ),
        timeout=180,
        interval=0.5,
        message="every run to finish after the restarts",
    )
    statuses = dict(Run.objects.filter(run_id__in=queued).values_list("run_id", "status"))
    assert set(statuses.values()) == {RunStatus.SUCCESS}, statuses
    # Runs the dead worker was executing end (failed by monitoring: their worker is gone).
    assert {Run.objects.get(run_id=r).status for r in busy} <= {
        RunStatus.SUCCESS,
        RunStatus.FAILURE,
    }

    for name in killed:
        p = process(name)
        assert p["last_exit_code"] == -signal.SIGKILL and p["last_exit_at"]
    assert all(process(name)["restarts"] == 0 for name in ("web", "beat"))
    log = processes.log("dev")
    assert re.search(r"control \|.* exited unexpectedly \(killed by SIGKILL\)", log), log[-3000:]
    assert re.search(r"runs \|.* exited unexpectedly \(killed by SIGKILL\)", log)

    # Only SIGTERM (or Ctrl-C) stops everything, cleanly.
    pids = [p["pid"] for p in state()["processes"]]
    os.kill(dev.pid, signal.SIGTERM)
    assert dev.wait(40) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert json.loads((var / "supervisor.json").read_text())["stopped_at"]
