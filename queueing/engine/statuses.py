"""Which run status changes are allowed (SEMANTICS 5.1).

The reference applies whatever status event came last; concurrency-ui refuses
backwards and unknown transitions instead.

Choices beyond the table of 5.1:
- A status changing to itself is not a transition and is refused, except
  STARTED -> STARTED: the `resumed` event of a re-launched run worker.
- SUCCESS, FAILURE and CANCELED are terminal. A success reported while a run is
  CANCELING is refused: the cancel wins and ends in CANCELED (or FAILURE when the
  cancel came from the max-runtime check).
- SUSPENDED (reserved; nothing writes it yet) is reachable from STARTED and leaves
  to STARTED (resumed), CANCELING, CANCELED or FAILURE, so max runtime, which
  covers suspended runs, can end one.
- MANAGED runs are managed outside the control plane: no transition into or out of
  MANAGED is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping

from .types import RunStatus

S = RunStatus

TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    S.NOT_STARTED: frozenset({S.QUEUED, S.STARTING, S.CANCELED, S.FAILURE}),
    S.QUEUED: frozenset({S.STARTING, S.CANCELING, S.CANCELED}),
    # QUEUED again: a launch that failed on an unreachable code server is retried.
    S.STARTING: frozenset({S.STARTED, S.FAILURE, S.CANCELING, S.QUEUED, S.CANCELED}),
    S.STARTED: frozenset({S.STARTED, S.SUCCESS, S.FAILURE, S.CANCELING, S.SUSPENDED}),
    # FAILURE: a run canceled for exceeding its max runtime ends failed.
    S.CANCELING: frozenset({S.CANCELED, S.FAILURE}),
    S.SUSPENDED: frozenset({S.STARTED, S.CANCELING, S.CANCELED, S.FAILURE}),
    S.SUCCESS: frozenset(),
    S.FAILURE: frozenset(),
    S.CANCELED: frozenset(),
    S.MANAGED: frozenset(),
}


class InvalidTransition(ValueError):
    """A status change outside `TRANSITIONS`."""

    def __init__(self, old: RunStatus, new: RunStatus) -> None:
        self.old = RunStatus(old)
        self.new = RunStatus(new)
        allowed = ", ".join(sorted(TRANSITIONS[self.old])) or "none, it is final"
        super().__init__(
            f"a run cannot go from {self.old} to {self.new} (allowed from {self.old}: {allowed})"
        )


def can_transition(old: RunStatus, new: RunStatus) -> bool:
    return RunStatus(new) in TRANSITIONS[RunStatus(old)]


def check_transition(old: RunStatus, new: RunStatus) -> None:
    """Raise InvalidTransition unless a run in `old` may move to `new`."""
    if not can_transition(old, new):
        raise InvalidTransition(old, new)
