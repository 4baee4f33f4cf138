"""The queue doctor: why runs do not move, as checks with evidence and a fix.

Pure: the service gathers `DoctorFacts` (heartbeats, workers, runs, claims, pools, the next
tick's decision, ...) and `diagnose` turns them into one `Finding` per check, in a fixed
order, whatever their outcome, so a page or a script can show every check and its state.
The checks follow the reference troubleshooting guide (daemon running, same storage,
max_concurrent_runs, a queue full of in-progress runs) and the incidents of SEMANTICS 7
(slot leaks, closed pools, tag limits that match nothing, starvation, a stalled queue).

One module per concern: `facts` (what the checks are given and answer), `health` (daemons,
workers, processes, database), `queue` (why runs wait), `motion` (the stall rule the Overview
shares); this module lists the checks in their fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .facts import DoctorFacts, Finding, Status
from .health import (
    check_monitoring_daemon,
    check_processes,
    check_run_queue_daemon,
    check_same_database,
    check_workers,
)
from .queue import (
    check_configuration,
    check_in_progress,
    check_max_concurrent_runs,
    check_pools,
    check_queue_cap,
    check_slot_leaks,
    check_stalled_queue,
    check_starved_runs,
    check_stuck_in_runs,
    check_tag_limits,
)

CHECKS = (
    "run_queue_daemon",
    "monitoring_daemon",
    "workers",
    "processes",
    "same_database",
    "max_concurrent_runs",
    "queue_cap",
    "in_progress",
    "stuck_in_runs",
    "slot_leaks",
    "pools",
    "tag_limits",
    "starved_runs",
    "stalled_queue",
    "configuration",
)


def diagnose(facts: DoctorFacts) -> list[Finding]:
    """One finding per name in `CHECKS`, in that order."""
    return [_CHECKS[name](facts) for name in CHECKS]


def worst(findings: Sequence[Finding]) -> Status:
    statuses = {f.status for f in findings}
    if "problem" in statuses:
        return "problem"
    return "warning" if "warning" in statuses else "ok"


_CHECKS: Mapping[str, Callable[[DoctorFacts], Finding]] = {
    "run_queue_daemon": check_run_queue_daemon,
    "monitoring_daemon": check_monitoring_daemon,
    "workers": check_workers,
    "processes": check_processes,
    "same_database": check_same_database,
    "max_concurrent_runs": check_max_concurrent_runs,
    "queue_cap": check_queue_cap,
    "in_progress": check_in_progress,
    "stuck_in_runs": check_stuck_in_runs,
    "slot_leaks": check_slot_leaks,
    "pools": check_pools,
    "tag_limits": check_tag_limits,
    "starved_runs": check_starved_runs,
    "stalled_queue": check_stalled_queue,
    "configuration": check_configuration,
}
