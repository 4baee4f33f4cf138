"""The code location of `bench/cases.py step_start`: one op that returns the wall-clock time
at which it was entered, so the bench can time a step's start up to the op's first line."""

from __future__ import annotations

import time

from queueing.definitions import Definitions, job, op


@op
def stamp() -> float:
    return time.time()


@job
def stamped() -> None:
    """One step that says when its op was entered."""
    stamp()


defs = Definitions(jobs=[stamped])
