"""Values the engine takes and returns. Times are POSIX seconds (floats)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Literal

from .pool_words import dequeue_count_words, run_count_words, step_wait_words

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
# The legacy spelling of an op's pool (SEMANTICS 3.2): an op tag, never a run tag.
CONCURRENCY_KEY_TAG = "dagster/concurrency_key"
PRIORITY_TAG = "dagster/priority"


class RunStatus(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    MANAGED = "MANAGED"
    SUSPENDED = "SUSPENDED"


# Only these consume run-queue capacity (SEMANTICS 2.2).
ACTIVE_STATUSES = frozenset({RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING})
IN_PROGRESS_STATUSES = ACTIVE_STATUSES | {RunStatus.SUSPENDED}
FINISHED_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})

Granularity = Literal["op", "run"]

# How `run_queue.decide` reads the rules: "concurrency_ui" (SEMANTICS 8: quirks fixed, the
# default) or "dagster_1_13" (Dagster 1.13's queue daemon, quirk for quirk: engine/dagster_1_13.py).
Semantics = Literal["concurrency_ui", "dagster_1_13"]
CONCURRENCY_UI: Semantics = "concurrency_ui"
DAGSTER_1_13: Semantics = "dagster_1_13"


@dataclass(frozen=True)
class ConfigError:
    """One problem in user input, located by a dotted path (`run_queue.tag_concurrency_limits[1].limit`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class TagLimit:
    """One item of `tag_concurrency_limits` (SEMANTICS 1.3 / 2.5).

    value None and per_unique_value False: the limit counts every run (or step) carrying `key`.
    value "x": only those with exactly key=x. per_unique_value True: each value its own budget.
    """

    key: str
    limit: int
    value: str | None = None
    per_unique_value: bool = False
    # concurrency-ui's own kind (`value: {maxUniqueValues: N}`, Dagster refuses it): at most
    # `limit` different values of `key` in progress at once, each value without a cap.
    distinct_values: bool = False

    @property
    def kind(self) -> Literal["key", "key_value", "per_unique_value", "distinct_values"]:
        if self.distinct_values:
            return "distinct_values"
        if self.per_unique_value:
            return "per_unique_value"
        if self.value is not None:
            return "key_value"
        return "key"


@dataclass(frozen=True)
class PoolSummary:
    """What a run will demand of pools, computed once from its plan at creation (SEMANTICS 2.7).

    `root_pool_counts` counts slots of root steps (one per root step without weights).
    Weighted or multi-pool runs also keep `root_demands` (each root step's demand) and
    `max_slots` (per pool, the largest demand of one step); others leave them empty and
    read as one slot of one pool per step (`root_needs`, `run_slots`).
    """

    root_pool_counts: Mapping[str, int]
    all_pools: frozenset[str]
    has_unconstrained_root: bool
    root_demands: tuple[Mapping[str, int], ...] = ()
    max_slots: Mapping[str, int] = field(default_factory=dict)

    def root_needs(self) -> tuple[Mapping[str, int], ...]:
        """The demand of each distinct kind of root step that uses a pool."""
        if self.root_demands:
            return self.root_demands
        return tuple({key: 1} for key in self.root_pool_counts)

    def run_slots(self, key: str) -> int:
        """Slots a run counts on pool `key` at `granularity: run`: its largest step demand."""
        return self.max_slots.get(key, 1)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: RunStatus
    tags: Mapping[str, str]
    # Creation order: the queue is FIFO by creation inside a priority, not by enqueue time.
    created_seq: int
    priority: int = 0
    pool_summary: PoolSummary | None = None
    # When the run entered STARTED (None while STARTING); feeds the pool allotment of 2.7.
    started_at: float | None = None


@dataclass(frozen=True)
class PoolState:
    """A pool that has a limit. Pools absent from the snapshot are unlimited."""

    key: str
    limit: int
    # Step entries anywhere in the instance: steps holding a slot plus steps waiting for one.
    pending: int = 0
    # Run ids of the steps holding slots (for "held by ..." explanations).
    holders: tuple[str, ...] = ()


@dataclass(frozen=True)
class FairShare:
    """`concurrency_ui.fair_share` (engine/fair_share.py): interleave, within a priority,
    the runs of different values of `key` by weight (a value not listed weighs 1)."""

    key: str
    weights: tuple[tuple[str, int], ...] = ()

    @cached_property
    def weight_map(self) -> dict[str, int]:
        return dict(self.weights)


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent_runs: int = 10  # -1 = no limit, 0 = launch nothing
    tag_limits: tuple[TagLimit, ...] = ()
    block_op_concurrency_limited_runs: bool = True
    slot_buffer: int = 0
    granularity: Granularity = "op"
    # STARTING runs and runs STARTED less than this long ago count their root pools in full.
    started_run_allotment_seconds: float = 5.0
    semantics: Semantics = CONCURRENCY_UI
    # dagster_1_13 only. `concurrency.pools.default_limit` (the snapshot's pools are the limit
    # rows as the daemon read them before initialising defaults, Q3), and the daemon's page
    # size (DAGSTER_RUN_QUEUE_PAGE_SIZE, Q4).
    default_pool_limit: int | None = None
    run_queue_page_size: int = 100
    # concurrency_ui only (None: off, Dagster's order). Mirrored from ExtraConfig.fair_share.
    fair_share: FairShare | None = None


@dataclass(frozen=True)
class QueueSnapshot:
    settings: QueueSettings
    queued: Sequence[RunInfo]
    active: Sequence[RunInfo]
    pools: Mapping[str, PoolState]
    now: float
    # Fair share only: runs of each value of its key (None: without the tag) that started
    # since the oldest queued run was enqueued and have ended since (engine/fair_share.py).
    fair_finished: Mapping[str | None, int] = field(default_factory=dict)


# "max_concurrent" is the in-run executor limit on steps (SEMANTICS 4).
# "fair_share" never limits anything: it names the reason a run waits its turn.
Rule = Literal["max_concurrent_runs", "tag", "pool", "max_concurrent", "fair_share"]

# Gate.message names at most this many holders; the rest become "+N more".
MESSAGE_HOLDERS = 3
# The subject of a distinct-values tag gate is its key and this suffix, so that the stored
# rule of a run (rule:subject) tells it from a limit of the key's other kinds.
DISTINCT_SUFFIX = " (distinct values)"


@dataclass(frozen=True)
class Gate:
    """One check of one queued run (or ready step) against one limit, with the live numbers.

    `passed` is `count < limit` for that limit alone (a `max_concurrent_runs` of -1
    always passes). The run-level pool gate of op
    granularity is an "any root pool has room" rule, so a launched run may list a full
    root pool next to one that had room; `Wait.blocking` is always the gate that held
    the run back.
    """

    rule: Rule
    # "max_concurrent_runs", "database" (key), "database=redshift" (key=value, or per-value
    # limit with the candidate's own value), pool key, "max_concurrent"
    subject: str
    count: int
    limit: int
    passed: bool
    # Ids of the counted runs or steps; capped (see `more_holders`) so a gate stays cheap.
    holders: tuple[str, ...] = ()
    # tag: "key" | "key_value" | "per_unique_value" | "distinct_values"; pool: "op" | "run" |
    # "step"; else "".
    kind: str = ""
    # What is counted: "run" or "step".
    unit: str = "run"
    # Pool gates: the slot buffer already included in `limit` (limit = slots + buffer).
    buffer: int = 0
    # Holders left out of `holders` because the tuple is capped.
    more_holders: int = 0
    # Distinct-values tag limits: the values in progress (capped like `holders`).
    values: tuple[str, ...] = ()
    # Pool gates: the slots the candidate needs of the pool (its largest root step at op
    # granularity, its largest step at run granularity); 1 without weights.
    need: int = 1

    def to_dict(self, holders: bool = True) -> dict[str, object]:
        """The gate as JSON for the API, the CLI and the pages (`holders` False leaves the
        ids out, as the simulator's answer does)."""
        data: dict[str, object] = {
            "rule": self.rule,
            "subject": self.subject,
            "count": self.count,
            "limit": self.limit,
            "passed": self.passed,
        }
        if holders:
            data["holders"] = list(self.holders)
        data["message"] = self.message
        return data

    @property
    def message(self) -> str:
        """One human line: which limit, the live numbers, who holds it."""
        units = f"{self.unit}s"
        if self.rule == "max_concurrent_runs":
            if self.limit == 0:
                return "max_concurrent_runs is 0: the queue launches nothing"
            if self.limit < 0:
                return f"max_concurrent_runs is {self.limit} (no limit): {self.count} {units} in progress"
            return f"max_concurrent_runs: {self.count} of {self.limit} {units} in progress"
        if self.rule == "fair_share":
            if self.passed:
                return f"fair share: {self.subject} at turn {self.count} (weight {self.limit})"
            return (
                f"fair share: waits its turn as {self.subject} (turn {self.count}, weight "
                f"{self.limit}); {self.more_holders} later run(s) of other values go first "
                "and max_concurrent_runs is used up"
            )
        if self.rule == "max_concurrent":
            return f"max_concurrent: {self.count} of {self.limit} {units} in flight"
        if self.rule == "tag":
            if self.kind == "distinct_values":
                return self._distinct_message()
            if self.kind == "per_unique_value":
                key, _, value = self.subject.partition("=")
                head = f"tag {key} (per value) ={value}"
            else:
                head = f"tag {self.subject}"
            if self.limit <= 0:
                return f"{head}: limit is {self.limit}, no {self.unit} carrying it may start"
            return f"{head}: {self.count} of {self.limit} {units}{self._held_by()}"
        # pool: the words of `pool_words`, so no count reads as more holders than slots.
        if self.kind == "step":
            if self.limit == 0 and self.count == 0:
                return f"pool {self.subject}: no slot granted to this step yet"
            return step_wait_words(self.subject, self.limit, self.count, ())
        # Weighted demands: what the candidate needs of the pool (SEMANTICS 2.7 with weights).
        need = f"; this run needs {self.need} slots" if self.need != 1 else ""
        if self.kind == "run":
            return run_count_words(self.subject, self.count, self.limit) + need + self._held_by()
        return (
            dequeue_count_words(self.subject, self.count, self.limit, self.buffer)
            + need
            + self._held_by("; runs counted: ")
        )

    def _distinct_message(self) -> str:
        key = self.subject.removesuffix(DISTINCT_SUFFIX)
        head = f"tag {key}: {self.count} of {self.limit} distinct values in progress"
        if self.values:
            shown = ", ".join(self.values[:MESSAGE_HOLDERS])
            more = len(self.values) - MESSAGE_HOLDERS
            head += f" ({shown}{f' +{more} more' if more > 0 else ''})"
        if self.limit <= 0:
            return f"tag {key}: at most {self.limit} distinct values, no {self.unit} carrying it may start"
        if not self.passed:
            return f"{head}; a {self.unit} with another value waits{self._held_by()}"
        return head

    def _held_by(self, lead: str = ", held by ") -> str:
        if not self.holders:
            return ""
        # Run ids read as their first 8 characters, as everywhere in the dashboard.
        shown = ", ".join(
            h[:8] if self.unit == "run" and len(h) > 12 else h
            for h in self.holders[:MESSAGE_HOLDERS]
        )
        more = max(0, len(self.holders) - MESSAGE_HOLDERS) + self.more_holders
        return f"{lead}{shown}" + (f" +{more} more" if more > 0 else "")


@dataclass(frozen=True)
class Launch:
    run_id: str
    position: int  # 1-based place in the order this tick considered runs
    gates: tuple[Gate, ...] = ()
    # dagster_1_13: each quirk that decided or shaped this verdict, in words.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wait:
    run_id: str
    position: int
    blocking: Gate  # the first gate that failed: the reason the run waits
    gates: tuple[Gate, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return self.blocking.message


@dataclass(frozen=True)
class TickDecision:
    launch: tuple[str, ...]  # run ids to launch, in queue order
    verdicts: Mapping[str, Launch | Wait] = field(default_factory=dict)
    order: tuple[str, ...] = ()  # every queued run id in the order considered
    # When max_concurrent_runs is used up at the end of the pass, its gate: every run
    # after the last one considered would wait on it, whatever its tags and pools.
    later_runs_wait_on: Gate | None = None
