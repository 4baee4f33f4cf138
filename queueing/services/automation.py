"""Schedules and sensors: start/stop (audited), the two daemons' ticks, and their history.

The schedules tick (`tick_schedules`) launches one run per scheduled time of each running
schedule; the sensors tick (`tick_sensors`) evaluates each running sensor that is due in a
child process (`queueing.sensor_process`) killed after `concurrency_ui.sensor_timeout_seconds`.
Runs go through `runs.submit` (every submit rule, the queue cap included) into the normal
run queue. "Never twice" is the database's: an `AutomationRun` row per (schedule, scheduled
time) and per (sensor, run key), unique, is inserted in the transaction that submits the run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..engine.automation import (
    SCHEDULES_INTERVAL_SECONDS,
    SENSOR_NAME_TAG,
    SENSORS_INTERVAL_SECONDS,
    TIMEOUT_MESSAGE,
    RunRequest,
    ScheduleDefinition,
    SensorDefinition,
    SkipReason,
    due_schedule_times,
    next_cron_time,
    schedule_run_key,
    schedule_run_tags,
    sensor_due,
)
from ..engine.redaction import error_summary
from ..errors import Conflict, InvalidInput, NotFound
from ..locations import get_workspace
from ..models import (
    AutomationKind,
    AutomationRun,
    AutomationState,
    AutomationTick,
    DaemonHeartbeat,
)
from . import heartbeats, runs
from .audit import record
from .config import current_config

log = logging.getLogger(__name__)

Definition = ScheduleDefinition | SensorDefinition
RUNNING, STOPPED = "RUNNING", "STOPPED"
# The Automation page, the API and the CLI show this many recent ticks of each.
TICKS_SHOWN = 10


def definitions(kind: str) -> list[tuple[str, Definition]]:
    """(location, definition) of every schedule or sensor of the loaded code locations;
    with the same name in two locations the first wins (as for jobs)."""
    found: dict[str, tuple[str, Definition]] = {}
    for location in get_workspace().locations:
        if location.defs is None:
            continue
        items = (
            location.defs.schedules if kind == AutomationKind.SCHEDULE else location.defs.sensors
        )
        for item in items:
            found.setdefault(item.name, (location.name, item))
    return list(found.values())


def _find(kind: str, name: str) -> Definition:
    for _, item in definitions(kind):
        if item.name == name:
            return item
    raise NotFound(f"{kind} {name!r} is not defined in any code location")


def _check_kind(kind: str) -> str:
    if kind not in AutomationKind.values:
        raise InvalidInput.one("kind", f"expected schedule or sensor, got {kind!r}")
    return kind


def effective_status(item: Definition, row: AutomationState | None) -> str:
    """What an operator set, else the definition's `default_status`."""
    if row is not None and row.status:
        return row.status
    return item.default_status.value


def set_status(kind: str, name: str, running: bool, actor: str) -> dict[str, Any]:
    """Start or stop a schedule or sensor; audited. Starting a schedule starts counting its
    scheduled times from now (no catch-up of the time it was stopped).

    Lock: the schedule's or sensor's state row (select_for_update)."""
    _check_kind(kind)
    item = _find(kind, name)
    new = RUNNING if running else STOPPED
    now = timezone.now()
    with transaction.atomic():
        AutomationState.objects.get_or_create(kind=kind, name=name)
        row = AutomationState.objects.select_for_update().get(kind=kind, name=name)
        old = effective_status(item, row)
        if old == new:
            raise Conflict(f"{kind} {name!r} is already {new.lower()}")
        row.status = new
        if running:
            row.last_handled = now if kind == AutomationKind.SCHEDULE else None
        row.save()
        record(actor, f"{kind}.{'start' if running else 'stop'}", name, old, new)
    return describe(kind, item, row, now)


# ---------------------------------------------------------------------------------------
# Reading: lists for the page, the API and the CLI


def describe(
    kind: str,
    item: Definition,
    row: AutomationState | None,
    now: datetime,
    ticks: Sequence[AutomationTick] = (),
    location: str = "",
) -> dict[str, Any]:
    status = effective_status(item, row)
    data: dict[str, Any] = {
        "name": item.name,
        "kind": kind,
        "job_name": item.job_name,
        "location": location,
        "status": status,
        "default_status": item.default_status.value,
        "description": item.description or "",
        "last_handled": row.last_handled if row else None,
        "cursor": row.cursor if row else None,
        "next_tick": None,
        "ticks": [tick_to_dict(t) for t in ticks],
    }
    if isinstance(item, ScheduleDefinition):
        data["cron_schedule"] = item.cron_schedule
        data["execution_timezone"] = item.execution_timezone
        if status == RUNNING:
            after = row.last_handled if row and row.last_handled else now
            data["next_tick"] = next_cron_time(item.cron_schedule, item.execution_timezone, after)
    else:
        data["minimum_interval_seconds"] = item.minimum_interval_seconds
        if status == RUNNING:
            last = row.last_handled if row else None
            data["next_tick"] = (
                now
                if last is None
                else max(now, last + timedelta(seconds=item.minimum_interval_seconds))
            )
    return data


