"""The bench's code location (`bench/cases.py step_start` and `latency`): an op that returns
the wall-clock time at which it was entered, so the bench can time a step's start up to the
op's first line, and one that says whether a worker's zygote forked it."""

from __future__ import annotations

import os
import time

from queueing.definitions import Definitions, job, op


@op
def stamp() -> float:
    return time.time()


@job
def stamped() -> None:
    """One step that says when its op was entered."""
    stamp()


@op
def parent_kind() -> str:
    """'zygote' when forked by a runs worker's zygote, 'cold' when started by the worker."""
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
        return "zygote" if b"queueing.zygote" in fh.read() else "cold"


@job
def forked_or_cold() -> None:
    """One step that says how it was started."""
    parent_kind()


defs = Definitions(jobs=[stamped, forked_or_cold])
