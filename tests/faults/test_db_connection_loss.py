"""The database connection dies in the middle of a tick, of a slot claim, or under a worker.

A tick or a claim whose connection is terminated (`pg_terminate_backend`, as a database
failover or an idle-connection reaper would) rolls back whole: nothing half-written, no
launch sent, no slot held. The next tick or claim, on a new connection, succeeds. Runs
whose worker loses every connection several times still all finish.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import close_old_connections, connection, connections, transaction
from django.db.utils import InterfaceError, OperationalError

from queueing.engine.types import RunStatus
from queueing.models import (
    DaemonHeartbeat,
    Pool,
    PoolClaim,
    Run,
    RunEvent,
    RunWait,
    Step,
    TickRecord,
)
from queueing.services import pools, run_queue, runs
from queueing.services.reconnect import reconnecting
from tests.services.helpers import load_config
from tests.support.workers import wait_until

from .helpers import (
    Observer,
    all_finished,
    backend_pid,
    executions_per_run,
    launches_per_run,
    slots_held,
    terminate_backends,
    unfinished_steps,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DISCONNECTED = (OperationalError, InterfaceError)


class Pause:
    """Wraps a function so that its first call, in whatever thread, stops until released.

    While it waits, `pid` is the backend of the paused thread's connection.
    """

    def __init__(self, fn, before: bool = True):
        self.fn = fn
        self.before = before
        self.reached = threading.Event()
        self.release = threading.Event()
        self.pid: int | None = None
        self.calls = 0

    def _pause(self) -> None:
        self.pid = backend_pid(connection)
        self.reached.set()
        assert self.release.wait(30), "the test never released the paused call"

    def __call__(self, *args, **kwargs):
        self.calls += 1
        first = self.calls == 1
        if first and self.before:
            self._pause()
        result = self.fn(*args, **kwargs)
        if first and not self.before:
            self._pause()
        return result


def in_thread(fn) -> tuple[threading.Thread, dict]:
    """Run `fn` in a thread with its own database connection; the dict gets its outcome."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def kill_while_paused(pause: Pause, fn) -> dict:
    thread, outcome = in_thread(fn)
    assert pause.reached.wait(30), outcome
    assert terminate_backends([pause.pid]) == 1
    pause.release.set()
    thread.join(30)
    assert not thread.is_alive()
    return outcome


def tick_state() -> dict:
    return {
        "statuses": sorted(Run.objects.values_list("status", flat=True)),
        "starting_events": RunEvent.objects.filter(kind="starting").count(),
        "waits": RunWait.objects.count(),
        "wait_rules": sorted(Run.objects.values_list("wait_rule", flat=True)),
        "pools": list(Pool.objects.values_list("key", "limit")),
        "launched_at": Run.objects.filter(launched_at__isnull=False).count(),
        "heartbeat_ok": DaemonHeartbeat.objects.filter(
            daemon=DaemonHeartbeat.Daemon.RUN_QUEUE, last_success_at__isnull=False
        ).count(),
        "ok_ticks": TickRecord.objects.filter(error="").count(),
    }


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    launches: list[str] = []
    monkeypatch.setattr(run_queue, "send_launches", launches.extend)
    return launches


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("decide", id="before-any-write"),
        pytest.param("beat", id="after-every-write-before-commit"),
    ],
)
def test_a_tick_whose_connection_dies_writes_nothing_and_the_next_tick_launches(
    monkeypatch, sent, where
):
    load_config(
        {
            "concurrency": {
                "runs": {
                    "max_concurrent_runs": 2,
                    "tag_concurrency_limits": [{"key": "db", "limit": 1}],
                },
                "pools": {"default_limit": 1},
            }
        }
    )
    queued = [runs.submit("quick", tags={"db": "x"}, actor="test") for _ in range(2)]
    queued += [runs.submit("pooled_pair", actor="test") for _ in range(2)]
    before = tick_state()
    if where == "decide":
        pause = Pause(run_queue.engine.decide)
        monkeypatch.setattr(run_queue.engine, "decide", pause)
    else:
        # heartbeats.beat runs last inside the tick's transaction: launches, waits and the
        # default pool rows are all written (uncommitted) when the connection dies.
        pause = Pause(run_queue.heartbeats.beat, before=False)
        monkeypatch.setattr(run_queue.heartbeats, "beat", pause)

    outcome = kill_while_paused(pause, run_queue.tick)

    assert isinstance(outcome.get("error"), DISCONNECTED), outcome
    assert tick_state() == before
    assert sent == []

    # The next tick runs on a new connection, as the next Celery task does (Celery's
    # Django fix-up closes a connection that had errors before every task).
    thread, outcome = in_thread(lambda: (close_old_connections(), run_queue.tick())[1])
    thread.join(30)
    assert "error" not in outcome, outcome
    launched = set(outcome["result"].launched)
    # One db=x run (tag limit 1) and one pooled run (max 2 runs in progress).
    assert launched == {queued[0].run_id, queued[2].run_id}
    assert sorted(sent) == sorted(launched)
    assert Run.objects.filter(status=RunStatus.STARTING).count() == 2
    assert launches_per_run() == {r.id: 1 for r in Run.objects.filter(status=RunStatus.STARTING)}
    assert Pool.objects.get(key="shared").limit == 1
    assert Run.objects.get(pk=queued[1].pk).wait_rule.startswith("tag")


