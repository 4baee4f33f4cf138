"""Schedules and sensors: their definitions, what a tick is due to do, and what an
evaluation asked for. Pure: the clock is an argument; the daemons (services.automation)
evaluate user functions and submit the runs.

Cron expressions are read by `cronsim` (pure Python, no I/O), the engine's one dependency
besides PyYAML.

- A schedule's tick launches one run per scheduled time that passed since the last time it
  handled (never twice: the database keeps one row per schedule and time). After a gap
  (the daemon was down) it launches at most `schedule_catch_up_limit` of the missed times,
  the latest ones, and says how many it skipped.
- A sensor is evaluated at most every `minimum_interval_seconds`; a `RunRequest` with a
  `run_key` the sensor already used launches nothing (one row per sensor and run key).
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .partitions import PARTITION_TAG

SCHEDULE_NAME_TAG = "dagster/schedule_name"
SCHEDULED_TIME_TAG = "dagster/scheduled_execution_time"
SENSOR_NAME_TAG = "dagster/sensor_name"
# Dagster's default: a sensor is evaluated at most every 30 s.
DEFAULT_MINIMUM_INTERVAL_SECONDS = 30
# A cursor is text kept between evaluations; bigger ones are refused (the tick fails).
MAX_CURSOR_LENGTH = 100_000
# A sensor evaluation killed at the timeout fails its tick with a message starting so.
TIMEOUT_MESSAGE = "timed out"
# The schedules daemon looks for due times this often; the sensors daemon for due sensors.
SCHEDULES_INTERVAL_SECONDS = 5
SENSORS_INTERVAL_SECONDS = 5

_NAME = re.compile(r"[A-Za-z0-9_]+")


class AutomationError(ValueError):
    """A schedule or sensor that cannot be defined (bad cron, timezone, name, job)."""


class DefaultScheduleStatus(enum.Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


DefaultSensorStatus = DefaultScheduleStatus


@dataclass(frozen=True)
class RunRequest:
    """A run a schedule or sensor asks for. `run_key` makes a sensor's request idempotent."""

    run_key: str | None = None
    run_config: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    partition_key: str | None = None
    job_name: str | None = None

    def run_tags(self) -> dict[str, str]:
        tags = dict(self.tags)
        if self.partition_key is not None:
            tags[PARTITION_TAG] = self.partition_key
        return tags

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_key": self.run_key,
            "run_config": dict(self.run_config),
            "tags": dict(self.tags),
            "partition_key": self.partition_key,
            "job_name": self.job_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRequest:
        return cls(
            run_key=data.get("run_key"),
            run_config=data.get("run_config") or {},
            tags=data.get("tags") or {},
            partition_key=data.get("partition_key"),
            job_name=data.get("job_name"),
        )


@dataclass(frozen=True)
class SkipReason:
    skip_message: str = ""


@dataclass
class ScheduleEvaluationContext:
    scheduled_execution_time: datetime


class SensorEvaluationContext:
    """What a sensor function gets: the cursor it left last time, and a way to move it."""

    def __init__(self, cursor: str | None, last_tick_time: datetime | None = None) -> None:
        self.cursor = cursor
        self.last_tick_time = last_tick_time

    def update_cursor(self, cursor: str | None) -> None:
        if cursor is not None and not isinstance(cursor, str):
            raise TypeError(f"a cursor is a string, got {type(cursor).__name__}")
        self.cursor = cursor


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AutomationError(
            f"{kind} name {name!r} is invalid: use letters, digits and underscores only"
        )
    return name


def _job_name(owner: str, job: object) -> str:
    name = getattr(job, "name", job)
    if not isinstance(name, str) or not name:
        raise AutomationError(f"{owner}: job must be a job (or a job name), got {job!r}")
    return name


def _status(owner: str, value: object) -> DefaultScheduleStatus:
    if isinstance(value, DefaultScheduleStatus):
        return value
    raise AutomationError(
        f"{owner}: default_status must be DefaultScheduleStatus.RUNNING or .STOPPED"
    )


