"""The dequeue tick, and the same evaluation read-only for "why is this run waiting"."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import BooleanField, Case, F, Min, Q, QuerySet, TextField, Value, When
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import In
from django.utils import timezone

from .. import dispatch
from ..engine import pools as engine_pools
from ..engine import run_queue as engine
from ..engine.config.model import InstanceConfig
from ..engine.gates import cyclic_gc_paused
from ..engine.plan import pool_summary_from_dict
from ..engine.types import (
    ACTIVE_STATUSES,
    DISTINCT_SUFFIX,
    FINISHED_STATUSES,
    PRIORITY_TAG,
    Gate,
    Launch,
    PoolState,
    PoolSummary,
    QueueSnapshot,
    RunInfo,
    RunStatus,
    TickDecision,
    Wait,
)
from ..models import DaemonHeartbeat, Run, RunEvent, RunWait
from . import heartbeats, pools, tick_requests
from .config import config_from_row, settings_row

log = logging.getLogger(__name__)


def summary_from_dict(data: dict | None) -> PoolSummary | None:
    """A run's stored pool summary (`engine.plan.pool_summary_to_dict`), or None."""
    return pool_summary_from_dict(data) if data else None


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


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
            pool_summary=self.summary(summary_text),
            started_at=_epoch(started_at),
        )

    def known_summaries(self) -> dict[str, PoolSummary]:
        """Every pool summary parsed so far, by its stored text."""
        return {text: s for text, s in self._summaries.items() if s is not None}

    def summary(self, text: str | None) -> PoolSummary | None:
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


def run_infos(qs: QuerySet[Run]) -> list[RunInfo]:
    """The runs of `qs`, in its order, as the engine reads them (parsed as the tick does)."""
    return _run_infos.build([_rows(qs)], whole=False)[0]


# The tick reads the head of the queue, and more only while runs could still launch.
FIRST_READ = 250
READ_GROWTH = 8