def claim_then_pause(pause: Pause, run: Run) -> None:
    """Claim inside an outer transaction, then stop before it commits: the entry is
    written and marked claimed (by the PostgreSQL function or the Python path alike)."""
    with transaction.atomic():
        assert pools.try_claim(run, "a", "warehouse", 0, None).claimed
        pause()


def claim_blocked_on_the_pool_lock(run: Run) -> dict:
    """Start a claim while another connection holds the pool row's lock and kill the
    claiming connection while it waits for that lock, inside the claim statement."""
    holder = psycopg.connect(**connection.get_connection_params() | {"autocommit": False})
    holder.execute("SELECT 1 FROM queueing_pool WHERE key = 'warehouse' FOR UPDATE")
    thread, outcome = in_thread(lambda: pools.try_claim(run, "a", "warehouse", 0, None))
    try:
        blocked: list[int] = []

        def claim_waits_for_lock() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                blocked[:] = [r[0] for r in cursor.fetchall()]
            return len(blocked) == 1

        wait_until(claim_waits_for_lock, timeout=30, message="the claim waits for the pool lock")
        assert terminate_backends(blocked) == 1
        thread.join(30)
        assert not thread.is_alive()
    finally:
        holder.rollback()
        holder.close()
    return outcome


@pytest.mark.parametrize("where", ["waiting-for-the-pool-lock", "claimed-before-commit"])
def test_a_slot_claim_whose_connection_dies_holds_nothing_and_a_retry_claims(where):
    pools.set_limit("warehouse", 1, actor="test")
    first = runs.submit("pooled_pair", actor="test")
    second = runs.submit("pooled_pair", actor="test")

    if where == "claimed-before-commit":
        pause = Pause(lambda: None)
        outcome = kill_while_paused(pause, lambda: claim_then_pause(pause, first))
    else:
        outcome = claim_blocked_on_the_pool_lock(first)

    assert isinstance(outcome.get("error"), DISCONNECTED), outcome
    assert PoolClaim.objects.count() == 0, "the half-made claim must roll back"
    # The pool row lock died with the connection: another executor claims at once...
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")
    other = pools.try_claim(second, "a", "warehouse", 0, None)
    assert other.claimed
    # ...and the limit of 1 holds: the retried claim waits for that slot, then gets it.
    retry = pools.try_claim(first, "a", "warehouse", 0, None)
    assert not retry.claimed and retry.holders == (second.run_id,)
    pools.free_step(second, "a")
    assert pools.try_claim(first, "a", "warehouse", 0, None).claimed
    assert list(
        PoolClaim.objects.filter(claimed_at__isnull=False).values_list("run_id", flat=True)
    ) == [first.pk]