def check_cron(cron_schedule: object, execution_timezone: object) -> tuple[str, str]:
    """The cron expression and timezone name, or AutomationError naming the problem."""
    if not isinstance(cron_schedule, str):
        raise AutomationError("cron_schedule must be a string like '0 3 * * *'")
    zone = execution_timezone or "UTC"
    if not isinstance(zone, str):
        raise AutomationError("execution_timezone must be a name like 'UTC' or 'Europe/Paris'")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AutomationError(f"unknown execution_timezone {zone!r}") from None
    try:
        CronSim(cron_schedule, datetime(2024, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise AutomationError(f"cron_schedule {cron_schedule!r} is invalid: {exc}") from None
    return cron_schedule, zone


class ScheduleDefinition:
    """Runs of `job` at the times of `cron_schedule` in `execution_timezone`.

    With `execution_fn` (the `@schedule` decorator) the function decides each tick's run:
    it returns a RunRequest (or several), a run config dict, or a SkipReason.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        cron_schedule: str,
        job: Any = None,
        job_name: str | None = None,
        execution_timezone: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
        default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
        execution_fn: Callable[..., Any] | None = None,
        description: str | None = None,
    ) -> None:
        self.name = _check_name(
            "schedule", name or f"{_job_name('schedule', job or job_name)}_schedule"
        )
        owner = f"schedule '{self.name}'"
        self.job = job
        self.job_name = _job_name(owner, job if job is not None else job_name)
        self.cron_schedule, self.execution_timezone = check_cron(cron_schedule, execution_timezone)
        self.tags = dict(tags or {})
        self.run_config = dict(run_config or {})
        self.default_status = _status(owner, default_status)
        self.execution_fn = execution_fn
        self.description = description

    def evaluate(self, scheduled_time: datetime) -> list[RunRequest] | SkipReason:
        """What this schedule asks for at `scheduled_time` (calls the user's function)."""
        if self.execution_fn is None:
            return [RunRequest(run_config=self.run_config, tags=self.tags)]
        context = ScheduleEvaluationContext(scheduled_time)
        takes_context = bool(inspect.signature(self.execution_fn).parameters)
        result = self.execution_fn(context) if takes_context else self.execution_fn()
        return normalize_schedule_result(result, self)

    def __repr__(self) -> str:
        return f"<schedule {self.name}>"


def normalize_schedule_result(
    result: Any, schedule: ScheduleDefinition
) -> list[RunRequest] | SkipReason:
    if isinstance(result, SkipReason):
        return result
    if result is None:
        return SkipReason("the schedule function returned nothing")
    if isinstance(result, RunRequest):
        result = [result]
    elif isinstance(result, Mapping):
        # A run config: Dagster's older return value.
        return [RunRequest(run_config=result, tags=schedule.tags)]
    requests = list(result) if isinstance(result, Iterable) else [result]
    bad = [r for r in requests if not isinstance(r, RunRequest | SkipReason)]
    if bad:
        raise TypeError(
            f"schedule '{schedule.name}' returned {type(bad[0]).__name__}: "
            "expected a RunRequest, a run config dict or a SkipReason"
        )
    runs = [r for r in requests if isinstance(r, RunRequest)]
    if not runs:
        skips = [r for r in requests if isinstance(r, SkipReason)]
        return skips[0] if skips else SkipReason("the schedule function asked for no run")
    return [
        RunRequest(
            run_key=r.run_key,
            run_config=r.run_config,
            tags={**schedule.tags, **r.tags},
            partition_key=r.partition_key,
            job_name=r.job_name,
        )
        for r in runs
    ]


def schedule(
    cron_schedule: str,
    *,
    job: Any = None,
    job_name: str | None = None,
    name: str | None = None,
    execution_timezone: str | None = None,
    tags: Mapping[str, str] | None = None,
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    """`@schedule(cron_schedule=..., job=...)`: the function (taking an optional context with
    `scheduled_execution_time`) returns a RunRequest, a run config dict or a SkipReason."""

    def decorate(fn: Callable[..., Any]) -> ScheduleDefinition:
        return ScheduleDefinition(
            name or fn.__name__,
            cron_schedule=cron_schedule,
            job=job,
            job_name=job_name,
            execution_timezone=execution_timezone,
            tags=tags,
            default_status=default_status,
            execution_fn=fn,
            description=description if description is not None else inspect.getdoc(fn),
        )

    return decorate


class SensorDefinition:
    """A function evaluated at most every `minimum_interval_seconds` that yields or returns
    RunRequests (runs of `job`) or a SkipReason, with a cursor kept between evaluations."""

    def __init__(
        self,
        name: str,
        *,
        evaluation_fn: Callable[..., Any],
        job: Any = None,
        job_name: str | None = None,
        minimum_interval_seconds: int = DEFAULT_MINIMUM_INTERVAL_SECONDS,
        default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
        description: str | None = None,
    ) -> None:
        self.name = _check_name("sensor", name)
        owner = f"sensor '{self.name}'"
        self.job = job
        self.job_name = _job_name(owner, job if job is not None else job_name)
        interval = minimum_interval_seconds
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise AutomationError(f"{owner}: minimum_interval_seconds must be a whole number >= 1")
        self.minimum_interval_seconds = interval
        self.default_status = _status(owner, default_status)
        if not callable(evaluation_fn):
            raise AutomationError(f"{owner}: expected a function")
        self.evaluation_fn = evaluation_fn
        self.description = description

    def evaluate(self, context: SensorEvaluationContext) -> list[RunRequest] | SkipReason:
        takes_context = bool(inspect.signature(self.evaluation_fn).parameters)
        result = self.evaluation_fn(context) if takes_context else self.evaluation_fn()
        return normalize_sensor_result(result, self.name)

    def __repr__(self) -> str:
        return f"<sensor {self.name}>"


def normalize_sensor_result(result: Any, name: str) -> list[RunRequest] | SkipReason:
    if result is None:
        return SkipReason("the sensor asked for no run")
    if isinstance(result, RunRequest | SkipReason):
        items: list[Any] = [result]
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes | Mapping):
        items = list(result)
    else:
        raise TypeError(
            f"sensor '{name}' returned {type(result).__name__}: expected RunRequests or a SkipReason"
        )
    bad = [r for r in items if not isinstance(r, RunRequest | SkipReason)]
    if bad:
        raise TypeError(
            f"sensor '{name}' yielded {type(bad[0]).__name__}: expected RunRequests or a SkipReason"
        )
    runs = [r for r in items if isinstance(r, RunRequest)]
    if runs:
        return runs
    skips = [r for r in items if isinstance(r, SkipReason)]
    return skips[0] if skips else SkipReason("the sensor asked for no run")


def sensor(
    job: Any = None,
    *,
    job_name: str | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = DEFAULT_MINIMUM_INTERVAL_SECONDS,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """`@sensor(job=..., minimum_interval_seconds=...)`: the function (taking an optional
    context with `cursor` and `update_cursor`) yields or returns RunRequests or a SkipReason."""

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        return SensorDefinition(
            name or fn.__name__,
            evaluation_fn=fn,
            job=job,
            job_name=job_name,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
            description=description if description is not None else inspect.getdoc(fn),
        )

    return decorate


# ---------------------------------------------------------------------------------------
# What a tick is due to do


def cron_times(
    cron_schedule: str, execution_timezone: str, after: datetime, until: datetime
) -> Iterable[datetime]:
    """Scheduled times t with after < t <= until, oldest first (aware, UTC)."""
    zone = ZoneInfo(execution_timezone)
    start = after.astimezone(zone)
    for moment in CronSim(cron_schedule, start):
        if moment > until:
            return
        if moment > after:
            yield moment.astimezone(UTC)


def next_cron_time(cron_schedule: str, execution_timezone: str, after: datetime) -> datetime:
    zone = ZoneInfo(execution_timezone)
    return next(iter(CronSim(cron_schedule, after.astimezone(zone)))).astimezone(UTC)


@dataclass(frozen=True)
class DueTimes:
    """The scheduled times a schedules tick launches, and how many older ones it skips."""

    times: tuple[datetime, ...]
    skipped: int = 0
    # The last scheduled time this tick accounts for (launched or skipped).
    through: datetime | None = None


def due_schedule_times(
    cron_schedule: str,
    execution_timezone: str,
    last_handled: datetime,
    now: datetime,
    catch_up_limit: int,
) -> DueTimes:
    """The times in (last_handled, now] to launch: all of them, or the latest
    `catch_up_limit` after a gap (the older ones are skipped, counted)."""
    times = list(cron_times(cron_schedule, execution_timezone, last_handled, now))
    if not times:
        return DueTimes(())
    limit = max(catch_up_limit, 1)
    kept = times[-limit:]
    return DueTimes(tuple(kept), len(times) - len(kept), times[-1])


def sensor_due(
    last_evaluated: datetime | None, minimum_interval_seconds: int, now: datetime
) -> bool:
    return last_evaluated is None or now - last_evaluated >= timedelta(
        seconds=minimum_interval_seconds
    )


def schedule_run_tags(schedule_name: str, scheduled_time: datetime) -> dict[str, str]:
    return {
        SCHEDULE_NAME_TAG: schedule_name,
        SCHEDULED_TIME_TAG: scheduled_time.astimezone(UTC).isoformat(),
    }


def schedule_run_key(scheduled_time: datetime, run_key: str | None) -> str:
    """The key that makes a schedule's run unique: its scheduled time (and the request's
    own run key when one tick asks for several runs)."""
    stamp = scheduled_time.astimezone(UTC).isoformat()
    return stamp if run_key is None else f"{stamp}|{run_key}"
