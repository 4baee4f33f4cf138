"""The dequeue tick, and the same evaluation read-only for "why is this run waiting"."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Case, CharField, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from ..engine import run_queue as engine
from ..engine.config import InstanceConfig
from ..engine.types import (
    ACTIVE_STATUSES,
    Launch,
    PoolState,
    PoolSummary,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TickDecision,
    Wait,
)
from ..models import DaemonHeartbeat, PoolClaim, Run, RunEvent, RunWait
from . import heartbeats, pools
from .config import config_from_row, settings_row

log = logging.getLogger(__name__)


def summary_from_dict(data: dict | None) -> PoolSummary | None:
    if not data:
        return None
    return PoolSummary(
        root_pool_counts=data.get("root_pool_counts", {}),
        all_pools=frozenset(data.get("all_pools", ())),
        has_unconstrained_root=bool(data.get("has_unconstrained_root")),
    )


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _run_info(row: tuple) -> RunInfo:
    pk, run_id, status, tags, priority, summary, started_at = row
    return RunInfo(
        run_id=run_id,
        status=RunStatus(status),
        tags=tags or {},
        created_seq=pk,
        priority=priority,
        pool_summary=summary_from_dict(summary),
        started_at=_epoch(started_at),
    )


RUN_FIELDS = ("id", "run_id", "status", "tags", "priority", "pool_summary", "started_at")
# The same columns with the JSON ones read as their stored text, parsed by `_RunInfos`.
_ROW_FIELDS = ("id", "run_id", "status", "tags_text", "priority", "summary_text", "started_at")
_STATUSES = {status.value: status for status in RunStatus}
# Queues longer than this are parsed on every read instead of kept between reads, so an
# idle web process never holds more than about this many RunInfo (about 1.5 KB each).
MAX_CACHED_RUNS = 20_000


def _rows(qs: QuerySet[Run], *extra: str) -> list[tuple]:
    return list(
        qs.annotate(
            tags_text=Cast("tags", TextField()), summary_text=Cast("pool_summary", TextField())
        ).values_list(*_ROW_FIELDS, *extra)
    )


class _RunInfos:
    """RunInfo of the runs of the last evaluation, keyed by their row exactly as read.

    Every tick reads the same queued runs again; decoding their JSON columns and building
    their RunInfo was half of a 10,000-run tick in the profile. A row (tags and pool
    summary as stored text included) maps to exactly one RunInfo, so a hit is the value
    the row would parse to, whatever changed elsewhere. Only the rows of the last read are
    kept. Concurrent readers may each replace the map; every map they build is correct.
    """

    def __init__(self) -> None:
        self._infos: dict[tuple, RunInfo] = {}
        self._summaries: dict[str, PoolSummary | None] = {}

    def build(self, row_lists: Sequence[list[tuple]], whole: bool = True) -> list[list[RunInfo]]:
        """RunInfo of each row. A partial read (`whole` False) adds to the map instead of
        replacing it, so a page that reads the head of the queue keeps the tick's rows."""
        old = self._infos
        new: dict[tuple, RunInfo] = {} if whole else old
        result = []
        for rows in row_lists:
            infos = []
            for row in rows:
                info = old.get(row)
                if info is None:
                    info = self._parse(row)
                new[row] = info
                infos.append(info)
            result.append(infos)
        if whole or len(new) > MAX_CACHED_RUNS:
            self._infos = new if len(new) <= MAX_CACHED_RUNS else {}
        return result

    def _parse(self, row: tuple) -> RunInfo:
        pk, run_id, status, tags_text, priority, summary_text, started_at = row
        return RunInfo(
            run_id=run_id,
            status=_STATUSES[status],
            tags=(json.loads(tags_text) if tags_text is not None else None) or {},
            created_seq=pk,
            priority=priority,
            pool_summary=self._summary(summary_text),
            started_at=_epoch(started_at),
        )

    def _summary(self, text: str | None) -> PoolSummary | None:
        # A deployment has few distinct pool summaries: one per job shape.
        if text is None:
            return None
        try:
            return self._summaries[text]
        except KeyError:
            if len(self._summaries) > 10_000:
                self._summaries.clear()
            summary = self._summaries[text] = summary_from_dict(json.loads(text))
            return summary


_run_infos = _RunInfos()


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Reading a long queue allocates tens of thousands of acyclic objects; the cyclic
    # collector's passes over them were a fifth of an evaluation in the profile.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Evaluation:
    config: InstanceConfig
    snapshot: QueueSnapshot
    decision: TickDecision
    stored_rules: dict[str, str] = field(default_factory=dict)