@dataclass
class Evaluation:
    config: InstanceConfig
    snapshot: QueueSnapshot
    decision: TickDecision
    stored_rules: dict[str, str] = field(default_factory=dict)
    # Queued runs in the database, read or not.
    queued_total: int = 0
    # (priority, id) of the last run read when queued runs after it were left unread:
    # they all wait on `decision.later_runs_wait_on` (the tick only).
    unread_after: tuple[int, int] | None = None
    # A waiting run keeps its stored rule while that rule still holds it, even when an
    # earlier-listed one holds it too (an unlimited queue, see `_evaluate_unlimited`).
    keep_holding_rules: bool = False


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

    Without `complete` the queue is read from its head, FIRST_READ runs first and
    READ_GROWTH times more while the engine says runs could still launch. Once a decided
    head leaves max_concurrent_runs used up, every later run waits on it (the engine's
    `later_runs_wait_on`), so a tick over a long, full queue reads only its head.
    """
    with cyclic_gc_paused():
        # The rows are dropped when `_evaluate` returns, before the collector runs again.
        return _evaluate(config, now, init_defaults, through, complete)


def _evaluate(
    config: InstanceConfig,
    now: float | None,
    init_defaults: bool,
    through: tuple[int, int] | None,
    complete: bool,
) -> Evaluation:
    queued_qs: QuerySet[Run] = Run.objects.queued().in_queue_order()
    # Fair share orders runs by their turns, which no prefix of the database's queue order
    # holds: a run's verdict may depend on any queued run, so the whole queue is read.
    whole_queue = config.queue.fair_share is not None
    if whole_queue:
        through = None
    if through is not None:
        priority, pk = through
        queued_qs = queued_qs.filter(Q(priority__gt=priority) | Q(priority=priority, id__lte=pk))
    active_rows = _rows(Run.objects.filter(status__in=list(ACTIVE_STATUSES)))
    if init_defaults and config.default_pool_limit is not None:
        pools.ensure_default_pools(_demanded_pools(), config.default_pool_limit)
    pool_snapshot = pool_states()
    now = time.time() if now is None else now
    limit = None if complete or through is not None or whole_queue else FIRST_READ
    fair_finished = backlog_turns(config) if whole_queue else {}
    if limit is not None and engine.skips_runs_held_by_tags(config.queue):
        return _evaluate_unlimited(config, queued_qs, active_rows, pool_snapshot, now)
    while True:
        queued_rows = _rows(queued_qs if limit is None else queued_qs[:limit], "wait_rule")
        queued, active = _run_infos.build(
            [[r[:-1] for r in queued_rows], active_rows], whole=through is None
        )
        snapshot = QueueSnapshot(
            settings=config.queue,
            queued=queued,
            active=active,
            pools=pool_snapshot,
            now=now,
            fair_finished=fair_finished,
        )
        decision = engine.decide(snapshot, complete=complete)
        if limit is None or len(queued_rows) < limit or decision.later_runs_wait_on:
            break
        limit *= READ_GROWTH
    evaluation = Evaluation(config, snapshot, decision, queued_total=len(queued_rows))
    evaluation.stored_rules = {r[1]: r[-1] for r in queued_rows}
    if limit is not None and len(queued_rows) == limit:
        last = queued_rows[-1]
        evaluation.unread_after = (last[4], last[0])
        evaluation.queued_total = Run.objects.queued().count()
    return evaluation


def _evaluate_unlimited(
    config: InstanceConfig,
    queued_qs: QuerySet[Run],
    active_rows: list[tuple],
    pool_snapshot: dict[str, PoolState],
    now: float,
) -> Evaluation:
    """The tick of an unlimited queue (`max_concurrent_runs: -1` with tag limits,
    `engine.run_queue.skips_runs_held_by_tags`).

    Reads the queue in order, in growing chunks, leaving out the runs that carry a tag the
    active runs and the runs launched so far fill, or whose pools they fill (such runs wait
    whatever comes after, see `tags_full_now` and `pool_summaries_full_now`), and decides
    the runs read. A tag refilled by this tick's launches
    holds the rest of its runs unread, so a steady tick reads about the runs of the tags
    that had room, not the queue.

    A run's stored rule changes only when it no longer holds the run (not whenever another
    full limit listed before it also does): with runs ending every tick the first failing
    gate of most runs flips between their tags, and rewriting it each time was most of a
    steady tick. The stored rule stays true; the pages explain with every gate."""
    counted = _run_infos.build([active_rows], False)[0]
    summaries = _run_infos.known_summaries()
    rows: list[tuple] = []
    stored: list[str] | None = None
    size = FIRST_READ
    while True:
        full = engine.tags_full_now(config.queue, counted)
        held_pools = engine.pool_summaries_full_now(
            QueueSnapshot(config.queue, [], counted, pool_snapshot, now), summaries
        )
        chunk_qs = queued_qs
        if rows:
            priority, pk = rows[-1][4], rows[-1][0]
            chunk_qs = chunk_qs.filter(Q(priority__lt=priority) | Q(priority=priority, id__gt=pk))
        if stored is None and full is not None and (full[0] or full[1]):
            stored = _stored_rules()
        chunk = _rows(_not_held(chunk_qs, full, held_pools, stored)[:size], "wait_rule")
        rows += chunk
        queued, active = _run_infos.build([[r[:-1] for r in rows], active_rows], whole=False)
        snapshot = QueueSnapshot(
            settings=config.queue, queued=queued, active=active, pools=pool_snapshot, now=now
        )
        decision = engine.decide(snapshot, complete=False)
        if len(chunk) < size:
            break
        size *= READ_GROWTH
        launched = set(decision.launch)
        counted = [
            *active,
            *engine.counted_as_launched(run for run in queued if run.run_id in launched),
        ]
    evaluation = Evaluation(config, snapshot, decision, queued_total=Run.objects.queued().count())
    evaluation.stored_rules = {r[1]: r[-1] for r in rows}
    evaluation.keep_holding_rules = True
    return evaluation


# Beyond this many full tags a tick reads the whole unlimited queue (bound parameters).
_MAX_FULL_TAGS = 2000


def _stored_rules() -> list[str] | None:
    """The distinct stored rules of the queued runs (`wait_rule`, '' included), one probe
    of the `run_queue_rule` index each; None beyond _MAX_FULL_TAGS of them."""
    table = connection.ops.quote_name(Run._meta.db_table)
    sql = (
        f"WITH RECURSIVE rules(rule) AS (SELECT MIN(wait_rule) FROM {table} WHERE status = %s"
        f" UNION ALL SELECT (SELECT MIN(wait_rule) FROM {table}"
        "  WHERE status = %s AND wait_rule > rules.rule)"
        " FROM rules WHERE rules.rule IS NOT NULL)"
        " SELECT rule FROM rules WHERE rule IS NOT NULL LIMIT %s"
    )
    queued = RunStatus.QUEUED.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [queued, queued, _MAX_FULL_TAGS + 1])
        found = [rule for (rule,) in cursor.fetchall()]
    return found if len(found) <= _MAX_FULL_TAGS else None


def _carried_by_rule(key: str, value: str | None) -> bool:
    """Whether a queued run whose stored rule is the gate key of the tag limit bucket
    (key, value) carries that tag: no other bucket's gate key is the same text (no "="
    in the key, nor in the value, no distinct-values suffix) and the tag is not the
    priority, the one tag of a queued run that changes (`runs.set_priority`)."""
    return (
        "=" not in key
        and not key.endswith(DISTINCT_SUFFIX)
        and key != PRIORITY_TAG
        and (value is None or ("=" not in value and not value.endswith(DISTINCT_SUFFIX)))
    )


def _not_held(
    queued: QuerySet[Run],
    full: engine.FullTags | None,
    held_pools: set[str],
    stored: list[str] | None = None,
) -> QuerySet[Run]:
    """The queued runs but those that wait this tick whatever the rest of the queue does:
    runs that carry a tag `engine.tags_full_now` says is full and whose stored rule is such
    a tag, and runs whose pool summary (its stored text) `pool_summaries_full_now` names
    and whose stored rule is a pool. Their stored reason stays true. A run whose stored
    rule is something else is read, so its reason is brought up to date once.

    With `stored` (`_stored_rules`), the runs whose stored rule is a full tag's that only
    its carriers can have (`_carried_by_rule`) are left out by rule alone, through the
    `run_queue_rule` index: the tick reads the runs of the other rules, not the queue."""
    held = Q()
    if full is not None:
        keys, values = full
        rules = [f"tag:{key}" for key in keys]
        rules += [f"tag:{key}={value}" for key, found in values.items() for value in found]
        if stored is not None and len(rules) <= _MAX_FULL_TAGS:
            carried = {f"tag:{key}" for key in keys if _carried_by_rule(key, None)}
            carried |= {
                f"tag:{key}={value}"
                for key, found in values.items()
                for value in found
                if _carried_by_rule(key, value)
            }
            queued = queued.filter(wait_rule__in=[r for r in stored if r not in carried])
        if rules and len(rules) <= _MAX_FULL_TAGS:
            carries = Q()
            for key in sorted(keys):
                carries |= Q(HasKey(F("tags"), key))
            for key, found in sorted(values.items()):
                carries |= Q(In(KeyTextTransform(key, "tags"), sorted(found)))
            held |= Q(wait_rule__in=rules) & carries
    if held_pools and len(held_pools) <= _MAX_FULL_TAGS:
        summary_text = Cast("pool_summary", TextField())
        held |= Q(wait_rule__startswith="pool:") & Q(In(summary_text, sorted(held_pools)))
    if not held:
        return queued
    flag = Case(When(held, then=Value(True)), default=Value(False), output_field=BooleanField())
    return queued.annotate(held_this_tick=flag).filter(held_this_tick=False)


def backlog_turns(config: InstanceConfig) -> dict[str | None, int]:
    """Fair share's memory (`QueueSnapshot.fair_finished`): by value of its key, the runs
    that started since the oldest queued run was enqueued and have ended since."""
    rule = config.queue.fair_share
    oldest = Run.objects.queued().aggregate(oldest=Min("enqueued_at"))["oldest"]
    if rule is None or oldest is None:
        return {}
    turns: dict[str | None, int] = {}
    ended = Run.objects.filter(status__in=list(FINISHED_STATUSES), launched_at__gte=oldest)
    for tags in ended.values_list("tags", flat=True).iterator(2000):
        value = (tags or {}).get(rule.key)
        turns[value] = turns.get(value, 0) + 1
    return turns


def _demanded_pools() -> set[str]:
    """Pools named by any queued run, from the few distinct pool summaries (one per job
    shape) rather than from every run."""
    texts = (
        Run.objects.queued()
        .filter(pool_summary__isnull=False)
        .annotate(summary_text=Cast("pool_summary", TextField()))
        .values_list("summary_text", flat=True)
        .distinct()
    )
    demanded: set[str] = set()
    for text in texts:
        summary = _run_infos.summary(text)
        if summary is not None:
            demanded |= summary.all_pools
    return demanded


def pool_states() -> dict[str, PoolState]:
    """The pools as the engine sees them now: limit rows with their step entries."""
    return engine_pools.pool_states(pools.limit_rows(), pools.claim_usage())


def explain(run_id: str) -> Launch | Wait | None:
    """What the next tick would do with this queued run, and why (None if not queued)."""
    place = Run.objects.queued().filter(run_id=run_id).values_list("priority", "id").first()
    if place is None:
        return None
    evaluation = evaluate(config_from_row(settings_row()), through=place)
    return evaluation.decision.verdicts.get(run_id)


def rule_key(verdict: Wait) -> str:
    return gate_key(verdict.blocking)


def gate_key(gate: Gate) -> str:
    return f"{gate.rule}:{gate.subject}"


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
                queued=evaluation.queued_total - len(launched),
                active=len(evaluation.snapshot.active) + len(launched),
            )
            transaction.on_commit(lambda: send_launches(launched))
    except Exception as exc:
        log.exception("run queue tick failed")
        heartbeats.beat_error(DaemonHeartbeat.Daemon.RUN_QUEUE, exc, tick_started=now)
        raise
    _refresh_sqlite_statistics()
    return TickResult(
        True,
        tuple(launched),
        evaluation.queued_total - len(launched),
        len(evaluation.snapshot.active) + len(launched),
        duration,
    )


def _refresh_sqlite_statistics() -> None:
    """Let SQLite analyze the tables the tick read when their size changed a lot.

    Without statistics SQLite read the queue through the status index and sorted every
    queued run to return the head (27 ms at 10,000 queued runs) instead of walking the
    queue-order index. `PRAGMA optimize` does nothing unless a table it would help grew
    or shrank tenfold since it was last analyzed. PostgreSQL's autovacuum does this.
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")


