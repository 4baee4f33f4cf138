"""The embedded broker: kombu's filesystem transport made safe for several processes.

kombu's own filesystem transport creates a message file and then writes it, so a consumer
polling the folder can take the file while it is still empty (kombu issue 1551): the
worker dies with `JSONDecodeError`, and the message is gone. Its exchange tables (the
broadcast bindings behind worker inspection) are truncated and rewritten in place with
the same window, and an unacknowledged message lives only in the consuming process's
memory, so a killed worker loses it. This transport keeps kombu's folder layout and file
names (messages already in `var/broker/queue/` from an older version are still read) and
changes how files come and go:

- **publish** writes the message to `tmp/`, fsyncs it and renames it into `queue/`. A
  rename within one filesystem is atomic, so a file in `queue/` is always complete.
- **consume** renames the file from `queue/` into this process's `inflight/<owner>/`.
  Exactly one process wins a rename, so no message is delivered twice. The file stays
  there until the message is acknowledged or rejected (or, for a no-ack consumer such as
  Celery's broadcast mailbox, until it is read).
- **a dead consumer's messages come back**: each process holds an exclusive `flock` on
  `inflight/<owner>.lock` for its lifetime. The kernel releases it when the process dies
  (SIGKILL included), so whoever can take the lock knows the owner is gone and renames its
  files back into `queue/` under their original names (and place in the order).
- **exchange tables** are read-modify-written under a separate lock file and replaced by
  rename, so a reader sees the old table or the new one, never a truncated one.
- **a file that cannot be parsed** (only an older version or a foreign writer can leave
  one) is left alone for a moment in case it is still being written, then moved to
  `unreadable/` with a warning naming it. It never stops the consumer.

Works on one machine's local filesystem (rename and flock must be atomic; not NFS).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger("concurrency_ui.broker")

# An unparsable file younger than this may still be being written by a writer that does
# not publish atomically (an older version of this app, or kombu's own transport).
UNREADABLE_GRACE_SECONDS = 5.0
# How often a process looks for the in-flight messages of dead processes.
RECOVER_EVERY_SECONDS = 2.0
# Broadcast and reply messages (queues ending in `.pidbox`) nobody took within this long
# are useless (a broadcast expires within seconds, a reply is awaited for about one) and
# would otherwise pile up for workers and clients that are gone.
STALE_PIDBOX_SECONDS = 600.0
STALE_TMP_SECONDS = 600.0


def _fsync_write(path: str, data: bytes, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


class _Owner:
    """This process's claim on its in-flight folder: an flock held until the process dies."""

    def __init__(self, inflight: Path):
        self.pid = os.getpid()
        self.name = f"{self.pid}-{uuid.uuid4().hex[:12]}"
        self.folder = inflight / self.name
        # Lock a temporary name first and rename it into place, so that no other process can
        # ever see `<owner>.lock` unlocked while this process is alive.
        tmp_lock = inflight / f".{self.name}.lock.tmp"
        self._lock_fd = os.open(tmp_lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.folder.mkdir()
        os.rename(tmp_lock, inflight / f"{self.name}.lock")


class Channel(filesystem.Channel):
    """Atomic publish, claim by rename, in-flight files until acknowledged."""

    _owners: dict[str, _Owner] = {}
    _owners_lock = threading.Lock()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._inflight: dict[str, str] = {}  # delivery tag -> file in our in-flight folder
        self._no_ack_queues: set[str] = set()
        self._next_housekeeping = 0.0
        self._tmp_seq = 0
        for folder in (
            self.data_folder_in,
            self.data_folder_out,
            self.tmp_folder,
            self.inflight_folder,
            self.unreadable_folder,
            self.control_folder,
        ):
            Path(folder).mkdir(parents=True, exist_ok=True)

    # --- folders and options ----------------------------------------------------------

    def _sibling(self, option: str, name: str) -> str:
        value = self.transport_options.get(option)
        return value or os.path.join(os.path.dirname(os.path.abspath(self.data_folder_in)), name)

    @property
    def tmp_folder(self) -> str:
        # Beside the queue folder, so the rename into it stays on one filesystem.
        value = self.transport_options.get("data_folder_tmp")
        return value or os.path.join(os.path.dirname(os.path.abspath(self.data_folder_out)), "tmp")

    @property
    def inflight_folder(self) -> str:
        return self._sibling("data_folder_inflight", "inflight")

    @property
    def unreadable_folder(self) -> str:
        return self._sibling("data_folder_unreadable", "unreadable")

    @property
    def fsync(self) -> bool:
        return bool(self.transport_options.get("fsync", True))

    def _owner(self) -> _Owner:
        # One owner per process and folder; a forked child makes its own (the parent's lock
        # would otherwise vouch for a child that dies).
        key = f"{os.getpid()}:{self.inflight_folder}"
        owner = self._owners.get(key)
        if owner is None:
            with self._owners_lock:
                owner = self._owners.get(key)
                if owner is None:
                    owner = _Owner(Path(self.inflight_folder))
                    self._owners[key] = owner
        return owner

    # --- publish ----------------------------------------------------------------------

    def _tmp_path(self, suffix: str) -> str:
        self._tmp_seq += 1
        return os.path.join(
            self.tmp_folder, f"{os.getpid()}-{uuid.uuid4().hex}-{self._tmp_seq}.{suffix}"
        )

    def _put(self, queue, payload, **kwargs):
        """Write to `tmp/`, fsync, rename into the queue folder: never seen half-written."""
        # kombu's name (the consumer's filter), with a zero-padded wall-clock time so that
        # names sort in publish order across processes and reboots.
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        tmp = self._tmp_path("msg.tmp")
        try:
            _fsync_write(tmp, str_to_bytes(dumps(payload)), self.fsync)
            os.rename(tmp, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise ChannelError(f"Cannot add message {name!r} to {self.data_folder_out}") from exc

    # --- consume ----------------------------------------------------------------------

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag):
        queue = self._tag_to_queue.get(consumer_tag)
        result = super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self._no_ack_queues.discard(queue)
        return result

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._settle(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple=multiple)
        self._settle(delivery_tag)

    def basic_reject(self, delivery_tag, requeue=False):
        # A requeue re-publishes through _restore, which settles the old file itself.
        super().basic_reject(delivery_tag, requeue=requeue)
        self._settle(delivery_tag)

    def _restore(self, message):
        # Forget the in-flight file before re-publishing: the re-published copy may be taken
        # (under the same delivery tag) by this very process before we get to delete.
        held = self._inflight.pop(message.delivery_tag, None)
        super()._restore(message)
        if held is not None:
            _unlink(held)

    def close(self):
        # Unacknowledged messages were re-published by the close (kombu's restore); anything
        # still held (taken but never handed to a consumer) goes back under its own name.
        super().close()
        while self._inflight:
            _, held = self._inflight.popitem()
            try:
                os.rename(held, os.path.join(self.data_folder_in, os.path.basename(held)))
            except OSError:
                pass

    def _settle(self, delivery_tag) -> None:
        held = self._inflight.pop(delivery_tag, None)
        if held is not None:
            _unlink(held)

    def _get(self, queue):
        """Claim the oldest complete message of `queue` by renaming it into our folder."""
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + RECOVER_EVERY_SECONDS
            self.recover()
        wanted = f"{queue}.msg"
        owner = self._owner()
        for filename in sorted(os.listdir(self.data_folder_in)):
            # kombu's filter: everything after the first dot names the queue.
            if filename.partition(".")[2] != wanted:
                continue
            source = os.path.join(self.data_folder_in, filename)
            claimed = os.path.join(owner.folder, filename)
            try:
                os.rename(source, claimed)
            except FileNotFoundError:
                continue  # another consumer took it first
            except OSError as exc:
                raise ChannelError(f"Cannot take {filename!r} from the queue folder") from exc
            try:
                with open(claimed, "rb") as f:
                    raw = f.read()
                payload = loads(bytes_to_str(raw))
                delivery_tag = payload["properties"]["delivery_tag"]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                self._unreadable(claimed, source, filename, exc)
                continue
            if queue in self._no_ack_queues:
                _unlink(claimed)
            else:
                self._inflight[delivery_tag] = claimed
            return payload
        raise Empty()

    def _unreadable(self, claimed: str, source: str, filename: str, exc: Exception) -> None:
        try:
            age = time.time() - os.stat(claimed).st_mtime
        except FileNotFoundError:
            return
        if age < UNREADABLE_GRACE_SECONDS:
            # Perhaps still being written by a non-atomic writer: give it back for later.
            try:
                os.rename(claimed, source)
            except OSError:
                pass
            return
        target = os.path.join(self.unreadable_folder, filename)
        try:
            os.rename(claimed, target)
        except OSError:
            _unlink(claimed)
            target = "(deleted: could not be moved)"
        logger.warning(
            "broker: message file %s could not be read (%s: %s); moved to %s",
            filename,
            type(exc).__name__,
            exc,
            target,
        )

    # --- recovery and housekeeping ----------------------------------------------------

    def recover(self) -> int:
        """Give the in-flight messages of dead processes back to their queues.

        Returns how many messages were given back. Also removes temporary files and
        broadcast/reply messages that nobody can still want.
        """
        inflight = self.inflight_folder
        restored = 0
        try:
            entries = os.listdir(inflight)
        except FileNotFoundError:
            return 0
        own = self._owner().name
        for entry in entries:
            if not entry.endswith(".lock") or entry.startswith(".") or entry[:-5] == own:
                continue
            restored += self._recover_owner(os.path.join(inflight, entry[:-5]))
        self._sweep()
        return restored

    def _recover_owner(self, folder: str) -> int:
        lock_path = f"{folder}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its owner is alive
            if not os.path.exists(lock_path):
                return 0  # another process recovered it while we waited for the lock
            restored = 0
            for filename in _listdir(folder):
                try:
                    os.rename(
                        os.path.join(folder, filename),
                        os.path.join(self.data_folder_in, filename),
                    )
                    restored += 1
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            _unlink(lock_path)
            if restored:
                logger.warning(
                    "broker: %d unacknowledged message(s) of the stopped process %s put back "
                    "in the queue",
                    restored,
                    os.path.basename(folder),
                )
            return restored
        finally:
            os.close(fd)

    def _sweep(self) -> None:
        now = time.time()
        for filename in _listdir(self.tmp_folder):
            path = os.path.join(self.tmp_folder, filename)
            if _age(path, now) > STALE_TMP_SECONDS:
                _unlink(path)
        for filename in _listdir(self.data_folder_in):
            if filename.endswith(".pidbox.msg"):
                path = os.path.join(self.data_folder_in, filename)
                if _age(path, now) > STALE_PIDBOX_SECONDS:
                    _unlink(path)

    # --- exchange tables (broadcast and direct bindings) --------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(raw))]
        except (ValueError, TypeError):
            # Only a non-atomic writer (an older version) leaves this: re-read under the
            # writers' lock, and set a file that is still broken aside.
            with self._table_lock(exchange):
                return self._read_table_locked(exchange)

    def _table_lock(self, exchange):
        return _FileLock(self.control_folder / f".{exchange}.exchange.lock")

    def _read_table_locked(self, exchange) -> list:
        file = self._exchange_file(exchange)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(raw))]
        except (ValueError, TypeError) as exc:
            target = os.path.join(self.unreadable_folder, f"{file.name}.{uuid.uuid4().hex[:8]}")
            os.replace(file, target)
            logger.warning(
                "broker: exchange table %s could not be read (%s); moved to %s and started "
                "empty (workers bind again when they restart)",
                file.name,
                exc,
                target,
            )
            return []

    def _write_table_locked(self, exchange, queues: list) -> None:
        file = self._exchange_file(exchange)
        tmp = self._tmp_path("exchange.tmp")
        _fsync_write(tmp, str_to_bytes(dumps(queues)), self.fsync)
        os.replace(tmp, file)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self._exchange_file(exchange)  # refuses a bad name before any lock file is made
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            with self._table_lock(exchange):
                queues = self._read_table_locked(exchange)
                if binding not in queues:
                    queues.insert(0, binding)
                    self._write_table_locked(exchange, queues)
        except OSError as exc:
            raise ChannelError(f"Cannot bind {queue!r} to {exchange!r}") from exc

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual channel's part only (kombu's filesystem part rewrites the file in place).
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        self._exchange_file(exchange)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange):
            queues = self._read_table_locked(exchange)
            if binding in queues:
                queues.remove(binding)
                self._write_table_locked(exchange, queues)


class _FileLock:
    """An exclusive flock on a lock file beside the exchange table, for read-modify-write."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _age(path: str, now: float) -> float:
    try:
        return now - os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the channel above (`broker_transport` setting)."""

    Channel = Channel
    driver_type = "filesystem"
    driver_name = "filesystem-atomic"