def evaluate(
    config: InstanceConfig,
    now: float | None = None,
    init_defaults: bool = False,
    through: tuple[int, int] | None = None,
    complete: bool = True,
) -> Evaluation:
    """Read the queue, the active runs and the pools, and ask the engine (one query each).

    With `init_defaults` (the tick, under its lock) pools named by queued runs get their
    default limit first, so the first tick that sees a pool already applies it (Q3).
    With `through=(priority, id)` only the queued runs up to that run in queue order are
    read and decided: a verdict depends only on the runs ahead of it (one greedy pass), so
    those runs get exactly the verdicts a whole evaluation gives them. Pages use it to
    explain their runs without deciding the rest of the queue. `complete` goes to the
    engine: the tick asks for blocking gates only (see `engine.run_queue.decide`).
    """
    with _gc_paused():
        # The rows are dropped when `_evaluate` returns, before the collector runs again.
        return _evaluate(config, now, init_defaults, through, complete)


def _evaluate(
    config: InstanceConfig,
    now: float | None,
    init_defaults: bool,
    through: tuple[int, int] | None,
    complete: bool,
) -> Evaluation:
    queued_qs = Run.objects.queued().in_queue_order()
    if through is not None:
        priority, pk = through
        queued_qs = queued_qs.filter(Q(priority__gt=priority) | Q(priority=priority, id__lte=pk))
    queued_rows = _rows(queued_qs, "wait_rule")
    active_rows = _rows(Run.objects.filter(status__in=list(ACTIVE_STATUSES)))
    queued, active = _run_infos.build(
        [[r[:-1] for r in queued_rows], active_rows], whole=through is None
    )
    if init_defaults and config.default_pool_limit is not None:
        demanded = set()
        for run in queued:
            if run.pool_summary is not None:
                demanded |= run.pool_summary.all_pools
        pools.ensure_default_pools(demanded, config.default_pool_limit)
    snapshot = QueueSnapshot(
        settings=config.queue,
        queued=queued,
        active=active,
        pools=pool_states(),
        now=time.time() if now is None else now,
    )
    evaluation = Evaluation(config, snapshot, engine.decide(snapshot, complete=complete))
    evaluation.stored_rules = {r[1]: r[-1] for r in queued_rows}
    return evaluation


def pool_states() -> dict[str, PoolState]:
    from ..models import Pool

    holders: dict[str, list[str]] = defaultdict(list)
    pending: dict[str, int] = defaultdict(int)
    for key, run_id, claimed_at in PoolClaim.objects.values_list(
        "pool_key", "run__run_id", "claimed_at"
    ):
        pending[key] += 1
        if claimed_at is not None:
            holders[key].append(run_id)
    return {
        key: PoolState(key=key, limit=limit, pending=pending[key], holders=tuple(holders[key]))
        for key, limit in Pool.objects.values_list("key", "limit")
    }


def explain(run_id: str) -> Launch | Wait | None:
    """What the next tick would do with this queued run, and why (None if not queued)."""
    place = Run.objects.queued().filter(run_id=run_id).values_list("priority", "id").first()
    if place is None:
        return None
    evaluation = evaluate(config_from_row(settings_row()), through=place)
    return evaluation.decision.verdicts.get(run_id)


def rule_key(verdict: Wait) -> str:
    return f"{verdict.blocking.rule}:{verdict.blocking.subject}"


@dataclass(frozen=True)
class TickResult:
    ran: bool
    launched: tuple[str, ...] = ()
    queued: int = 0
    active: int = 0
    duration_ms: float = 0.0


def tick(force: bool = True, now: datetime | None = None) -> TickResult:
    """One dequeue tick: evaluate the queue and launch what the engine allows.

    Holds the deployment-settings row lock for the whole transaction, so two ticks (two
    beat processes, or a beat and `manage.py tick`) run one after the other and the second
    sees the first one's launches as active runs: limits hold whatever runs the tick.
    Without `force`, the tick is skipped unless `dequeue_interval_seconds` have passed
    since the last one started (checked under the lock).
    """
    started = time.perf_counter()
    frozen = now is not None
    now = now or timezone.now()
    try:
        with transaction.atomic():
            row = settings_row(lock=True)
            config = config_from_row(row)
            if not force and not heartbeats.due(
                DaemonHeartbeat.Daemon.RUN_QUEUE, config.dequeue_interval_seconds, now
            ):
                return TickResult(ran=False)
            evaluation = evaluate(config, now=now.timestamp(), init_defaults=True, complete=False)
            # Stamp launches after the snapshot was read, not when the tick began: a run
            # that ended in between (and freed the capacity used here) must not look as if
            # it overlapped the run launched in its place.
            launched = _apply(evaluation, now if frozen else timezone.now())
            duration = (time.perf_counter() - started) * 1000
            heartbeats.beat(
                DaemonHeartbeat.Daemon.RUN_QUEUE,
                tick_started=now,
                duration_ms=duration,
                launched=len(launched),
                queued=len(evaluation.snapshot.queued) - len(launched),
                active=len(evaluation.snapshot.active) + len(launched),
            )
            transaction.on_commit(lambda: send_launches(launched))
    except Exception as exc:
        log.exception("run queue tick failed")
        heartbeats.beat_error(DaemonHeartbeat.Daemon.RUN_QUEUE, exc, tick_started=now)
        raise
    return TickResult(
        True,
        tuple(launched),
        len(evaluation.snapshot.queued) - len(launched),
        len(evaluation.snapshot.active) + len(launched),
        duration,
    )