def _apply(evaluation: Evaluation, now: datetime) -> list[str]:
    """Write the tick's decisions with a constant number of statements (no per-run trips)."""
    decision = evaluation.decision
    launched: list[str] = []
    # Runs whose open wait-history row ends now: the launched ones and those whose rule changed.
    ended: list[int] = []
    # Queued runs' primary keys are their creation order, already in the snapshot.
    pk_of = {run.run_id: run.created_seq for run in evaluation.snapshot.queued}
    if decision.launch:
        ids = list(
            Run.objects.filter(
                id__in=[pk_of[run_id] for run_id in decision.launch], status=RunStatus.QUEUED
            ).values_list("id", "run_id")
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

    groups = _changed_waits(evaluation, pk_of)
    ended += [pk for _, _, pks in groups for pk in pks]
    for chunk in _chunks(ended):
        RunWait.objects.filter(run_id__in=chunk, ended_at__isnull=True).update(ended_at=now)
    if groups:
        _store_wait_reasons(groups, now)
    return launched


def _changed_waits(
    evaluation: Evaluation, pk_of: dict[str, int], since_pk: int | None = None
) -> list[tuple[str, str, list[int]]]:
    """(rule key, reason, run pks) of the waiting runs whose rule is not the one stored:
    a wait reason is stored only when the rule holding a run changed (wait history).
    With `since_pk`, only runs created from that primary key on."""
    decision = evaluation.decision
    changed: dict[tuple[str, str], list[str]] = defaultdict(list)
    stored = evaluation.stored_rules
    # Most waiting runs share a few blocking gates (once the queue is full, every later run
    # has the same one): format each gate's key once, not once per run.
    keys: dict[int, str] = {}
    for run_id, verdict in decision.verdicts.items():
        if isinstance(verdict, Wait):
            if since_pk is not None and pk_of[run_id] < since_pk:
                continue
            key = keys.get(id(verdict.blocking))
            if key is None:
                key = keys[id(verdict.blocking)] = rule_key(verdict)
            if stored.get(run_id) != key and not (
                evaluation.keep_holding_rules and _still_holds(stored.get(run_id), verdict)
            ):
                changed[(key, verdict.message)].append(run_id)
    groups = [
        (key, message, [pk_of[rid] for rid in run_ids])
        for (key, message), run_ids in changed.items()
    ]
    return groups + _unread_runs_changed(evaluation, since_pk)


def record_first_waits(created: Sequence[Run], now: datetime) -> None:
    """Inside the submit's transaction, after the insert of `created` (queued at `now`):
    store the reason the next tick would give each new run it holds back, and open its
    wait-history row at `now`, so the history starts when the run was queued rather than
    at the first tick after. Runs the tick would launch get none.

    The same evaluation and the same comparison as the tick (`_changed_waits`), read as
    the tick reads the queue; without the tick's lock (a read): no tick sees these runs
    before the submit commits, and a later change of rule is the next tick's to record,
    like any other.
    """
    if not created:
        return
    evaluation = evaluate(config_from_row(settings_row()), now=now.timestamp(), complete=False)
    pk_of = {run.run_id: run.created_seq for run in evaluation.snapshot.queued}
    groups = _changed_waits(evaluation, pk_of, since_pk=min(run.pk for run in created))
    new = {run.pk for run in created}
    groups = [(key, message, [pk for pk in pks if pk in new]) for key, message, pks in groups]
    _store_wait_reasons([group for group in groups if group[2]], now)


def _still_holds(rule: str | None, verdict: Wait) -> bool:
    return bool(rule) and any(not gate.passed and gate_key(gate) == rule for gate in verdict.gates)


def _unread_runs_changed(
    evaluation: Evaluation, since_pk: int | None = None
) -> list[tuple[str, str, list[int]]]:
    """The queued runs the tick did not read whose stored rule is not the gate they all
    wait on (runs submitted since, or held by another rule before): one group, or none."""
    gate = evaluation.decision.later_runs_wait_on
    if evaluation.unread_after is None or gate is None:
        return []
    priority, pk = evaluation.unread_after
    key = gate_key(gate)
    unread = Run.objects.queued().filter(Q(priority__lt=priority) | Q(priority=priority, id__gt=pk))
    if since_pk is not None:
        unread = unread.filter(id__gte=since_pk)
    pks = list(unread.exclude(wait_rule=key).values_list("id", flat=True))
    return [(key, gate.message, pks)] if pks else []


# Statements stay well under SQLite's limit of bound parameters however long the queue.
_CHUNK = 2000


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _store_wait_reasons(groups: list[tuple[str, str, list[int]]], now: datetime) -> None:
    """Set (wait_rule, wait_reason) of each group's runs, still queued, and open their
    wait-history rows, with two statements per chunk of runs instead of two per distinct
    reason (the profile of a steady 10,000-run tick showed about twenty reasons, one per
    tag value or pool that filled)."""
    batch: list[tuple[str, str, list[int]]] = []
    size = 0
    for key, message, pks in groups:
        for chunk in _chunks(pks):
            if size + len(chunk) > _CHUNK and batch:
                _write_reasons(batch, now)
                batch, size = [], 0
            batch.append((key, message, chunk))
            size += len(chunk)
    if batch:
        _write_reasons(batch, now)


def _write_reasons(batch: list[tuple[str, str, list[int]]], now: datetime) -> None:
    """UPDATE … FROM and INSERT … SELECT over a table of (run, rule, reason) built in the
    statement. The ORM's forms (a CASE with an IN list per reason, and a model instance
    per history row) spent 50 ms of a 10,000-run tick in Python in the profile. The SQL
    is the same on PostgreSQL and SQLite (3.33+ has UPDATE … FROM). Each row carries its
    own strings: with a separate table of reasons, SQLite's planner looped over the
    reasons and scanned every queued run for each."""
    rows = ", ".join(["(%s, %s, %s)"] * sum(len(pks) for _, _, pks in batch))
    params = [item for key, message, pks in batch for pk in pks for item in (pk, key, message)]
    run_table, wait_table = (connection.ops.quote_name(m._meta.db_table) for m in (Run, RunWait))
    waiting = f"WITH waiting(id, rule, message) AS (VALUES {rows})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"{waiting} UPDATE {run_table} AS run"
            " SET wait_rule = waiting.rule, wait_reason = waiting.message"
            " FROM waiting WHERE run.id = waiting.id AND run.status = %s",
            [*params, RunStatus.QUEUED.value],
        )
        cursor.execute(
            f"{waiting} INSERT INTO {wait_table} (run_id, rule, message, started_at)"
            " SELECT id, rule, message, %s FROM waiting",
            [*params, connection.ops.adapt_datetimefield_value(now)],
        )


def send_launches(run_ids: list[str]) -> None:
    """Send each launched run to the workers. Runs stay STARTING in the database if the
    broker is down; run monitoring re-sends them (the task is idempotent)."""
    for run_id in run_ids:
        try:
            dispatch.execute_run(run_id)
        except Exception:
            log.exception(
                "could not send run %s to the workers; monitoring will re-send it", run_id
            )


def tick_on_request() -> TickResult:
    """The tick an event asked for (`tick_requests`): take the request, then tick at once
    whatever `dequeue_interval_seconds` says (the settings row lock still serialises it
    with every other tick)."""
    tick_requests.take()
    return tick(force=True)
