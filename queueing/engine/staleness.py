"""Queues that cannot grow stale: how long a run may stay queued (concurrency-ui's own rule).

`concurrency_ui.max_queued_seconds` bounds every queued run; `concurrency_ui.
max_queued_seconds_by_tag` adds bounds for runs carrying a tag key (any value) or one
key=value pair, listed like run tag limits. Every bound that applies to a run holds at once,
so the shortest one decides (a tag bound never lengthens the deployment-wide one; of two
bounds of the same length the one listed first is named). Run monitoring cancels a run
queued longer than its bound, with a reason naming the rule; the doctor reports runs close
to their bound and jobs whose runs keep timing out. 0 (the default) means no bound.

The age of a queued run is measured from `enqueued_at`, the moment it entered QUEUED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The rule's short name (the Queued tab's filter of runs close to their bound uses it).
RULE = "max_queued_seconds"
DEPLOYMENT_RULE = f"concurrency_ui.{RULE}"
TAG_RULE = "concurrency_ui.max_queued_seconds_by_tag"
# A queued run past this share of its bound is "close to it" for the doctor and the pages.
NEAR_SHARE = 0.8
# The doctor reports a job once this many of its runs timed out in the queue recently...
REPEATED_TIMEOUTS = 3
# ...within this window.
REPEATED_WINDOW_SECONDS = 24 * 3600.0
# The RunEvent kind monitoring writes for a run it canceled for its age.
TIMEOUT_EVENT = "queue_timeout"


@dataclass(frozen=True)
class QueuedBound:
    """One item of `max_queued_seconds_by_tag`: runs with `key` (or exactly key=value)
    may stay queued at most `seconds`."""

    key: str
    seconds: int
    value: str | None = None

    @property
    def subject(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class StaleRules:
    max_queued_seconds: int = 0  # 0: no deployment-wide bound
    by_tag: tuple[QueuedBound, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.max_queued_seconds > 0 or any(b.seconds > 0 for b in self.by_tag)

    def shortest(self) -> int | None:
        """The shortest bound of any rule, or None without rules: no run younger than this
        can be overdue (the monitoring tick reads only runs queued at least this long)."""
        bounds = [b.seconds for b in self.by_tag if b.seconds > 0]
        if self.max_queued_seconds > 0:
            bounds.append(self.max_queued_seconds)
        return min(bounds) if bounds else None


@dataclass(frozen=True)
class Bound:
    """The bound that decides for one run: its length and the rule that sets it."""

    seconds: int
    rule: (
        str  # "concurrency_ui.max_queued_seconds" or "concurrency_ui.max_queued_seconds_by_tag[1]"
    )
    subject: str = ""  # the tag ("team", "team=growth") of a tag rule

    @property
    def label(self) -> str:
        """`concurrency_ui.max_queued_seconds_by_tag[1] (team=growth): 600 s`."""
        subject = f" ({self.subject})" if self.subject else ""
        return f"{self.rule}{subject}: {self.seconds} s"


@dataclass(frozen=True)
class QueuedAge:
    """A queued run as far as its age goes."""

    run_id: str
    enqueued_at: float
    tags: Mapping[str, str]


@dataclass(frozen=True)
class QueueTimeout:
    """Cancel a queued run: it waited longer than `bound`."""

    run_id: str
    bound: Bound
    waited: float

    @property
    def reason(self) -> str:
        return (
            f"Canceled by run monitoring: queued for {self.waited:.0f} seconds, longer than "
            f"{self.bound.label}."
        )


def bound_for(rules: StaleRules, tags: Mapping[str, str]) -> Bound | None:
    """The shortest bound that applies to a run with `tags`, or None (no bound)."""
    best: Bound | None = None
    if rules.max_queued_seconds > 0:
        best = Bound(rules.max_queued_seconds, DEPLOYMENT_RULE)
    for index, item in enumerate(rules.by_tag):
        if item.seconds <= 0 or item.key not in tags:
            continue
        if item.value is not None and tags[item.key] != item.value:
            continue
        if best is None or item.seconds < best.seconds:
            best = Bound(item.seconds, f"{TAG_RULE}[{index}]", item.subject)
    return best


def overdue(rules: StaleRules, runs: Iterable[QueuedAge], now: float) -> tuple[QueueTimeout, ...]:
    """The queued runs waiting longer than their bound (`now - enqueued_at > seconds`),
    in the order given."""
    if not rules.enabled:
        return ()
    found = []
    for run in runs:
        bound = bound_for(rules, run.tags)
        waited = now - run.enqueued_at
        if bound is not None and waited > bound.seconds:
            found.append(QueueTimeout(run.run_id, bound, waited))
    return tuple(found)


def time_left(rules: StaleRules, run: QueuedAge, now: float) -> tuple[Bound, float] | None:
    """(bound, seconds left before monitoring cancels the run), or None without a bound."""
    bound = bound_for(rules, run.tags)
    if bound is None:
        return None
    return bound, bound.seconds - (now - run.enqueued_at)


def is_near(bound: Bound, left: float) -> bool:
    """Whether a run with `left` seconds to go has used `NEAR_SHARE` of its bound."""
    return left <= bound.seconds * (1 - NEAR_SHARE)
