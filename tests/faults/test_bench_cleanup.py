"""The Dagster end-to-end bench leaves no process behind: what it started dies with it.

bench/dagster_e2e.py starts a code server and `dagster-daemon run` in their own sessions;
the code server starts run workers, which start step processes. On the way out (success,
failure or interruption) `_kill_tree` must end the group and any descendant that left it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import dagster_e2e  # noqa: E402


def _alive(pid: int) -> bool:
    return dagster_e2e._alive(pid)


def test_kill_tree_ends_the_group_and_a_descendant_in_its_own_session():
    # A parent with a child in its group and a grandchild that left for its own session
    # (as a process may that daemonises), each ignoring nothing: all three must end.
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 300 & setsid sleep 300 & wait"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while len(dagster_e2e._descendants(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    family = dagster_e2e._descendants(proc.pid)
    assert len(family) >= 2

    dagster_e2e._kill_tree(proc)

    assert proc.poll() is not None
    assert not [pid for pid in family if _alive(pid)]


def test_kill_tree_ends_a_process_that_ignores_sigterm():
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 300 & wait; sleep 300"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not dagster_e2e._descendants(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    family = dagster_e2e._descendants(proc.pid)

    dagster_e2e._kill_tree(proc, grace=0.5)

    assert proc.poll() is not None
    assert not [pid for pid in family if _alive(pid)]