def tick_to_dict(tick: AutomationTick) -> dict[str, Any]:
    return {
        "at": tick.started_at,
        "scheduled_time": tick.scheduled_time,
        "outcome": tick.outcome,
        "message": tick.message,
        "run_ids": list(tick.run_ids),
        "duration_ms": round(tick.duration_ms, 1),
    }


def recent_outcomes(limit: int = 3) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(kind, name) -> the (outcome, message) of its last `limit` ticks, newest first, for
    every running schedule and sensor (the doctor reads it)."""
    result = {}
    for kind in AutomationKind.values:
        for item, _ in _running(kind):
            ticks = AutomationTick.objects.filter(kind=kind, name=item.name)[:limit]
            result[(kind, item.name)] = [(t.outcome, t.message) for t in ticks]
    return result


def automation_list(kind: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every schedule or sensor with its status, next tick and last ticks."""
    _check_kind(kind)
    now = now or timezone.now()
    rows = {r.name: r for r in AutomationState.objects.filter(kind=kind)}
    result = []
    for location, item in definitions(kind):
        recent = list(AutomationTick.objects.filter(kind=kind, name=item.name)[:TICKS_SHOWN])
        result.append(describe(kind, item, rows.get(item.name), now, recent, location))
    return result


def automation_detail(kind: str, name: str) -> dict[str, Any]:
    _check_kind(kind)
    item = _find(kind, name)
    for data in automation_list(kind):
        if data["name"] == item.name:
            return data
    raise NotFound(f"{kind} {name!r} is not defined in any code location")


# ---------------------------------------------------------------------------------------
# The daemons


@dataclass
class AutomationTickResult:
    ran: bool
    run_ids: list[str] = field(default_factory=list)
    evaluated: int = 0
    failures: int = 0
    duration_ms: float = 0.0


def _running(kind: str) -> list[tuple[Definition, AutomationState | None]]:
    rows = {r.name: r for r in AutomationState.objects.filter(kind=kind)}
    return [
        (item, rows.get(item.name))
        for _, item in definitions(kind)
        if effective_status(item, rows.get(item.name)) == RUNNING
    ]


def _daemon_tick(
    daemon: str, interval: float, force: bool, now: datetime, body: Any
) -> AutomationTickResult:
    started = time.perf_counter()
    if not force and not heartbeats.due(daemon, interval, now):
        return AutomationTickResult(ran=False)
    try:
        result: AutomationTickResult = body(now)
        result.duration_ms = (time.perf_counter() - started) * 1000
        with transaction.atomic():
            heartbeats.beat(
                daemon,
                tick_started=now,
                duration_ms=result.duration_ms,
                launched=len(result.run_ids),
            )
    except Exception as exc:
        log.exception("%s tick failed", daemon)
        heartbeats.beat_error(daemon, exc, tick_started=now)
        raise
    return result


def tick_schedules(force: bool = True, now: datetime | None = None) -> AutomationTickResult:
    """One tick of the schedules daemon: for each running schedule, launch the scheduled
    times passed since the last one it handled (at most `schedule_catch_up_limit`, the
    latest, after a gap). Without `force`, skipped unless SCHEDULES_INTERVAL_SECONDS have
    passed since the last tick started.

    Lock: each schedule's state row (select_for_update skip_locked: a second daemon skips a
    schedule the first is handling); the AutomationRun unique constraint besides."""
    return _daemon_tick(
        DaemonHeartbeat.Daemon.SCHEDULES,
        SCHEDULES_INTERVAL_SECONDS,
        force,
        now or timezone.now(),
        _tick_schedules,
    )