def test_freeing_a_slot_whose_connection_dies_keeps_it_until_a_retry_frees_it():
    pools.set_limit("warehouse", 1, actor="test")
    run = runs.submit("pooled_pair", actor="test")
    assert pools.try_claim(run, "a", "warehouse", 0, None).claimed
    pause = Pause(lambda: None)

    def free_then_pause() -> None:
        # After the delete, before the commit.
        with transaction.atomic():
            assert pools.free_step(run, "a") == 1
            pause()

    outcome = kill_while_paused(pause, free_then_pause)

    assert isinstance(outcome.get("error"), DISCONNECTED), outcome
    assert PoolClaim.objects.filter(claimed_at__isnull=False).count() == 1
    assert pools.free_step(run, "a") == 1
    assert PoolClaim.objects.count() == 0


FAST = {
    "run_queue": {"dequeue_interval_seconds": 1, "max_concurrent_runs": 6},
    "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 5},
    "concurrency_ui": {"resend_starting_after_seconds": 5, "run_heartbeat_timeout_seconds": 60},
}


@pytest.mark.celery_worker
@pytest.mark.redis
def test_runs_finish_although_every_database_connection_is_killed_again_and_again(processes):
    load_config(FAST)
    pools.set_limit("shared", 2, actor="test")
    config = {"ops": {n: {"config": {"seconds": 1.5}} for n in ("pooled_sleep", "pooled_sleep_b")}}
    run_ids = [runs.submit("pooled_pair", run_config=config, actor="test").run_id for _ in range(6)]
    run_ids += [
        runs.submit(
            "sleepy", run_config={"ops": {"plain_sleep": {"config": {"seconds": 2}}}}, actor="test"
        ).run_id
        for _ in range(6)
    ]
    processes.worker("w1", queues="runs", concurrency=8)
    processes.worker("control", queues="control", concurrency=1)
    processes.beat()
    killed = 0
    with Observer() as observer:
        wait_until(
            lambda: Step.objects.filter(status=Step.Status.RUNNING).exists(),
            timeout=60,
            message="steps running",
        )
        for _ in range(5):
            # Workers, step processes, the tick and monitoring all lose their connections.
            killed += terminate_backends()
            wait_until(
                lambda: (
                    Step.objects.filter(status=Step.Status.RUNNING).exists()
                    or all_finished(run_ids)
                ),
                timeout=30,
                message="work to go on",
            )
            observer._stop.wait(1.5)
        wait_until(
            lambda: all_finished(run_ids), timeout=180, interval=0.5, message="every run to finish"
        )
    assert killed >= 10, "the test should have cut many connections"
    statuses = dict(Run.objects.filter(run_id__in=run_ids).values_list("run_id", "status"))
    failures = {
        r.run_id: r.failure_reason
        for r in Run.objects.filter(run_id__in=run_ids, status=RunStatus.FAILURE)
    }
    assert set(statuses.values()) == {RunStatus.SUCCESS}, (failures, processes.log("w1")[-4000:])
    assert unfinished_steps(run_ids) == 0
    assert max(launches_per_run().values()) == 1
    assert max(executions_per_run().values()) == 1
    wait_until(lambda: slots_held() == 0, timeout=30, message="every slot to be freed")
    assert observer.observed.max_active <= 6
    assert observer.observed.peak("pool", "shared") <= 2


def kill_my_connection() -> None:
    """Terminate this thread's backend from another connection, as a failover would."""
    pid = backend_pid(connection)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def test_a_dead_connection_fails_every_later_query_without_reconnecting():
    # Why `reconnect` exists: Django does not reconnect by itself inside a task.
    runs.submit("quick", actor="test")
    kill_my_connection()

    for _ in range(2):
        with pytest.raises(DISCONNECTED):
            Run.objects.count()
    connection.close()


def test_reconnecting_calls_again_on_a_new_connection():
    runs.submit("quick", actor="test")
    kill_my_connection()

    assert reconnecting(Run.objects.count) == 1
    assert Run.objects.count() == 1


def test_reconnecting_never_retries_inside_a_transaction():
    kill_my_connection()

    with pytest.raises(DISCONNECTED), transaction.atomic():
        reconnecting(Run.objects.count)
    connection.close()
