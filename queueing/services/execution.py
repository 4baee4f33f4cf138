"""Executing a launched run on a worker: the multiprocess executor.

Each step runs in a child process of its own, forked by the worker's zygote or started
cold as `python -m queueing.step_process` (`queueing/zygote.py`), so a crash or `os._exit`
in user code fails that step, never the worker. The executor loop chooses which
ready steps start with the engine's `select_steps` (max_concurrent, in-run tag limits,
then a pool claim) and waits for children or pool notifications.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import close_old_connections, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .. import zygote
from ..engine.plan import ExecutionPlan, plan_from_dict
from ..engine.pools import claim_priority
from ..engine.redaction import error_summary
from ..engine.steps import StepInfo, resolve_max_concurrent, select_steps
from ..engine.submission import validate_run_config
from ..engine.types import RunStatus
from ..models import Run, RunEvent, Step
from . import pools, runs
from .config import current_config
from .reconnect import reconnecting as db

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
RETRY_CLAIM_SECONDS = 2.0  # on SQLite, or if a notification was missed


@dataclass
class Child:
    step: StepInfo
    process: zygote.StepProcess
    # Readable once the process has ended, so the loop wakes at once (None: it polls).
    exit_fd: int | None = None

    def close(self) -> None:
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None


def execute_run(run_id: str) -> str | None:
    """Execute one run if it is STARTING; a duplicate message for it does nothing.

    The STARTING → STARTED update is conditional, so two workers that receive the same
    message (redelivery after a broker restart) cannot both execute the run. Every database
    call of the executor survives a dropped connection (see `reconnect`), so a database
    restart or failover under a long run does not fail it.
    """
    moved = db(
        runs.transition,
        [run_id],
        RunStatus.STARTING,
        RunStatus.STARTED,
        f"started on {socket.gethostname()}",
        worker=f"{socket.gethostname()}:{os.getpid()}",
        heartbeat_at=timezone.now(),
    )
    if not moved:
        return None
    run = db(Run.objects.get, run_id=run_id)
    try:
        return Executor(run).execute()
    except Exception as exc:  # the executor itself failed: fail the run, keep the worker
        log.exception("executor failed for run %s", run_id)
        db(
            runs.transition,
            [run_id],
            [RunStatus.STARTED, RunStatus.CANCELING],
            RunStatus.FAILURE,
            f"executor error: {exc}",
            failure_reason=f"executor error: {type(exc).__name__}: {exc}",
        )
        db(pools.free_run, run)
        return RunStatus.FAILURE


class Executor:
    def __init__(self, run: Run):
        self.run = run
        self.plan: ExecutionPlan = plan_from_dict(run.plan)
        execution, _ = validate_run_config(run.run_config)
        self.max_concurrent = resolve_max_concurrent(execution.max_concurrent, os.cpu_count() or 1)
        self.tag_limits = execution.tag_limits
        config = db(current_config)
        self.step_claims = config.queue.granularity == "op"
        self.default_pool_limit = config.default_pool_limit
        self.infos = {
            s.key: StepInfo(
                key=s.key,
                tags=s.tags,
                priority=s.priority,
                plan_index=s.plan_index,
                pools=s.pools,
            )
            for s in self.plan.steps
        }
        self.deps = {s.key: set(s.deps) for s in self.plan.steps}
        self.done: dict[str, str] = {}
        self.running: dict[str, Child] = {}
        self.wait_reasons: dict[str, str] = {}
        # When each pool step first asked for a slot: its wait is stored when it starts.
        self.claim_asked: dict[str, datetime] = {}

    # -- the loop -------------------------------------------------------------------
    def execute(self) -> str:
        # Only a step that claims pool slots ever waits for a pool's notification.
        wakeup = pools.PoolWakeup(
            listen=self.step_claims and any(s.pools for s in self.infos.values())
        )
        # STARTING → STARTED stamped the first heartbeat; a cancel may have come since.
        last_beat = time.monotonic()
        last_claim_try = 0.0
        try_claims = True
        try:
            if db(self._cancel_requested):
                return self._cancel()
            while True:
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_SECONDS:
                    last_beat = now
                    db(runs.heartbeat, self.run.run_id)
                    if db(self._cancel_requested):
                        return self._cancel()
                if self._reap():
                    try_claims = True
                db(self._skip_unreachable)
                ready = self._ready()
                if not ready and not self.running:
                    break
                if ready and (try_claims or now - last_claim_try >= RETRY_CLAIM_SECONDS):
                    last_claim_try = now
                    try_claims = False
                    self._start(ready)
                    continue_ready = self._ready()
                else:
                    continue_ready = ready
                # Sleep until a child ended or a pool we wait on has room.
                exits = [c.exit_fd for c in self.running.values() if c.exit_fd is not None]
                woken = wakeup.wait(0.1 if self.running else 0.5, exits)
                if woken & {key for s in continue_ready for key in s.pools}:
                    try_claims = True
        finally:
            wakeup.close()
            for child in self.running.values():
                child.close()
            # Steps that never got a slot leave the line so they do not block others.
            db(pools.free_run, self.run)
        return self._finish()

    def _ready(self) -> list[StepInfo]:
        pending = [k for k in self.infos if k not in self.done and k not in self.running]
        return [
            self.infos[k]
            for k in pending
            if all(self.done.get(d) == Step.Status.SUCCESS for d in self.deps[k])
        ]

    def _skip_unreachable(self) -> None:
        changed = True
        while changed:
            changed = False
            for key in self.infos:
                if key in self.done or key in self.running:
                    continue
                failed = [
                    d for d in self.deps[key] if self.done.get(d) not in (None, Step.Status.SUCCESS)
                ]
                if failed:
                    Step.objects.filter(run=self.run, step_key=key).update(
                        status=Step.Status.SKIPPED,
                        wait_reason="",
                        error=f"not executed: upstream step {failed[0]} did not succeed",
                    )
                    # After the write: a retried call must write it again.
                    self.done[key] = Step.Status.SKIPPED
                    changed = True

    def _start(self, ready: list[StepInfo]) -> None:
        def try_claim(step: StepInfo) -> bool:
            if not self.step_claims or not step.pools:
                return True
            try:
                priority = claim_priority(self.run.priority, step.priority)
            except ValueError as exc:
                self._fail_step(step.key, str(exc))
                return False
            self.claim_asked.setdefault(step.key, timezone.now())
            result = db(
                pools.try_claim, self.run, step.key, step.pools, priority, self.default_pool_limit
            )
            if not result.claimed:
                self._set_waiting(step.key, result.message)
            return result.claimed

        selection = select_steps(
            ready,
            [c.step for c in self.running.values()],
            self.max_concurrent,
            self.tag_limits,
            try_claim,
        )
        for key, gate in selection.waiting.items():
            if gate.rule != "pool" and key not in self.done:
                self._set_waiting(key, gate.message)
        for step in selection.started:
            self._launch(step)

    def _fail_step(self, key: str, reason: str) -> None:
        db(self._record_failure, key, reason)
        self.done[key] = Step.Status.FAILURE

    def _record_failure(self, key: str, reason: str) -> None:
        Step.objects.filter(run=self.run, step_key=key).update(
            status=Step.Status.FAILURE, ended_at=timezone.now(), error=reason, wait_reason=""
        )
        RunEvent.objects.create(
            run=self.run, step_key=key, kind="step_failure", message=error_summary(reason)[:500]
        )

    def _set_waiting(self, key: str, reason: str) -> None:
        if self.wait_reasons.get(key) == reason:
            return
        db(
            Step.objects.filter(run=self.run, step_key=key).update,
            status=Step.Status.WAITING,
            wait_reason=reason,
        )
        self.wait_reasons[key] = reason

    def _launch(self, step: StepInfo) -> None:
        process = zygote.start_step(self.run.run_id, step.key)
        # Recorded as running before any database write, so a failed write cannot orphan it.
        self.running[step.key] = Child(step, process, zygote.exit_fd(process))
        self.wait_reasons.pop(step.key, None)
        db(self._record_start, step.key, process.pid)

    def _record_start(self, key: str, pid: int) -> None:
        """The step RUNNING and its event, in one transaction (one commit to wait for).

        A forked step can finish before this write: its reported status is kept (only a
        step not yet started becomes RUNNING), so that it is not taken for a crash."""
        now = timezone.now()
        asked = self.claim_asked.get(key)
        not_started = [Step.Status.PENDING, Step.Status.WAITING]
        with transaction.atomic():
            Step.objects.filter(run=self.run, step_key=key).update(
                status=Case(
                    When(status__in=not_started, then=Value(Step.Status.RUNNING)),
                    default=F("status"),
                ),
                started_at=now,
                pid=pid,
                wait_reason="",
                slot_wait_seconds=None if asked is None else (now - asked).total_seconds(),
            )
            RunEvent.objects.create(run=self.run, step_key=key, kind="step_start")

    def _reap(self) -> int:
        reaped = 0
        for key, child in list(self.running.items()):
            code = child.process.poll()
            if code is None:
                continue
            stderr = (
                child.process.stderr.read().decode(errors="replace") if child.process.stderr else ""
            )
            del self.running[key]
            child.close()
            step = db(Step.objects.get, run=self.run, step_key=key)
            if step.status == Step.Status.RUNNING:
                # The child died before reporting (crash, os._exit, kill): fail the step.
                reason = f"step process exited with code {code} before reporting a result"
                if stderr.strip():
                    reason += "\n" + stderr[-4000:]
                self._fail_step(key, reason)
                status: str = Step.Status.FAILURE
            else:
                status = step.status
            self.done[key] = status
            reaped += 1
            if self.step_claims and child.step.pools:
                db(pools.free_step, self.run, key)
        return reaped

    # -- ending -----------------------------------------------------------------------
    def _cancel_requested(self) -> bool:
        status = Run.objects.filter(pk=self.run.pk).values_list("status", flat=True).first()
        return status != RunStatus.STARTED

    def _cancel(self) -> str:
        for child in self.running.values():
            try:
                child.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for child in self.running.values():
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
            child.close()
        db(
            Step.objects.filter(run=self.run, status__in=["PENDING", "WAITING", "RUNNING"]).update,
            status=Step.Status.CANCELED,
            ended_at=timezone.now(),
        )
        self.running.clear()
        status, reason = db(
            Run.objects.filter(pk=self.run.pk).values_list("status", "failure_reason").get
        )
        if status != RunStatus.CANCELING:
            return status
        if reason:
            # Stopped by run monitoring for exceeding its max runtime: a failure, not a cancel.
            db(runs.transition, [self.run.run_id], RunStatus.CANCELING, RunStatus.FAILURE, reason)
            return RunStatus.FAILURE
        db(
            runs.transition,
            [self.run.run_id],
            RunStatus.CANCELING,
            RunStatus.CANCELED,
            "steps stopped",
        )
        return RunStatus.CANCELED

    def _finish(self) -> str:
        failed = sorted(k for k, s in self.done.items() if s != Step.Status.SUCCESS)
        if failed:
            reason = "steps failed or were skipped: " + ", ".join(failed)
            db(
                runs.transition,
                [self.run.run_id],
                RunStatus.STARTED,
                RunStatus.FAILURE,
                reason,
                failure_reason=reason,
            )
            return RunStatus.FAILURE
        db(
            runs.transition,
            [self.run.run_id],
            RunStatus.STARTED,
            RunStatus.SUCCESS,
            "all steps succeeded",
        )
        close_old_connections()
        return RunStatus.SUCCESS
