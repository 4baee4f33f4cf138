"""The embedded broker (`concurrency_ui.broker`) under several producer and consumer processes.

The same stress runs against kombu's own filesystem transport, marked xfail(strict=True):
it must keep failing there (a consumer takes a file its producer has created but not yet
written, kombu issue 1551), which proves the test can see the race it guards against.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from concurrency_ui import broker
from tests.support import broker_stress
from tests.support.workers import ROOT, wait_until

OURS = "concurrency_ui.broker:Transport"
STOCK = "kombu.transport.filesystem:Transport"
PRODUCERS = 4
CONSUMERS = 6
MESSAGES = int(os.environ.get("BROKER_STRESS_MESSAGES", "750"))  # per producer
BROADCAST_EVERY = 10
# Rounds until the first problem: two rounds of this size caught kombu's race in every
# one of 17 tries on a loaded 2-core machine; ours must stay clean through both.
ROUNDS = 2


def _start(role: str, transport: str, folder: Path, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.broker_stress", role, transport, str(folder)]
        + [str(a) for a in args],
        cwd=str(ROOT),
        start_new_session=True,
    )


def _stress(transport: str, folder: Path) -> tuple[list[str], str]:
    """Run the producers and consumers; return the problems found and the figures."""
    broker_stress.prepare(transport, folder, CONSUMERS)
    started = time.monotonic()
    consumers = [_start("consume", transport, folder, i) for i in range(CONSUMERS)]
    producers = [
        _start("produce", transport, folder, i, MESSAGES, BROADCAST_EVERY) for i in range(PRODUCERS)
    ]
    try:
        for proc in producers:
            proc.wait(120)
        (folder / "stop").write_text("")
        for proc in consumers:
            proc.wait(120)
    finally:
        for proc in producers + consumers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    seconds = time.monotonic() - started

    problems: list[str] = []
    sent: list[str] = []
    broadcasts: list[str] = []
    for i in range(PRODUCERS):
        report = json.loads((folder / f"producer-{i}.json").read_text())
        sent += report["sent"]
        broadcasts += report["broadcasts"]
        problems += [f"producer {i}: {e}" for e in report["errors"]]
    got: Counter[tuple[str, str]] = Counter()
    for i in range(CONSUMERS):
        path = folder / f"consumer-{i}.json"
        if not path.exists():
            problems.append(f"consumer {i} died")
            continue
        report = json.loads(path.read_text())
        got.update((queue, ident) for queue, ident in report["received"])
        problems += [f"consumer {i}: {e.strip().splitlines()[-1]}" for e in report["errors"]]
    expected = Counter({(broker_stress.WORK, ident): 1 for ident in sent})
    for i in range(CONSUMERS):
        queue = f"{broker_stress.BROADCAST}.c{i}"
        expected.update({(queue, ident): 1 for ident in broadcasts})
    lost = expected - got
    twice = got - expected
    if lost:
        problems.append(f"{sum(lost.values())} message(s) lost, e.g. {sorted(lost)[:3]}")
    if twice:
        problems.append(
            f"{sum(twice.values())} message(s) delivered twice, e.g. {sorted(twice)[:3]}"
        )
    figures = (
        f"{len(sent)} work messages and {len(broadcasts)} broadcasts x {CONSUMERS} queues, "
        f"{PRODUCERS} producers, {CONSUMERS} consumers, {seconds:.1f} s; "
        f"{sum(got.values())} deliveries, {len(problems)} problem(s)"
    )
    return problems, figures


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param(OURS, id="ours"),
        pytest.param(
            STOCK,
            id="kombu-stock",
            marks=pytest.mark.xfail(
                strict=True,
                reason="kombu's filesystem transport lets a reader take a half-written file",
            ),
        ),
    ],
)
def test_no_message_is_lost_read_twice_or_read_half_written(transport, tmp_path):
    for round_ in range(ROUNDS):
        problems, figures = _stress(transport, tmp_path / f"round-{round_}")
        print(f"\nbroker stress ({transport}), round {round_ + 1}: {figures}")
        for problem in problems[:5]:
            print(f"  {problem}")
        assert problems == []


def test_a_killed_consumers_unacknowledged_messages_are_delivered_again(tmp_path):
    broker_stress.prepare(OURS, tmp_path, consumers=1)
    producer = _start("produce", OURS, tmp_path, 0, 20, 1000)
    assert producer.wait(60) == 0
    ready = tmp_path / "taken.json"
    taker = _start("take", OURS, tmp_path, 5, ready)
    try:
        wait_until(ready.exists, timeout=30, message="the consumer to take 5 messages")
    finally:
        os.killpg(taker.pid, signal.SIGKILL)
        taker.wait(10)
    taken = json.loads(ready.read_text())

    (tmp_path / "stop").write_text("")
    consumer = _start("consume", OURS, tmp_path, 0)
    assert consumer.wait(60) == 0
    report = json.loads((tmp_path / "consumer-0.json").read_text())
    work = [ident for queue, ident in report["received"] if queue == broker_stress.WORK]
    assert report["errors"] == []
    assert sorted(work) == sorted(f"p0-{n}" for n in range(20))
    assert set(taken) <= set(work)


def _legacy_file(folder: Path, name: str, content: bytes, age: float) -> Path:
    path = folder / name
    path.write_bytes(content)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_messages_left_by_an_older_version_are_delivered_or_reported(tmp_path, caplog):
    """kombu's transport wrote `<monotonic ms>_<uuid>.<queue>.msg` in place; a crash could
    leave one empty or cut short. Complete ones are delivered, broken ones set aside with a
    warning, a broken one that may still be being written is left for later."""
    from kombu import Connection, Producer

    folder = tmp_path / "broker"
    queue_dir = folder / "queue"
    queue_dir.mkdir(parents=True)
    _, work_queue, _ = broker_stress.entities()
    # A complete message as kombu's transport writes it.
    stock = Connection(
        "filesystem://",
        transport=STOCK,
        transport_options={"data_folder_in": str(queue_dir), "data_folder_out": str(queue_dir)},
    )
    with stock:
        Producer(stock.default_channel).publish(
            {"id": "legacy-ok"}, routing_key=broker_stress.WORK, serializer="json"
        )
    [complete] = list(queue_dir.iterdir())
    os.rename(complete, queue_dir / f"1234_{'a' * 36}.{broker_stress.WORK}.msg")
    _legacy_file(queue_dir, f"1235_{'b' * 36}.{broker_stress.WORK}.msg", b"", age=3600)
    partial = complete.name  # any content cut short
    _legacy_file(queue_dir, f"1236_{'c' * 36}.{broker_stress.WORK}.msg", b'{"body": "eyJ', 3600)
    fresh = _legacy_file(queue_dir, f"1237_{'d' * 36}.{broker_stress.WORK}.msg", b"", age=0)
    del partial

    with caplog.at_level(logging.WARNING, logger="concurrency_ui.broker"):
        with broker_stress.connection(OURS, folder) as conn:
            received = []
            consumer = conn.Consumer(
                [work_queue],
                callbacks=[lambda body, m: (received.append(body["id"]), m.ack())],
                accept=["json"],
            )
            with consumer:
                for _ in range(5):
                    try:
                        conn.drain_events(timeout=0.3)
                    except TimeoutError:
                        pass

    assert received == ["legacy-ok"]
    unreadable = sorted(p.name for p in (folder / "unreadable").iterdir())
    assert unreadable == [
        f"1235_{'b' * 36}.{broker_stress.WORK}.msg",
        f"1236_{'c' * 36}.{broker_stress.WORK}.msg",
    ]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all("could not be read" in w for w in warnings)
    assert fresh.exists(), "a file that may still be being written is left in the queue"


def test_a_broken_exchange_table_is_set_aside_not_fatal(tmp_path, caplog):
    folder = tmp_path / "broker"
    (folder / "control").mkdir(parents=True)
    (folder / "control" / f"{broker_stress.BROADCAST}.exchange").write_bytes(b'[["", "", "st')
    with caplog.at_level(logging.WARNING, logger="concurrency_ui.broker"):
        broker_stress.prepare(OURS, folder, consumers=2)
    with broker_stress.connection(OURS, folder) as conn:
        table = conn.default_channel.get_table(broker_stress.BROADCAST)
    assert sorted(q.queue for q in table) == [
        f"{broker_stress.BROADCAST}.c0",
        f"{broker_stress.BROADCAST}.c1",
    ]
    assert any("exchange table" in r.getMessage() for r in caplog.records)


def test_stale_broadcasts_and_temporary_files_are_swept(tmp_path):
    folder = tmp_path / "broker"
    broker_stress.prepare(OURS, folder, consumers=1)
    old = broker.STALE_PIDBOX_SECONDS + 60
    stale = _legacy_file(folder / "queue", f"{'0' * 20}_x.gone@host.celery.pidbox.msg", b"{}", old)
    recent = _legacy_file(folder / "queue", f"{'0' * 20}_y.gone@host.celery.pidbox.msg", b"{}", 1)
    task = _legacy_file(folder / "queue", f"{'0' * 20}_z.{broker_stress.WORK}.msg", b"{}", old)
    tmp = _legacy_file(folder / "tmp", "123-abc-1.msg.tmp", b"{", broker.STALE_TMP_SECONDS + 60)
    with broker_stress.connection(OURS, folder) as conn:
        conn.default_channel.recover()
    assert not stale.exists() and not tmp.exists()
    assert recent.exists() and task.exists(), "only old broadcasts and temp files go"