def _tick_schedules(now: datetime) -> AutomationTickResult:
    result = AutomationTickResult(ran=True)
    limit = current_config().extra.schedule_catch_up_limit
    for item, row in _running(AutomationKind.SCHEDULE):
        assert isinstance(item, ScheduleDefinition)
        if row is None:
            # A schedule RUNNING by default starts counting when the daemon first sees it.
            AutomationState.objects.get_or_create(
                kind=AutomationKind.SCHEDULE, name=item.name, defaults={"last_handled": now}
            )
            continue
        with transaction.atomic():
            locked = (
                AutomationState.objects.select_for_update(skip_locked=True)
                .filter(pk=row.pk)
                .first()
            )
            if locked is None:
                continue
            last = locked.last_handled or now
            due = due_schedule_times(item.cron_schedule, item.execution_timezone, last, now, limit)
            if due.through is None:
                if locked.last_handled is None:
                    locked.last_handled = now
                    locked.save(update_fields=["last_handled", "updated_at"])
                continue
            if due.skipped:
                _record(
                    AutomationKind.SCHEDULE,
                    item.name,
                    now,
                    AutomationTick.Outcome.SKIPPED,
                    f"{due.skipped} missed scheduled time(s) skipped: a tick after a gap "
                    f"launches at most {limit} (concurrency_ui.schedule_catch_up_limit)",
                )
            for scheduled in due.times:
                result.evaluated += 1
                launched, failed = _launch_scheduled(item, scheduled, now)
                result.run_ids += launched
                result.failures += failed
            locked.last_handled = due.through
            locked.save(update_fields=["last_handled", "updated_at"])
    return result


def _launch_scheduled(
    item: ScheduleDefinition, scheduled: datetime, now: datetime
) -> tuple[list[str], int]:
    started = time.perf_counter()
    try:
        evaluation = item.evaluate(scheduled)
    except Exception as exc:
        _record(
            AutomationKind.SCHEDULE,
            item.name,
            now,
            AutomationTick.Outcome.FAILURE,
            error_summary("".join(traceback.format_exception(exc))),
            scheduled=scheduled,
            started=started,
        )
        return [], 1
    if isinstance(evaluation, SkipReason):
        _record(
            AutomationKind.SCHEDULE,
            item.name,
            now,
            AutomationTick.Outcome.SKIPPED,
            evaluation.skip_message,
            scheduled=scheduled,
            started=started,
        )
        return [], 0
    keys = [schedule_run_key(scheduled, r.run_key) for r in evaluation]
    tags = schedule_run_tags(item.name, scheduled)
    return _submit_requests(
        AutomationKind.SCHEDULE,
        item.name,
        item.job_name,
        evaluation,
        keys,
        tags,
        now,
        scheduled=scheduled,
        started=started,
    )


def _submit_requests(
    kind: str,
    name: str,
    job_name: str,
    requests: Sequence[RunRequest],
    keys: Sequence[str | None],
    tags: dict[str, str],
    now: datetime,
    *,
    scheduled: datetime | None = None,
    started: float,
) -> tuple[list[str], int]:
    """Submit each request whose key is new (one AutomationRun row each, unique); record
    one tick. A request the submit refuses fails the tick and launches nothing of it."""
    launched: list[str] = []
    duplicates: list[str] = []
    problems: list[str] = []
    for request, key in zip(requests, keys, strict=True):
        try:
            with transaction.atomic():
                marker = (
                    AutomationRun.objects.create(kind=kind, name=name, key=key)
                    if key is not None
                    else None
                )
                run = runs.submit(
                    request.job_name or job_name,
                    tags={**request.run_tags(), **tags},
                    run_config=request.run_config,
                    actor=f"{kind} {name}",
                )
                if marker is not None:
                    marker.run = run
                    marker.save(update_fields=["run"])
        except IntegrityError:
            duplicates.append(key or "")
            continue
        except (InvalidInput, Conflict) as exc:
            problems.append(str(exc))
            continue
        launched.append(run.run_id)
    parts = []
    if launched:
        parts.append(f"{len(launched)} run(s) requested")
    if duplicates:
        shown = ", ".join(repr(k) for k in duplicates[:3])
        parts.append(f"{len(duplicates)} skipped: run key(s) already used ({shown})")
    parts += problems
    if problems:
        outcome = AutomationTick.Outcome.FAILURE
    elif launched:
        outcome = AutomationTick.Outcome.REQUESTED
    else:
        outcome = AutomationTick.Outcome.SKIPPED
    _record(kind, name, now, outcome, "; ".join(parts), launched, scheduled, started)
    return launched, int(bool(problems))


