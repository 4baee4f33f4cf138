"""Tools for fault tests: an independent observer of the limits, killing database
connections, and a private Redis server a test may crash and restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, connections

from queueing.engine.types import ACTIVE_STATUSES, FINISHED_STATUSES
from queueing.models import PoolClaim, Run, RunEvent, Step

ACTIVE = [s.value for s in ACTIVE_STATUSES]


@dataclass
class Observed:
    samples: int = 0
    max_active: int = 0
    # ("tag", key, value or None for "any value") and ("pool", key) -> highest count seen
    peaks: dict[tuple, int] = field(default_factory=dict)

    def peak(self, *key) -> int:
        return self.peaks.get(tuple(key), 0)


class Observer:
    """Samples, every `interval` seconds on its own connection, what is in progress:
    active runs (STARTING/STARTED/CANCELING) in total and per tag, and pool slots held.

    Each sample is one statement, so it sees one consistent snapshot of the database.
    """

    def __init__(self, tag_keys: tuple[str, ...] = (), interval: float = 0.1):
        self.tag_keys = tag_keys
        self.interval = interval
        self.observed = Observed()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        conn = connections.create_connection("default")
        sql = (
            "SELECT json_build_object("
            "'active', (SELECT count(*) FROM queueing_run WHERE status = ANY(%(active)s)),"
            "'tags', (SELECT coalesce(json_agg(t), '[]'::json) FROM ("
            "   SELECT k.key AS key, r.tags->>k.key AS value, count(*) AS n"
            "   FROM queueing_run r CROSS JOIN unnest(%(keys)s::text[]) AS k(key)"
            "   WHERE r.status = ANY(%(active)s) AND r.tags ? k.key GROUP BY 1, 2) t),"
            "'pools', (SELECT coalesce(json_agg(p), '[]'::json) FROM ("
            "   SELECT pool_key, count(*) AS n FROM queueing_poolclaim"
            "   WHERE claimed_at IS NOT NULL GROUP BY 1) p))"
        )
        params = {"active": ACTIVE, "keys": list(self.tag_keys)}
        try:
            while not self._stop.is_set():
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(sql, params)
                        snapshot = cursor.fetchone()[0]
                except Exception as exc:  # a test may kill this connection too
                    self.errors.append(repr(exc))
                    conn.close()
                    conn = connections.create_connection("default")
                    self._stop.wait(self.interval)
                    continue
                self._record(snapshot)
                self._stop.wait(self.interval)
        finally:
            conn.close()

    def _record(self, snapshot: dict) -> None:
        o = self.observed
        o.samples += 1
        o.max_active = max(o.max_active, snapshot["active"])
        per_key: Counter = Counter()
        for row in snapshot["tags"]:
            key = ("tag", row["key"], row["value"])
            o.peaks[key] = max(o.peaks.get(key, 0), row["n"])
            per_key[row["key"]] += row["n"]
        for tag_key, n in per_key.items():
            o.peaks[("tag", tag_key, None)] = max(o.peaks.get(("tag", tag_key, None), 0), n)
        for row in snapshot["pools"]:
            key = ("pool", row["pool_key"])
            o.peaks[key] = max(o.peaks.get(key, 0), row["n"])


def backend_pid(conn=connection) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate_backends(pids: list[int] | None = None) -> int:
    """Terminate `pids`, or every other backend connected to this test database.

    Only this database: other test sessions on the same server are never touched.
    Returns how many backends were terminated.
    """
    with connection.cursor() as cursor:
        if pids is None:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        else:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid = ANY(%s)",
                [pids],
            )
        return cursor.fetchone()[0]


def launches_per_run() -> Counter:
    """How many times each run was launched by the queue ("starting" events)."""
    return Counter(RunEvent.objects.filter(kind="starting").values_list("run_id", flat=True))


def executions_per_run() -> Counter:
    """How many times a worker began executing each run ("started" events)."""
    return Counter(RunEvent.objects.filter(kind="started").values_list("run_id", flat=True))


def all_finished(run_ids) -> bool:
    return Run.objects.filter(
        run_id__in=run_ids, status__in=list(FINISHED_STATUSES)
    ).count() == len(run_ids)


def unfinished_steps(run_ids) -> int:
    return (
        Step.objects.filter(run__run_id__in=run_ids)
        .exclude(status__in=[Step.Status.SUCCESS, Step.Status.FAILURE, Step.Status.SKIPPED])
        .count()
    )


def slots_held() -> int:
    return PoolClaim.objects.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private, throw-away Redis (no persistence) the test can crash and start again."""

    def __init__(self, port: int, log_path):
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def crash(self) -> None:
        """SIGKILL: no shutdown, every queued and unacknowledged message is lost."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    stop = crash
