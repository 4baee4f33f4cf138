"""What holds a queued run back, in the identifiers the Queued tab filters by.

No second list of rules: the identifiers are the engine's own, a run-queue gate's `rule`
(`types.Rule`, less the in-run step rule), the kind of a distinct-values tag limit (a tag
gate, told apart because its cap is on values, not runs), staleness's rule (a run close to
its queue-age bound, whatever else holds it) and "launching" for a run the next tick starts.
"""

from __future__ import annotations

from typing import get_args

from .staleness import RULE
from .tags import DISTINCT_VALUES
from .types import Gate, Launch, Rule, Wait

LAUNCHING = "launching"
# A queued run past `staleness.NEAR_SHARE` of its queue-age bound (not a gate: it is held by
# something else too, and run monitoring will cancel it).
QUEUE_AGE = RULE
# Gate rules of the run queue (`max_concurrent` is an in-run step limit).
RUN_RULES: tuple[str, ...] = tuple(rule for rule in get_args(Rule) if rule != "max_concurrent")
_RULE_LABELS = {
    "max_concurrent_runs": "max_concurrent_runs",
    "tag": "a tag limit",
    "pool": "a pool",
    "fair_share": "its fair-share turn",
}
# Identifier -> label, in the order the filter lists them. A rule without a label fails here,
# at import, rather than missing from the filter.
HOLDS: dict[str, str] = {
    LAUNCHING: "nothing: launches at the next tick",
    **{rule: _RULE_LABELS[rule] for rule in RUN_RULES},
    DISTINCT_VALUES: "a distinct-values cap (maxUniqueValues)",
    QUEUE_AGE: "close to its queue-age bound (max_queued_seconds)",
}


def gate_hold(gate: Gate) -> str:
    """The identifier of what `gate` holds: its rule, or the distinct-values kind."""
    return DISTINCT_VALUES if gate.rule == "tag" and gate.kind == DISTINCT_VALUES else gate.rule


def hold_of(verdict: Launch | Wait) -> str:
    """What holds a queued run at the next tick (`LAUNCHING` when nothing does)."""
    return LAUNCHING if isinstance(verdict, Launch) else gate_hold(verdict.blocking)


def parse_hold(text: str) -> str:
    """`text` as a hold identifier; ValueError naming the ones there are."""
    if text not in HOLDS:
        known = ", ".join(HOLDS)
        raise ValueError(f"unknown rule {text[:40]!r}: expected one of {known}")
    return text
