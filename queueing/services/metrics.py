"""Prometheus metrics, read from the database at scrape time (no state kept in the process).

The web server may run several processes and the daemons run elsewhere, so in-process
counters would disagree; a custom collector reading the same rows as the dashboard cannot.
Every metric is a gauge of the current state or of a recent window (SEMANTICS 7, item 5:
queue depth by tag and pool, slots, tick duration, launches per tick, oldest queued age,
time at cap).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, Metric

from ..engine.plan import pool_summary_from_dict
from ..engine.types import ACTIVE_STATUSES, RunStatus
from ..models import DaemonHeartbeat, Pool, Run, RunWait, TickRecord
from .config import current_config
from .heartbeats import is_healthy
from .pools import pool_usage

PREFIX = "concurrency_ui"
WINDOW = timedelta(hours=1)
# Label for a key-only tag limit, which counts runs carrying the key whatever its value.
ANY_VALUE = "*"
# Fair share's label for runs without its key (they share one group, of weight 1).
NO_VALUE = "(no value)"


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def _at_cap_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals (overlapping waits count once)."""
    total = 0.0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return total


class QueueCollector:
    """Reads runs, pools, heartbeats, ticks and wait history on every `collect`."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now  # fixed in tests; None = the time of the scrape

    def collect(self) -> Iterator[Metric]:
        now = self._now or timezone.now()
        config = current_config()
        yield from self._runs(now)
        yield from self._tags(config)
        yield from self._pools()
        yield from self._daemons(config, now)
        yield from self._limits(now)
        yield from self._fair_share(config, now)
        yield from self._start_estimates(now)

    def _start_estimates(self, now: datetime) -> Iterator[Metric]:
        """How far the first start estimate of each run launched in the last hour was
        from its real start (`Run.start_estimate_seconds` against `launched_at`)."""
        rows = Run.objects.filter(
            launched_at__gte=now - WINDOW, start_estimate_seconds__isnull=False
        ).values_list("enqueued_at", "launched_at", "start_estimate_seconds")
        errors = sorted(
            abs((launched - enqueued).total_seconds() - estimate)
            for enqueued, launched, estimate in rows
            if enqueued is not None
        )
        runs = _gauge(
            "start_estimate_runs_last_hour",
            "Runs launched in the last hour that had a start estimate.",
        )
        runs.add_metric([], len(errors))
        yield runs
        for name, fraction in (("p50", 0.5), ("p90", 0.9)):
            gauge = _gauge(
                f"start_estimate_error_{name}_seconds_last_hour",
                f"{name} of |first start estimate - real start| over those runs (0 if none).",
            )
            gauge.add_metric([], _percentile(errors, fraction))
            yield gauge

    def _runs(self, now: datetime) -> Iterator[Metric]:
        runs = _gauge("runs", "Runs by status.", ["status"])
        counts = dict(Run.objects.values_list("status").annotate(n=Count("id")))
        for status in RunStatus:
            runs.add_metric([status.value], counts.get(status.value, 0))
        yield runs
        oldest = Run.objects.queued().aggregate(first=Min("enqueued_at"), created=Min("created_at"))
        age = _gauge("oldest_queued_run_age_seconds", "Age of the run queued longest (0 if none).")
        first = oldest["first"] or oldest["created"]
        age.add_metric([], (now - first).total_seconds() if first else 0.0)
        yield age

    def _tags(self, config) -> Iterator[Metric]:
        """Queued runs per configured tag limit: key=value, key=* (key-only), or each value."""
        family = _gauge(
            "queued_runs_by_tag",
            "Queued runs carrying a tag that a run tag limit counts (value * = any value).",
            ["key", "value"],
        )
        limit = _gauge("tag_limit", "Configured run tag limits.", ["key", "value"])
        limits = config.queue.tag_limits
        keys = {t.key for t in limits}
        counts: Counter[tuple[str, str]] = Counter()
        if keys:
            for tags in Run.objects.queued().values_list("tags", flat=True).iterator(2000):
                for key in keys.intersection(tags or {}):
                    counts[(key, ANY_VALUE)] += 1
                    counts[(key, str(tags[key]))] += 1
        seen: set[tuple[str, str]] = set()
        for tag_limit in limits:
            if tag_limit.per_unique_value or tag_limit.distinct_values:
                pairs = [p for p in counts if p[0] == tag_limit.key and p[1] != ANY_VALUE]
                label = " (distinct values)" if tag_limit.distinct_values else " (per value)"
                limit.add_metric([tag_limit.key, ANY_VALUE + label], tag_limit.limit)
            else:
                value = ANY_VALUE if tag_limit.value is None else tag_limit.value
                pairs = [(tag_limit.key, value)]
                limit.add_metric([tag_limit.key, value], tag_limit.limit)
            for pair in pairs:
                if pair not in seen:
                    seen.add(pair)
                    family.add_metric(list(pair), counts.get(pair, 0))
        yield family
        yield limit

    def _pools(self) -> Iterator[Metric]:
        limit = _gauge("pool_limit", "Slots of each pool that has a limit.", ["pool"])
        in_use = _gauge(
            "pool_slots_in_use", "Slots held by steps (a step of weight 3 holds 3).", ["pool"]
        )
        waiting = _gauge("pool_steps_waiting", "Steps waiting for slots.", ["pool"])
        waiting_slots = _gauge(
            "pool_slots_waited_for", "Slots the waiting steps wait for, by weight.", ["pool"]
        )
        queued = _gauge(
            "queued_runs_by_pool", "Queued runs with at least one step on the pool.", ["pool"]
        )
        limits = dict(Pool.objects.values_list("key", "limit"))
        usage = pool_usage()
        demand: Counter[str] = Counter()
        for summary in Run.objects.queued().values_list("pool_summary", flat=True).iterator(2000):
            for key in pool_summary_from_dict(summary).all_pools if summary else ():
                demand[key] += 1
        for key, value in sorted(limits.items()):
            limit.add_metric([key], value)
        for key in sorted(set(limits) | set(usage)):
            in_use.add_metric([key], usage.get(key, {}).get("held", 0))
            waiting.add_metric([key], usage.get(key, {}).get("waiting", 0))
            waiting_slots.add_metric([key], usage.get(key, {}).get("waiting_slots", 0))
        for key in sorted(set(limits) | set(demand)):
            queued.add_metric([key], demand.get(key, 0))
        yield from (limit, in_use, waiting, waiting_slots, queued)

    def _daemons(self, config, now: datetime) -> Iterator[Metric]:
        max_runs = _gauge("max_concurrent_runs", "Configured max_concurrent_runs (-1 = no limit).")
        max_runs.add_metric([], config.queue.max_concurrent_runs)
        yield max_runs
        healthy = _gauge(
            "daemon_healthy", "1 if the daemon's heartbeat is recent enough.", ["daemon"]
        )
        heartbeat = _gauge(
            "daemon_last_heartbeat_timestamp_seconds", "Time of the last heartbeat.", ["daemon"]
        )
        duration = _gauge(
            "tick_duration_seconds", "Duration of the daemon's last tick.", ["daemon"]
        )
        launched = _gauge("tick_launched_runs", "Runs launched by the last run-queue tick.")
        window_launched = _gauge(
            "runs_launched_last_hour", "Runs launched by run-queue ticks in the last hour."
        )
        ticks = _gauge("ticks_last_hour", "Ticks in the last hour.", ["daemon"])
        errors = _gauge("tick_errors_last_hour", "Failed ticks in the last hour.", ["daemon"])
        intervals = {
            DaemonHeartbeat.Daemon.RUN_QUEUE: config.dequeue_interval_seconds,
            DaemonHeartbeat.Daemon.RUN_MONITORING: config.monitoring.poll_interval_seconds,
        }
        rows = {r.daemon: r for r in DaemonHeartbeat.objects.all()}
        tolerance = config.extra.daemon_heartbeat_tolerance_seconds
        for daemon, interval in intervals.items():
            row = rows.get(daemon.value)
            healthy.add_metric(
                [daemon.value], 1 if is_healthy(row, interval, tolerance, now) else 0
            )
            if row is not None:
                heartbeat.add_metric([daemon.value], row.last_heartbeat.timestamp())
                if row.last_tick_duration_ms is not None:
                    duration.add_metric([daemon.value], row.last_tick_duration_ms / 1000)
                if daemon == DaemonHeartbeat.Daemon.RUN_QUEUE:
                    launched.add_metric([], row.last_launched)
        recent = TickRecord.objects.filter(started_at__gte=now - WINDOW)
        per_daemon: dict[str, dict[str, Any]] = {
            r["daemon"]: dict(r)
            for r in recent.values("daemon").annotate(
                n=Count("id"), failed=Count("id", filter=~Q(error="")), launched=Sum("launched")
            )
        }
        for daemon in intervals:
            counts = per_daemon.get(daemon.value, {})
            ticks.add_metric([daemon.value], counts.get("n", 0))
            errors.add_metric([daemon.value], counts.get("failed", 0))
        run_queue = per_daemon.get(DaemonHeartbeat.Daemon.RUN_QUEUE.value, {})
        window_launched.add_metric([], run_queue.get("launched") or 0)
        yield from (healthy, heartbeat, duration, launched, window_launched, ticks, errors)

    def _limits(self, now: datetime) -> Iterator[Metric]:
        """Per rule that held runs back: runs held now, and time at cap in the last hour.

        A limit is "at cap" while at least one queued run waits on it; the wait history
        stores each stretch once (RunWait), so the union of those stretches is that time.
        """
        waiting = _gauge(
            "limit_waiting_runs",
            "Queued runs held back by each rule at the last tick.",
            ["rule", "subject"],
        )
        at_cap = _gauge(
            "limit_at_cap_seconds_last_hour",
            "Seconds in the last hour during which the rule held at least one run back.",
            ["rule", "subject"],
        )
        for key, count in (
            Run.objects.queued()
            .exclude(wait_rule="")
            .values_list("wait_rule")
            .annotate(n=Count("id"))
        ):
            rule, _, subject = key.partition(":")
            waiting.add_metric([rule, subject], count)
        p50 = _gauge(
            "limit_wait_p50_seconds_last_hour",
            "Median length of the waits each rule caused in the last hour.",
            ["rule", "subject"],
        )
        p95 = _gauge(
            "limit_wait_p95_seconds_last_hour",
            "95th percentile length of the waits each rule caused in the last hour.",
            ["rule", "subject"],
        )
        for stat in limit_history(now):
            at_cap.add_metric([stat.rule, stat.subject], stat.at_cap_seconds)
            p50.add_metric([stat.rule, stat.subject], stat.p50_wait_seconds)
            p95.add_metric([stat.rule, stat.subject], stat.p95_wait_seconds)
        yield waiting
        yield at_cap
        yield p50
        yield p95

    def _fair_share(self, config, now: datetime) -> Iterator[Metric]:
        """Each value's share under `concurrency_ui.fair_share` (none when it is off):
        queued runs, runs in progress and runs launched in the last hour, and its weight."""
        rule = config.queue.fair_share
        if rule is None:
            return
        labels = ["key", "value"]
        queued = _gauge("fair_share_queued_runs", "Queued runs per fair-share value.", labels)
        active = _gauge(
            "fair_share_running_runs",
            "Runs in progress (STARTING, STARTED, CANCELING) per fair-share value.",
            labels,
        )
        launched = _gauge(
            "fair_share_runs_launched_last_hour",
            "Runs launched in the last hour per fair-share value: the turns each value had.",
            labels,
        )
        weight = _gauge("fair_share_weight", "Configured fair-share weights.", labels)
        live = [RunStatus.QUEUED, *ACTIVE_STATUSES]
        now_counts: Counter[tuple[str, str | None]] = Counter()
        counted = Run.objects.filter(status__in=live).count_by_tag_value(rule.key)
        for (status, value), n in counted.items():
            now_counts[("queued" if status == RunStatus.QUEUED else "active", value)] += n
        recent: Counter[str | None] = Counter()
        launches = Run.objects.filter(launched_at__gte=now - WINDOW)
        for (_, value), n in launches.count_by_tag_value(rule.key).items():
            recent[value] += n
        values = {v for _, v in now_counts} | set(recent) | set(rule.weight_map)
        for value in sorted(values, key=lambda v: (v is None, v or "")):
            label = [rule.key, NO_VALUE if value is None else value]
            queued.add_metric(label, now_counts[("queued", value)])
            active.add_metric(label, now_counts[("active", value)])
            launched.add_metric(label, recent[value])
        for value, w in sorted(rule.weight_map.items()):
            weight.add_metric([rule.key, value], w)
        yield from (queued, active, launched, weight)


def render(now: datetime | None = None) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(now))
    return generate_latest(registry), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class LimitStat:
    """How one rule held runs back over a window: time at cap and the waits it caused."""

    rule: str
    subject: str
    at_cap_seconds: float
    waits: int
    p50_wait_seconds: float
    p95_wait_seconds: float
    window_seconds: float

    @property
    def at_cap_share(self) -> float:
        return min(1.0, self.at_cap_seconds / self.window_seconds) if self.window_seconds else 0.0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def limit_history(now: datetime, window: timedelta = WINDOW) -> list[LimitStat]:
    """Per rule, over the last `window`: time at cap and p50/p95 of the waits it caused.

    A limit is "at cap" while at least one queued run waits on it; the wait history
    stores each stretch once (RunWait), so the union of those stretches is that time. A
    wait's length is its whole stretch on that rule (clipped to the window).
    """
    start = now - window
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    # An open wait counts only while its run is queued (a run canceled while queued
    # leaves its last wait open).
    rows = RunWait.objects.filter(
        Q(ended_at__isnull=True, run__status=RunStatus.QUEUED) | Q(ended_at__gt=start),
        started_at__lt=now,
    )
    for key, began, ended in rows.values_list("rule", "started_at", "ended_at").iterator(5000):
        intervals[key].append((max(began, start).timestamp(), min(ended or now, now).timestamp()))
    stats = []
    for key, spans in sorted(intervals.items()):
        rule, _, subject = key.partition(":")
        lengths = [end - begin for begin, end in spans]
        stats.append(
            LimitStat(
                rule=rule,
                subject=subject,
                at_cap_seconds=_at_cap_seconds(spans),
                waits=len(spans),
                p50_wait_seconds=_percentile(lengths, 0.5),
                p95_wait_seconds=_percentile(lengths, 0.95),
                window_seconds=window.total_seconds(),
            )
        )
    return sorted(stats, key=lambda s: -s.at_cap_seconds)