def _apply(evaluation: Evaluation, now: datetime) -> list[str]:
    """Write the tick's decisions with a constant number of statements (no per-run trips)."""
    decision = evaluation.decision
    launched: list[str] = []
    # Runs whose open wait-history row ends now: the launched ones and those whose rule changed.
    ended: list[int] = []
    if decision.launch:
        ids = list(
            Run.objects.filter(run_id__in=decision.launch, status=RunStatus.QUEUED).values_list(
                "id", "run_id"
            )
        )
        pks = [pk for pk, _ in ids]
        Run.objects.filter(id__in=pks, status=RunStatus.QUEUED).update(
            status=RunStatus.STARTING,
            launched_at=now,
            updated_at=now,
            wait_rule="",
            wait_reason="",
        )
        RunEvent.objects.bulk_create(
            [
                RunEvent(run_id=pk, kind="starting", message="launched by the run queue")
                for pk in pks
            ]
        )
        ended += pks
        moved = {rid for _, rid in ids}
        launched = [rid for rid in decision.launch if rid in moved]

    # Store a waiting reason only when the rule holding a run changed (wait history).
    changed: dict[tuple[str, str], list[str]] = defaultdict(list)
    stored = evaluation.stored_rules
    # Most waiting runs share a few blocking gates (once the queue is full, every later run
    # has the same one): format each gate's key once, not once per run.
    keys: dict[int, str] = {}
    for run_id, verdict in decision.verdicts.items():
        if isinstance(verdict, Wait):
            key = keys.get(id(verdict.blocking))
            if key is None:
                key = keys[id(verdict.blocking)] = rule_key(verdict)
            if stored.get(run_id) != key:
                changed[(key, verdict.message)].append(run_id)
    if changed:
        # Queued runs' primary keys are their creation order, already in the snapshot.
        pk_of = {run.run_id: run.created_seq for run in evaluation.snapshot.queued}
        groups = [
            (key, message, [pk_of[rid] for rid in run_ids])
            for (key, message), run_ids in changed.items()
        ]
        ended += [pk for _, _, pks in groups for pk in pks]
    for chunk in _chunks(ended):
        RunWait.objects.filter(run_id__in=chunk, ended_at__isnull=True).update(ended_at=now)
    if changed:
        _store_wait_reasons(groups)
        RunWait.objects.bulk_create(
            [
                RunWait(run_id=pk, rule=key, message=message, started_at=now)
                for key, message, pks in groups
                for pk in pks
            ]
        )
    return launched


# Statements stay well under SQLite's limit of bound parameters however long the queue.
_CHUNK = 2000


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _store_wait_reasons(groups: list[tuple[str, str, list[int]]]) -> None:
    """Set (wait_rule, wait_reason) of each group's runs, still queued, in one UPDATE per
    chunk of runs instead of one per distinct reason (the profile of a steady 10,000-run
    tick showed about twenty such statements, one per tag value or pool that filled)."""
    batch: list[tuple[str, str, list[int]]] = []
    size = 0
    for key, message, pks in groups:
        for chunk in _chunks(pks):
            if size + len(chunk) > _CHUNK and batch:
                _update_reasons(batch)
                batch, size = [], 0
            batch.append((key, message, chunk))
            size += len(chunk)
    if batch:
        _update_reasons(batch)


def _update_reasons(batch: list[tuple[str, str, list[int]]]) -> None:
    Run.objects.filter(
        id__in=[pk for _, _, pks in batch for pk in pks], status=RunStatus.QUEUED
    ).update(
        wait_rule=Case(
            *[When(id__in=pks, then=Value(key)) for key, _, pks in batch],
            output_field=CharField(),
        ),
        wait_reason=Case(
            *[When(id__in=pks, then=Value(message)) for _, message, pks in batch],
            output_field=TextField(),
        ),
    )


def send_launches(run_ids: list[str]) -> None:
    """Send each launched run to the workers. Runs stay STARTING in the database if the
    broker is down; run monitoring re-sends them (the task is idempotent)."""
    from ..tasks import execute_run

    for run_id in run_ids:
        try:
            execute_run.delay(run_id)
        except Exception:
            log.exception(
                "could not send run %s to the workers; monitoring will re-send it", run_id
            )
