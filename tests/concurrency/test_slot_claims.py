"""Pool slots under real contention: many processes, one pool, never oversubscribed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import connections

from queueing.models import Pool, PoolClaim
from queueing.services import pools, runs
from tests.support.workers import ROOT, child_env

pytestmark = [pytest.mark.django_db(transaction=True)]


def _max_overlap(intervals: list[tuple[int, int]]) -> int:
    events = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    # Ends sort before starts at the same instant: a slot freed then taken is not overlap.
    events.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


@pytest.mark.postgres
def test_eight_processes_never_hold_more_than_the_limit(tmp_path):
    pools.set_limit("warehouse", 3, actor="test")
    run_ids = [runs.submit("quick", actor="test").run_id for _ in range(8)]
    observed: list[int] = []
    stop = threading.Event()

    def observe():
        # An independent observer on its own connection: holders at every moment.
        conn = connections.create_connection("default")
        try:
            while not stop.is_set():
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM queueing_poolclaim WHERE pool_key=%s AND claimed_at IS NOT NULL",
                        ["warehouse"],
                    )
                    observed.append(cursor.fetchone()[0])
        finally:
            conn.close()

    observer = threading.Thread(target=observe)
    observer.start()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.slot_worker",
                run_id,
                "warehouse",
                "4",
                str(tmp_path / f"{i}.txt"),
            ],
            cwd=str(ROOT),
            env=child_env(),
        )
        for i, run_id in enumerate(run_ids)
    ]
    codes = [p.wait(120) for p in procs]
    stop.set()
    observer.join()
    assert codes == [0] * 8
    intervals = []
    for i in range(8):
        for line in (tmp_path / f"{i}.txt").read_text().splitlines():
            start, end = line.split()
            intervals.append((int(start), int(end)))
    assert len(intervals) > 20, "the stress test barely ran"
    assert len(observed) > 50
    assert max(observed) <= 3
    assert _max_overlap(intervals) <= 3
    # Every claim was freed: nothing is left holding or waiting.
    assert PoolClaim.objects.count() == 0


def _peak_slots(intervals: list[tuple[int, int, dict[str, int]]], pool: str) -> int:
    """The most slots of `pool` held at one instant, from the holders' own intervals."""
    events = [(start, 1, d.get(pool, 0)) for start, _, d in intervals]
    events += [(end, -1, d.get(pool, 0)) for _, end, d in intervals]
    events.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, sign, slots in events:
        current += sign * slots
        peak = max(peak, current)
    return peak


