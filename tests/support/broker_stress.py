"""Producer and consumer processes for the embedded-broker stress test.

Each process talks to a filesystem broker folder through kombu, as Celery does: consumers
drain a shared work queue with acknowledgements (Celery's task queues) and their own
broadcast queue without (Celery's pidbox), producers publish work messages, broadcasts
to a fanout exchange and bind and delete scratch queues on that exchange meanwhile (what
every worker inspection does to the reply exchange). Every process writes what it saw to
a JSON file; the test compares.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

WORK = "stress.work"
BROADCAST = "stress.broadcast"


def connection(transport: str, folder: Path):
    from kombu import Connection

    return Connection(
        "filesystem://localhost//",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0,  # consumers poll flat out: the race window opens wider
        },
    )


def entities():
    from kombu import Exchange, Queue

    work_exchange = Exchange(WORK, type="direct", durable=False)
    broadcast = Exchange(BROADCAST, type="fanout", durable=False)
    return work_exchange, Queue(WORK, work_exchange, routing_key=WORK), broadcast


def prepare(transport: str, folder: Path, consumers: int) -> None:
    """Create the folders and bind every queue before any process starts."""
    from kombu import Queue
    from kombu.transport import filesystem

    # kombu remembers in memory the bindings this process declared (for every filesystem
    # connection), and would skip writing them into this new folder's exchange tables.
    filesystem.Transport.global_state.clear()

    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    work_exchange, work_queue, broadcast = entities()
    with connection(transport, folder) as conn:
        channel = conn.default_channel
        work_queue(channel).declare()
        for index in range(consumers):
            Queue(f"{BROADCAST}.c{index}", broadcast)(channel).declare()


def produce(transport: str, folder: str, index: int, count: int, broadcast_every: int) -> None:
    from kombu import Producer, Queue

    folder_path = Path(folder)
    sent: list[str] = []
    broadcasts: list[str] = []
    errors: list[str] = []
    work_exchange, _, broadcast = entities()
    with connection(transport, folder_path) as conn:
        channel = conn.channel()
        producer = Producer(channel)
        for n in range(count):
            ident = f"p{index}-{n}"
            try:
                producer.publish(
                    {"id": ident, "pad": "x" * (n % 7) * 300},
                    exchange=work_exchange,
                    routing_key=WORK,
                    serializer="json",
                )
                sent.append(ident)
                if n % broadcast_every == 0:
                    bid = f"b{index}-{n}"
                    scratch = Queue(f"{BROADCAST}.scratch-p{index}-{n}", broadcast)(channel)
                    scratch.declare()
                    producer.publish({"id": bid}, exchange=broadcast, serializer="json")
                    broadcasts.append(bid)
                    scratch.delete()
            except Exception:
                errors.append(traceback.format_exc(limit=3))
    (folder_path / f"producer-{index}.json").write_text(
        json.dumps({"sent": sent, "broadcasts": broadcasts, "errors": errors})
    )


def consume(transport: str, folder: str, index: int) -> None:
    """Drain until the stop file exists and nothing arrived for a second."""
    from kombu import Consumer, Queue

    folder_path = Path(folder)
    received: list[list[str]] = []
    errors: list[str] = []
    _, work_queue, broadcast = entities()
    own = Queue(f"{BROADCAST}.c{index}", broadcast)

    def on_work(body, message):
        received.append([WORK, body["id"]])
        message.ack()

    def on_broadcast(body, message):
        received.append([own.name, body["id"]])

    with connection(transport, folder_path) as conn:
        channel = conn.channel()
        consumers = [
            Consumer(channel, [work_queue], callbacks=[on_work], accept=["json"]),
            Consumer(channel, [own], callbacks=[on_broadcast], accept=["json"], no_ack=True),
        ]
        for consumer in consumers:
            consumer.consume()
        quiet_since = time.monotonic()
        while True:
            try:
                conn.drain_events(timeout=0.2)
                quiet_since = time.monotonic()
            except TimeoutError:
                if (folder_path / "stop").exists() and time.monotonic() - quiet_since > 1.0:
                    break
            except Exception:
                # What kombu's transport raises when it reads a half-written file: recorded,
                # and the consumer goes on (a Celery worker would have died here).
                errors.append(traceback.format_exc(limit=3))
                quiet_since = time.monotonic()
    (folder_path / f"consumer-{index}.json").write_text(
        json.dumps({"received": received, "errors": errors, "pid": os.getpid()})
    )


def take_without_ack(transport: str, folder: str, count: int, ready: str) -> None:
    """Take `count` work messages, never acknowledge them, and wait to be killed."""
    from kombu import Consumer

    _, work_queue, _ = entities()
    taken: list[str] = []
    with connection(transport, Path(folder)) as conn:
        channel = conn.channel()
        channel.basic_qos(0, count, False)
        consumer = Consumer(
            channel,
            [work_queue],
            callbacks=[lambda body, message: taken.append(body["id"])],
            accept=["json"],
        )
        consumer.consume()
        while len(taken) < count:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
        Path(ready).write_text(json.dumps(taken))
        while True:
            time.sleep(1)


if __name__ == "__main__":
    import sys

    role, transport, folder, *rest = sys.argv[1:]
    if role == "produce":
        produce(transport, folder, int(rest[0]), int(rest[1]), int(rest[2]))
    elif role == "consume":
        consume(transport, folder, int(rest[0]))
    elif role == "take":
        take_without_ack(transport, folder, int(rest[0]), rest[1])
    else:
        raise SystemExit(f"unknown role {role!r}")
