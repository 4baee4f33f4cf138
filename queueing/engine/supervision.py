"""Rules of `manage.py dev`'s supervisor: restart back-off, exit codes, freshness.

Pure: the supervisor (queueing/supervisor.py) applies them to real processes, the doctor
and the Daemons page to the state file it writes.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass

# Delay before the n-th restart in a row of a child that keeps failing (then 30 s each).
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# A child that stayed up this long before it exited starts its back-off again at 1 s.
STABLE_SECONDS = 60.0
# The supervisor refreshes its state file every 5 s; older than this, it is not running.
SUPERVISOR_STALE_SECONDS = 20.0


def restart_delay(failures_in_a_row: int) -> float:
    """Seconds to wait before restarting a child that exited `failures_in_a_row` times
    in a row before (0 for its first exit)."""
    return BACKOFF_SECONDS[min(max(failures_in_a_row, 0), len(BACKOFF_SECONDS) - 1)]


def describe_exit(code: int | None) -> str:
    """`exit code 1`, `killed by SIGKILL` (Popen gives -N for signal N)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass(frozen=True)
class ProcessFact:
    name: str
    running: bool
    pid: int | None = None
    started_at: float | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    next_restart_at: float | None = None


@dataclass(frozen=True)
class SupervisorFact:
    pid: int
    host: str
    started_at: float
    updated_at: float
    stopped_at: float | None
    processes: Sequence[ProcessFact]

    def alive(self, now: float) -> bool:
        return self.stopped_at is None and now - self.updated_at <= SUPERVISOR_STALE_SECONDS


def supervisor_fact(state: object) -> SupervisorFact | None:
    """The supervisor's state file content as a fact; None when absent or malformed."""
    if not isinstance(state, dict):
        return None
    try:
        processes = tuple(
            ProcessFact(
                name=str(p["name"]),
                running=bool(p["running"]),
                pid=p.get("pid"),
                started_at=p.get("started_at"),
                restarts=int(p.get("restarts") or 0),
                last_exit_code=p.get("last_exit_code"),
                last_exit_at=p.get("last_exit_at"),
                next_restart_at=p.get("next_restart_at"),
            )
            for p in state["processes"]
        )
        return SupervisorFact(
            pid=int(state["pid"]),
            host=str(state.get("host") or ""),
            started_at=float(state["started_at"]),
            updated_at=float(state["updated_at"]),
            stopped_at=state.get("stopped_at"),
            processes=processes,
        )
    except (KeyError, TypeError, ValueError):
        return None