@pytest.mark.postgres
def test_eight_processes_claiming_weighted_and_multi_pool_demands_never_oversubscribe(
    tmp_path,
):
    """8 processes claim random demands (1-3 slots, of 1 to 3 pools at once, priorities 0/1)
    for SLOT_STRESS_SECONDS (20 s by default; a minute by hand); an observer sums the held
    slots of every pool in one statement, ~every 2 ms. Zero oversubscription (observer and
    holders' intervals), zero deadlock: every process makes its quota and exits 0."""
    from tests.support.weighted_slot_worker import POOLS

    seconds = float(os.environ.get("SLOT_STRESS_SECONDS", "20"))
    quota = 25
    for key, (limit, _) in POOLS.items():
        pools.set_limit(key, limit, actor="test")
    run_ids = [runs.submit("quick", actor="test").run_id for _ in range(8)]
    observed: dict[str, int] = dict.fromkeys(POOLS, 0)
    samples = 0
    stop = threading.Event()

    def observe():
        nonlocal samples
        conn = connections.create_connection("default")
        try:
            while not stop.is_set():
                with conn.cursor() as cursor:
                    # One statement, one snapshot: a sum above a limit would be real.
                    cursor.execute(
                        "SELECT pool_key, sum(slots) FROM queueing_poolclaim"
                        " WHERE claimed_at IS NOT NULL GROUP BY pool_key"
                    )
                    for key, held in cursor.fetchall():
                        observed[key] = max(observed.get(key, 0), held)
                samples += 1
                time.sleep(0.002)
        finally:
            conn.close()

    observer = threading.Thread(target=observe)
    observer.start()
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.weighted_slot_worker",
                run_id,
                str(seconds),
                str(quota),
                str(1000 + i),
                str(tmp_path / f"{i}.txt"),
            ],
            cwd=str(ROOT),
            env=child_env(),
        )
        for i, run_id in enumerate(run_ids)
    ]
    # A deadlock or a starved process shows as a process that does not finish in time.
    codes = [p.wait(seconds + 120) for p in procs]
    elapsed = time.monotonic() - started
    stop.set()
    observer.join()
    assert codes == [0] * 8
    intervals: list[tuple[int, int, dict[str, int]]] = []
    longest_waits = []
    per_process = []
    for i in range(8):
        lines = (tmp_path / f"{i}.txt").read_text().splitlines()
        longest_waits.append(int(lines[-1].split()[1]))
        per_process.append(len(lines) - 1)
        for line in lines[:-1]:
            start, end, spec = line.split()
            demand = {k: int(v) for k, v in (item.split("=") for item in spec.split(","))}
            intervals.append((int(start), int(end), demand))
    peaks = {key: _peak_slots(intervals, key) for key in POOLS}
    span = (max(end for _, end, _ in intervals) - min(start for start, _, _ in intervals)) / 1e9
    multi = sum(1 for *_, d in intervals if len(d) > 1)
    weighted = sum(1 for *_, d in intervals if any(v > 1 for v in d.values()))
    print(
        f"\nweighted/multi-pool stress, 8 processes, {elapsed:.0f} s with start-up: "
        f"{len(intervals)} claims in {span:.0f} s ({len(intervals) / span:.0f} claim+free/s; "
        f"{multi} multi-pool, {weighted} weighted), "
        f"per process {per_process}; observer {samples} samples, peak held {observed}; "
        f"holders' intervals peak {peaks}; limits "
        f"{ {k: v[0] for k, v in POOLS.items()} }; longest wait for one claim "
        f"{max(longest_waits)} ms"
    )
    assert all(n >= quota for n in per_process)
    assert samples > 50 and multi > 20 and weighted > 20
    for key, (limit, _) in POOLS.items():
        assert observed.get(key, 0) <= limit, (key, observed)
        assert peaks[key] <= limit, (key, peaks)
    assert PoolClaim.objects.count() == 0


def test_waiters_are_served_by_priority_then_age():
    pools.set_limit("one", 1, actor="test")
    holder = runs.submit("quick", actor="test")
    assert pools.try_claim(holder, "h", "one", 0, None).claimed
    low = runs.submit("quick", actor="test")
    high_old = runs.submit("quick", actor="test")
    high_new = runs.submit("quick", actor="test")
    for run, priority in ((low, 0), (high_old, 5), (high_new, 5)):
        assert not pools.try_claim(run, "s", "one", priority, None).claimed
        time.sleep(0.01)
    served = []
    current = (holder, "h")
    for _ in range(3):
        pools.free_step(*current)
        winners = [
            r
            for r in (low, high_old, high_new)
            if r not in served and pools.try_claim(r, "s", "one", 0, None).claimed
        ]
        assert len(winners) == 1
        served.append(winners[0])
        current = (winners[0], "s")
    assert served == [high_old, high_new, low]


def test_a_pool_without_a_limit_row_leaves_no_waiting_entry():
    run = runs.submit("quick", actor="test")
    assert pools.try_claim(run, "s", "unlimited", 0, None).claimed
    assert PoolClaim.objects.count() == 0


def test_raising_a_limit_lets_the_waiter_claim_and_lowering_never_evicts():
    pools.set_limit("p", 1, actor="test")
    a, b = (runs.submit("quick", actor="test") for _ in range(2))
    assert pools.try_claim(a, "s", "p", 0, None).claimed
    assert not pools.try_claim(b, "s", "p", 0, None).claimed
    pools.set_limit("p", 2, actor="test")
    assert pools.try_claim(b, "s", "p", 0, None).claimed
    pools.set_limit("p", 0, actor="test")
    assert PoolClaim.objects.filter(claimed_at__isnull=False).count() == 2
    c = runs.submit("quick", actor="test")
    assert not pools.try_claim(c, "s", "p", 0, None).claimed
    assert Pool.objects.get(key="p").limit == 0


def test_default_limit_creates_the_pool_row_on_first_claim():
    a, b = (runs.submit("quick", actor="test") for _ in range(2))
    assert pools.try_claim(a, "s", "fresh", 0, 1).claimed
    assert not pools.try_claim(b, "s", "fresh", 0, 1).claimed
    pool = Pool.objects.get(key="fresh")
    assert (pool.limit, pool.from_default) == (1, True)