def _record(
    kind: str,
    name: str,
    now: datetime,
    outcome: str,
    message: str,
    run_ids: Sequence[str] = (),
    scheduled: datetime | None = None,
    started: float | None = None,
) -> None:
    AutomationTick.objects.create(
        kind=kind,
        name=name,
        started_at=now,
        scheduled_time=scheduled,
        outcome=outcome,
        message=message[:5000],
        run_ids=list(run_ids),
        duration_ms=0 if started is None else (time.perf_counter() - started) * 1000,
    )


def tick_sensors(force: bool = True, now: datetime | None = None) -> AutomationTickResult:
    """One tick of the sensors daemon: each running sensor whose minimum interval has passed
    is evaluated in a child process (killed after `concurrency_ui.sensor_timeout_seconds`),
    its runs submitted (a run key the sensor already used launches nothing) and its cursor
    kept. Without `force`, skipped unless SENSORS_INTERVAL_SECONDS have passed.

    Lock: none held while a sensor runs; a sensor is claimed by a conditional UPDATE of its
    state row's last evaluation (a second daemon finds it not due), and the AutomationRun
    unique constraint refuses a run key used before."""
    return _daemon_tick(
        DaemonHeartbeat.Daemon.SENSORS,
        SENSORS_INTERVAL_SECONDS,
        force,
        now or timezone.now(),
        _tick_sensors,
    )


def _tick_sensors(now: datetime) -> AutomationTickResult:
    result = AutomationTickResult(ran=True)
    timeout = current_config().extra.sensor_timeout_seconds
    for item, row in _running(AutomationKind.SENSOR):
        assert isinstance(item, SensorDefinition)
        if row is None:
            row, _ = AutomationState.objects.get_or_create(
                kind=AutomationKind.SENSOR, name=item.name
            )
        if not sensor_due(row.last_handled, item.minimum_interval_seconds, now):
            continue
        previous = row.last_handled
        claimed = (
            AutomationState.objects.filter(pk=row.pk)
            .filter(Q(last_handled__isnull=True) if previous is None else Q(last_handled=previous))
            .update(last_handled=now)
        )
        if not claimed:
            continue
        result.evaluated += 1
        launched, failed = _evaluate_sensor(item, row.cursor, previous, now, timeout)
        result.run_ids += launched
        result.failures += failed
    return result


def _evaluate_sensor(
    item: SensorDefinition,
    cursor: str | None,
    previous: datetime | None,
    now: datetime,
    timeout: int,
) -> tuple[list[str], int]:
    started = time.perf_counter()
    answer = run_sensor_process(item.name, cursor, previous, timeout)
    if answer.get("error"):
        _record(
            AutomationKind.SENSOR,
            item.name,
            now,
            AutomationTick.Outcome.FAILURE,
            str(answer["error"]),
            started=started,
        )
        return [], 1
    with transaction.atomic():
        AutomationState.objects.filter(kind=AutomationKind.SENSOR, name=item.name).update(
            cursor=answer.get("cursor")
        )
        if answer.get("skip") is not None or not answer.get("requests"):
            _record(
                AutomationKind.SENSOR,
                item.name,
                now,
                AutomationTick.Outcome.SKIPPED,
                answer.get("skip") or "the sensor asked for no run",
                started=started,
            )
            return [], 0
        requests = [RunRequest.from_dict(r) for r in answer["requests"]]
        return _submit_requests(
            AutomationKind.SENSOR,
            item.name,
            item.job_name,
            requests,
            [r.run_key for r in requests],
            {SENSOR_NAME_TAG: item.name},
            now,
            started=started,
        )


def run_sensor_process(
    name: str, cursor: str | None, last_tick_time: datetime | None, timeout: float
) -> dict[str, Any]:
    """Evaluate sensor `name` in a child process; its answer, or {"error": why not}."""
    request = json.dumps(
        {
            "name": name,
            "cursor": cursor,
            "last_tick_time": last_tick_time.isoformat() if last_tick_time else None,
        }
    )
    with tempfile.TemporaryDirectory(prefix="sensor-") as folder:
        path = Path(folder) / "result.json"
        try:
            done = subprocess.run(
                [sys.executable, "-m", "queueing.sensor_process", str(path)],
                input=request,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {
                "error": f"{TIMEOUT_MESSAGE}: the evaluation took longer than {timeout:g} s "
                "(concurrency_ui.sensor_timeout_seconds) and was killed"
            }
        try:
            answer = json.loads(path.read_text())
        except (OSError, ValueError):
            tail = (done.stderr or "")[-2000:]
            return {"error": f"the evaluation exited ({done.returncode}) without an answer: {tail}"}
    return answer if isinstance(answer, dict) else {"error": "the evaluation answered no object"}
