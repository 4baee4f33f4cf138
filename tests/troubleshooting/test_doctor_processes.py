"""The doctor against real Celery worker and beat processes: kill them and watch it notice.

The processes get a broker of their own (a private folder, or another Redis database), so
workers of other test sessions on this machine can neither answer the doctor nor take
these ticks.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from queueing.models import DaemonHeartbeat, PoolClaim, Run
from queueing.services import doctor, pools, runs
from tests.support.workers import wait_until

from .helpers import evidence, later, load

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _private_broker(tmp_path, monkeypatch) -> tuple[dict[str, str], Celery]:
    """Environment for the child processes, and a Celery app on their broker."""
    var = tmp_path / "var"
    env = {"VAR_DIR": str(var)}
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem"):
        # The project's folders (queue, processed, control), moved under the private VAR_DIR.
        options = {
            key: value.replace(str(settings.VAR_DIR), str(var)) if isinstance(value, str) else value
            for key, value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items()
        }
        for key, value in options.items():
            if key.endswith("_folder") or key.startswith("data_folder"):
                Path(value).mkdir(parents=True, exist_ok=True)
        app = Celery("doctor-probe", broker=url)
        app.conf.broker_transport_options = options
        return env, app
    # Redis: another database number (kombu prefixes its broadcast channels with it).
    base = url.rpartition("/")[0] if url.count("/") > 2 else url
    private = f"{base}/{1 + os.getpid() % 15}"
    env["CELERY_BROKER_URL"] = private
    # Celery reads CELERY_BROKER_URL before its `broker` argument.
    monkeypatch.setenv("CELERY_BROKER_URL", private)
    return env, Celery("doctor-probe", broker=private)


def _worker(processes, env, name: str, queues: str):
    return processes.start(
        name,
        ["-m", "celery", "-A", "concurrency_ui", "worker", "-Q", queues, "-P", "threads",
         "-c", "4", "-n", f"{name}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"],
        **env,
    )  # fmt: skip


def _beat(processes, env, name: str = "beat"):
    return processes.start(
        name,
        ["-m", "celery", "-A", "concurrency_ui", "beat", "-l", "INFO",
         "-s", str(processes.log_dir / f"{name}-schedule")],
        **env,
    )  # fmt: skip


def _findings(app, now=None) -> dict:
    return {f.check: f for f in doctor.diagnose(now, celery_app=app)}


def _heartbeat():
    row = DaemonHeartbeat.objects.filter(daemon="run_queue").first()
    return row.last_heartbeat if row else None


def _settled_heartbeat():
    """The heartbeat once it stopped moving: ticks beat sent before it died may still run,
    then three tick intervals pass without any."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = _heartbeat()
        time.sleep(3)
        if _heartbeat() == seen:
            return seen
    raise AssertionError("the run-queue heartbeat kept moving without beat")


def test_doctor_sees_killed_workers_a_stopped_beat_and_a_dead_runs_slots(
    processes, tmp_path, monkeypatch
):
    env, app = _private_broker(tmp_path, monkeypatch)
    load(
        {
            "run_queue": {"dequeue_interval_seconds": 1},
            # Off, so that the dead run stays as the kill left it for the doctor to find.
            "run_monitoring": {"enabled": False},
            "concurrency_ui": {"run_heartbeat_timeout_seconds": 10},
        }
    )
    pools.set_limit("shared", 1, actor="test")
    config = {"ops": {"pooled_sleep": {"config": {"seconds": 120}}}}
    run = runs.submit("pooled_pair", run_config=config, actor="test")
    _worker(processes, env, "control", "control")
    _worker(processes, env, "doomed", "runs")
    _beat(processes, env)
    wait_until(
        lambda: PoolClaim.objects.filter(run=run, claimed_at__isnull=False).exists(),
        timeout=90,
        message="the long step to hold its slot",
    )

    healthy = _findings(app)
    assert healthy["run_queue_daemon"].status == "ok", evidence(healthy["run_queue_daemon"])
    assert healthy["workers"].status == "ok", evidence(healthy["workers"])
    assert "consumes control" in evidence(healthy["workers"])
    assert healthy["slot_leaks"].status == "ok"

    processes.kill("doomed", signal.SIGKILL)

    after_kill = _findings(app, now=later(60))
    assert after_kill["workers"].status == "problem"
    assert after_kill["workers"].title == "No worker consumes the runs queue"
    leak = after_kill["slot_leaks"]
    assert leak.status == "warning", evidence(leak)
    assert f"run {run.run_id[:8]} is STARTED but its worker's last heartbeat was" in evidence(leak)
    assert "shared:pooled_sleep" in evidence(leak)

    processes.kill("beat", signal.SIGKILL)
    stopped_at = _settled_heartbeat()
    stale = _findings(app, now=later(120))["run_queue_daemon"]
    assert stale.status == "problem" and stale.title == "The run-queue daemon is not running"

    # Fixed: the dead run terminated (its slots go with it), a runs worker, beat again.
    runs.terminate(run.run_id, actor="test")  # CANCELING: nobody is left to stop it...
    runs.terminate(run.run_id, actor="test", force=True)  # ...so force CANCELED
    _worker(processes, env, "runs", "runs")
    _beat(processes, env, "beat2")
    wait_until(lambda: _heartbeat() != stopped_at, timeout=60, message="beat to tick again")
    fixed = _findings(app)
    assert fixed["run_queue_daemon"].status == "ok"
    assert fixed["slot_leaks"].status == "ok"
    assert fixed["workers"].status == "ok", evidence(fixed["workers"])
    assert Run.objects.get(pk=run.pk).status == "CANCELED"
