"""Partitions: which partition keys a job has at a given moment, and which a request selects.

Pure: the clock is an argument. `StaticPartitionsDefinition` is a fixed list of keys; the
time-window definitions (`DailyPartitionsDefinition`, `HourlyPartitionsDefinition`,
`MonthlyPartitionsDefinition`) have one key per window from `start_date`, in the given
timezone, like Dagster's: a window's partition exists once the window has ended (with
`end_offset=0`), so today's daily partition appears tomorrow; `end_offset=1` adds the window
in progress, `-1` holds back the last ended one.

A run of a partitioned job carries its key in the tag `dagster/partition` (PARTITION_TAG);
a run of a backfill carries the backfill's id in `dagster/backfill` (BACKFILL_TAG).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .types import FINISHED_STATUSES, ConfigError, RunStatus

PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"
# One backfill submits at most this many runs (a bigger one is several backfills).
MAX_BACKFILL_PARTITIONS = 10_000
# A time-window definition produces at most this many keys (about 11 years of hours).
MAX_TIME_WINDOWS = 100_000


class PartitionError(ValueError):
    """A partitions definition that cannot be built (bad start date, timezone, keys)."""


class PartitionsDefinition:
    """The keys of a partitioned asset or job. Subclasses define `partition_keys(now)`."""

    kind = "partitions"

    def partition_keys(self, now: datetime) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    # Dagster's spelling (its `current_time` is optional; ours is the clock passed in).
    def get_partition_keys(self, current_time: datetime) -> list[str]:
        return self.partition_keys(current_time)


@dataclass(frozen=True, eq=True)
class StaticPartitionsDefinition(PartitionsDefinition):
    """A fixed list of partition keys: `StaticPartitionsDefinition(["eu", "us"])`."""

    keys: tuple[str, ...]
    kind = "static"

    def __init__(self, partition_keys: Sequence[str]) -> None:
        if isinstance(partition_keys, str) or not isinstance(partition_keys, Iterable):
            raise PartitionError("StaticPartitionsDefinition takes a list of partition keys")
        keys = tuple(partition_keys)
        problems = [f"{k!r} is not a non-empty string" for k in keys if not _is_key(k)]
        if problems:
            raise PartitionError("partition keys: " + "; ".join(problems))
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise PartitionError(f"duplicate partition keys: {', '.join(duplicates)}")
        if not keys:
            raise PartitionError("StaticPartitionsDefinition needs at least one key")
        object.__setattr__(self, "keys", keys)

    def partition_keys(self, now: datetime) -> list[str]:
        return list(self.keys)

    def describe(self) -> str:
        return f"static ({len(self.keys)} keys)"


def _is_key(key: object) -> bool:
    return isinstance(key, str) and bool(key) and key == key.strip() and len(key) <= 200


@dataclass(frozen=True, eq=True)
class TimeWindowPartitionsDefinition(PartitionsDefinition):
    """One key per window of `cadence` ("hourly", "daily" or "monthly") from `start`."""

    cadence: str
    start: datetime
    fmt: str
    timezone: str = "UTC"
    end_offset: int = 0
    end: datetime | None = field(default=None)

    def __post_init__(self) -> None:
        if self.cadence not in _STEPS:
            raise PartitionError(f"cadence must be one of {', '.join(_STEPS)}")
        if isinstance(self.end_offset, bool) or not isinstance(self.end_offset, int):
            raise PartitionError("end_offset must be a whole number")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.cadence

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window_starts(self, now: datetime) -> list[datetime]:
        """The start of every window whose partition exists at `now`, oldest first."""
        zone = self._zone()
        local_now = _aware(now).astimezone(zone)
        start = self.start.replace(tzinfo=zone)
        starts: list[datetime] = []
        current = start
        # Windows that have ended by `now` (then end_offset more, or fewer).
        while len(starts) <= MAX_TIME_WINDOWS:
            following = _STEPS[self.cadence](current)
            if _wall_ge(following, local_now):
                break
            if self.end is not None and current >= self.end.replace(tzinfo=zone):
                break
            starts.append(current)
            current = following
        if self.end_offset > 0:
            extra = current
            for _ in range(self.end_offset):
                starts.append(extra)
                extra = _STEPS[self.cadence](extra)
        elif self.end_offset < 0:
            starts = starts[: max(len(starts) + self.end_offset, 0)]
        return starts

    def partition_keys(self, now: datetime) -> list[str]:
        return [start.strftime(self.fmt) for start in self.window_starts(now)]

    def describe(self) -> str:
        return f"{self.cadence} from {self.start.strftime(self.fmt)} ({self.timezone})"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _wall_ge(local_window_end: datetime, local_now: datetime) -> bool:
    # Compare instants: wall-clock windows in the zone, DST included.
    return local_window_end.astimezone(UTC) > local_now.astimezone(UTC)


def _next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1)


_STEPS = {
    "hourly": lambda m: m + timedelta(hours=1),
    "daily": lambda m: m + timedelta(days=1),
    "monthly": _next_month,
}


def _parse_start(value: object, fmt: str, what: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        for pattern in (fmt, "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"):
            try:
                return datetime.strptime(value, pattern)
            except ValueError:
                continue
        raise PartitionError(f"{what} {value!r} is not a date like 2024-01-31")
    raise PartitionError(f"{what} must be a date, a datetime or a string like 2024-01-31")


def _check_zone(name: object) -> str:
    if name is None:
        return "UTC"
    if not isinstance(name, str) or not name:
        raise PartitionError("timezone must be a name like 'UTC' or 'Europe/Paris'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartitionError(f"unknown timezone {name!r}") from None
    return name


def _time_window(
    cadence: str,
    start_date: object,
    end_date: object,
    fmt: str,
    timezone_name: object,
    end_offset: int,
) -> TimeWindowPartitionsDefinition:
    start = _parse_start(start_date, fmt, "start_date")
    end = None if end_date is None else _parse_start(end_date, fmt, "end_date")
    if cadence == "daily":
        start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    elif cadence == "monthly":
        start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        start = start.replace(minute=0, second=0, microsecond=0)
    return TimeWindowPartitionsDefinition(
        cadence=cadence,
        start=start,
        fmt=fmt,
        timezone=_check_zone(timezone_name),
        end_offset=end_offset,
        end=end,
    )


def DailyPartitionsDefinition(  # noqa: N802 - Dagster's name
    start_date: object,
    end_offset: int = 0,
    timezone: str | None = None,
    fmt: str = "%Y-%m-%d",
    end_date: object = None,
) -> TimeWindowPartitionsDefinition:
    """One partition per day from `start_date` (keys like 2024-01-31)."""
    return _time_window("daily", start_date, end_date, fmt, timezone, end_offset)


def HourlyPartitionsDefinition(  # noqa: N802 - Dagster's name
    start_date: object,
    end_offset: int = 0,
    timezone: str | None = None,
    fmt: str = "%Y-%m-%d-%H:%M",
    end_date: object = None,
) -> TimeWindowPartitionsDefinition:
    """One partition per hour from `start_date` (keys like 2024-01-31-13:00)."""
    return _time_window("hourly", start_date, end_date, fmt, timezone, end_offset)


def MonthlyPartitionsDefinition(  # noqa: N802 - Dagster's name
    start_date: object,
    end_offset: int = 0,
    timezone: str | None = None,
    fmt: str = "%Y-%m-%d",
    end_date: object = None,
) -> TimeWindowPartitionsDefinition:
    """One partition per month from `start_date` (keys like 2024-01-01)."""
    return _time_window("monthly", start_date, end_date, fmt, timezone, end_offset)


# ---------------------------------------------------------------------------------------
# Checks of a run's partition and of a backfill's selection


def partition_tag_errors(
    job_name: str,
    partitions: PartitionsDefinition | None,
    tags: Mapping[str, str],
    now: datetime,
    path: str = "tags",
) -> list[ConfigError]:
    """A run's `dagster/partition` tag against its job: required and known for a
    partitioned job, absent for another."""
    key = tags.get(PARTITION_TAG)
    if partitions is None:
        if key is not None:
            return [ConfigError(f"{path}.{PARTITION_TAG}", f"job '{job_name}' is not partitioned")]
        return []
    if key is None:
        return [
            ConfigError(
                f"{path}.{PARTITION_TAG}",
                f"job '{job_name}' is partitioned ({partitions.describe()}): choose a partition",
            )
        ]
    if key not in set(partitions.partition_keys(now)):
        return [
            ConfigError(
                f"{path}.{PARTITION_TAG}",
                f"job '{job_name}' has no partition {key!r} ({partitions.describe()})",
            )
        ]
    return []


def select_partitions(
    job_name: str,
    partitions: PartitionsDefinition | None,
    now: datetime,
    *,
    keys: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    all_keys: bool = False,
) -> tuple[list[str], list[ConfigError]]:
    """The partition keys a backfill request selects, in the definition's order: a list
    (`keys`), an inclusive range (`start`..`end`) or every key (`all_keys`), exactly one."""
    if partitions is None:
        return [], [ConfigError("job", f"job '{job_name}' is not partitioned: nothing to backfill")]
    chosen = [
        name
        for name, given in (
            ("partitions", keys is not None),
            ("from/to", start is not None or end is not None),
            ("all", all_keys),
        )
        if given
    ]
    if len(chosen) != 1:
        return [], [
            ConfigError(
                "partitions",
                "give exactly one of: a list of partitions, a range (from and to), or all",
            )
        ]
    existing = partitions.partition_keys(now)
    index = {key: i for i, key in enumerate(existing)}
    errors: list[ConfigError] = []
    selected: list[str]
    if keys is not None:
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            return [], [ConfigError("partitions", "expected a list of partition keys")]
        unknown = [k for k in keys if k not in index]
        if unknown:
            shown = ", ".join(repr(k) for k in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            errors.append(
                ConfigError("partitions", f"job '{job_name}' has no partition {shown}{more}")
            )
        selected = sorted(dict.fromkeys(k for k in keys if k in index), key=index.__getitem__)
    elif all_keys:
        selected = existing
    else:
        for name, value in (("from", start), ("to", end)):
            if value is None:
                errors.append(ConfigError(name, "a range needs both from and to"))
            elif value not in index:
                errors.append(ConfigError(name, f"job '{job_name}' has no partition {value!r}"))
        if errors:
            return [], errors
        assert start is not None and end is not None
        low, high = index[start], index[end]
        if low > high:
            return [], [ConfigError("from", f"{start!r} comes after {end!r}")]
        selected = existing[low : high + 1]
    if not errors and not selected:
        errors.append(ConfigError("partitions", "the selection is empty"))
    if len(selected) > MAX_BACKFILL_PARTITIONS:
        errors.append(
            ConfigError(
                "partitions",
                f"{len(selected)} partitions is too many for one backfill: "
                f"at most {MAX_BACKFILL_PARTITIONS}",
            )
        )
    return (selected, []) if not errors else ([], errors)


# ---------------------------------------------------------------------------------------
# A backfill's state, from the statuses of its runs


def backfill_status(counts: Mapping[str, int], canceled: bool) -> str:
    """IN_PROGRESS while a run is queued or in progress; then COMPLETED_SUCCESS, or
    COMPLETED_FAILED when a run failed or was canceled. A canceled backfill is CANCELING
    until its runs in progress have stopped, then CANCELED."""
    unfinished = sum(n for status, n in counts.items() if status not in FINISHED_STATUSES)
    if canceled:
        return "CANCELING" if unfinished else "CANCELED"
    if unfinished:
        return "IN_PROGRESS"
    failed = counts.get(RunStatus.FAILURE, 0) + counts.get(RunStatus.CANCELED, 0)
    return "COMPLETED_FAILED" if failed else "COMPLETED_SUCCESS"
