"""Warm steps: one long-lived process per worker that has set up Django and imported the code
locations, and forks one child per step (`STEP_ZYGOTE`, on by default).

Every step still runs in a process of its own, as on the cold path (`python -m
queueing.step_process`): a crash or `os._exit` fails that step only, SIGTERM and SIGKILL
stop it, its stderr goes to a pipe the executor reads, and its exit code (negative: the
signal) is the executor's to judge. What the zygote saves is the interpreter start, Django's
set-up and the imports (about 0.4 s a step on a quiet machine, seconds on a loaded one).

Seen from the worker (`start_step`, `StepProcess`), a forked step is a `subprocess.Popen`
look-alike. The zygote is the child of a worker thread that lives exactly as long as the
zygote does (`prctl(PR_SET_PDEATHSIG)` fires when the thread that started a process ends),
and each step is the zygote's child with the same signal: a worker killed with SIGKILL takes
its zygote, and the zygote its steps, down with it. The worker signals a step through the
zygote, which only signals children it has not reaped yet, so a recycled pid is never hit.

The zygote holds no database connection when it forks (Django's connections are closed
before every fork), so each child opens its own: a PostgreSQL socket or an SQLite handle is
never shared across a fork. Before each fork it compares the modification times and sizes
of every module file it imported from outside the interpreter's and virtualenv's
directories (the project and the code locations) with those it loaded; if one changed, it
refuses, and the worker replaces it with a fresh zygote (the old one lives until its last
step ends). Meanwhile, and whenever no zygote is ready (starting, dead, disabled, or a
platform without fork and PR_SET_PDEATHSIG: anything but Linux), a step takes the cold path.

The protocol: JSON messages over a Unix SOCK_SEQPACKET socket pair; a fork request carries
the write end of the step's stderr pipe (SCM_RIGHTS).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

MESSAGE_BYTES = 65536
# A fork takes milliseconds; past this the zygote is taken for hung and gets no more steps.
FORK_REPLY_SECONDS = 30.0
# After a zygote failed to come up, steps take the cold path this long before another try.
RESTART_BACKOFF_SECONDS = 30.0


class StepProcess(Protocol):
    """What the executor needs of a step's process (`subprocess.Popen` is one)."""

    pid: int
    stderr: IO[bytes] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


def supported() -> bool:
    """Fork, descriptor passing and PR_SET_PDEATHSIG: Linux only."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(socket, "send_fds")


def _base_dir() -> str:
    from django.conf import settings

    return str(settings.BASE_DIR)


def _child_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "concurrency_ui.settings"
        ),
    }


def cold_start(run_id: str, step_key: str) -> subprocess.Popen:
    """A fresh interpreter for one step: `python -m queueing.step_process RUN_ID STEP_KEY`."""
    return subprocess.Popen(
        [sys.executable, "-m", "queueing.step_process", run_id, step_key],
        cwd=_base_dir(),
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def start_step(run_id: str, step_key: str) -> StepProcess:
    """Start one step's process: forked by this worker's zygote when one is ready, else cold."""
    from django.conf import settings

    if settings.STEP_ZYGOTE and supported():
        zygote = current()
        if zygote is not None:
            try:
                return zygote.fork(run_id, step_key)
            except ZygoteUnavailable as exc:
                log.info("step %s of run %s starts cold: %s", step_key, run_id, exc)
    return cold_start(run_id, step_key)


def exit_fd(process: StepProcess) -> int | None:
    """A new descriptor, the caller's to close, that becomes readable when `process` has
    ended and `poll()` says so; None where there is none (the caller polls)."""
    if isinstance(process, ForkedStep):
        return os.dup(process._exit_read)
    try:
        return os.pidfd_open(process.pid)  # Linux 5.3 and later
    except (AttributeError, OSError):
        return None


def prestart() -> None:
    """Start this worker's zygote in the background, so that its first step is warm too."""
    from django.conf import settings

    if settings.STEP_ZYGOTE and supported():
        current()


def warm(timeout: float = 60.0) -> Zygote | None:
    """Start this worker's zygote if needed and wait until it is ready (None: it is not)."""
    if not supported():
        return None
    current()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            zygote = _current
        if zygote is None:
            return None
        if zygote.ready.wait(0.05):
            return zygote
        if zygote.dead.is_set():
            return None
    return None


def shutdown() -> None:
    """Stop this worker's zygote (its running steps with it); the next step starts another."""
    global _current, _next_start
    with _lock:
        zygote, _current, _next_start = _current, None, 0.0
    if zygote is not None:
        zygote.stop()


class ZygoteUnavailable(Exception):
    pass


_lock = threading.Lock()
_current: Zygote | None = None
_next_start = 0.0


def current() -> Zygote | None:
    """This worker's ready zygote; starts one (in the background) when there is none, it died
    or it went stale, and answers None until the new one is ready."""
    global _current, _next_start
    with _lock:
        zygote = _current
        if zygote is not None and (zygote.dead.is_set() or zygote.retired):
            if not zygote.ready.is_set() and zygote.dead.is_set():
                # It died on the way up (an import that crashes, say): do not fork-bomb the
                # machine with retries; steps go cold for a while.
                _next_start = time.monotonic() + RESTART_BACKOFF_SECONDS
            zygote = _current = None
        if zygote is None and time.monotonic() >= _next_start:
            zygote = _current = Zygote()
        return zygote if zygote is not None and zygote.ready.is_set() else None


class ForkedStep:
    """A step forked by a zygote, answering as `subprocess.Popen` does."""

    def __init__(self, zygote: Zygote, pid: int, stderr: IO[bytes]) -> None:
        self.pid = pid
        self.stderr: IO[bytes] | None = stderr
        self.returncode: int | None = None
        self._zygote = zygote
        self._done = threading.Event()
        # Readable (end of file) once the exit is known here: see `exit_fd`.
        self._exit_read, self._exit_write = os.pipe()

    def _exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            os.close(self._exit_write)
        self._done.set()

    def __del__(self) -> None:
        os.close(self._exit_read)
        if self.returncode is None:
            os.close(self._exit_write)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"step process {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            self._zygote.signal(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Pending:
    def __init__(self, stderr_read: int) -> None:
        self.stderr_read = stderr_read
        self.answered = threading.Event()
        self.step: ForkedStep | None = None
        self.refusal = ""


class Zygote:
    """One zygote process, seen from the worker. A thread of its own starts it and reads its
    messages until it ends."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.dead = threading.Event()
        self.retired = False
        self.pid: int | None = None
        self._process: subprocess.Popen | None = None
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._children: dict[int, ForkedStep] = {}
        self._status: list[dict[str, Any]] = []
        self._status_event = threading.Event()
        threading.Thread(
            target=self._serve, args=(theirs,), name="step-zygote", daemon=True
        ).start()

    # -- the worker's side ----------------------------------------------------------------
    def fork(self, run_id: str, step_key: str) -> ForkedStep:
        if self.retired or self.dead.is_set() or not self.ready.is_set():
            raise ZygoteUnavailable("the zygote is not ready")
        read_end, write_end = os.pipe()
        with self._state_lock:
            self._next_id += 1
            request_id = self._next_id
            pending = self._pending[request_id] = _Pending(read_end)
        try:
            self._send(
                {"op": "fork", "id": request_id, "run_id": run_id, "step_key": step_key},
                [write_end],
            )
        except OSError as exc:
            self._forget(request_id)
            os.close(read_end)
            raise ZygoteUnavailable(f"the zygote is gone ({exc})") from None
        finally:
            os.close(write_end)
        if not pending.answered.wait(FORK_REPLY_SECONDS):
            with self._state_lock:
                abandoned = self._pending.pop(request_id, None) is not None
            if abandoned:
                # A late fork is killed when its answer comes (see `_on_message`).
                self.retired = True
                os.close(read_end)
                raise ZygoteUnavailable(f"no answer from the zygote in {FORK_REPLY_SECONDS:g} s")
            pending.answered.wait()  # the answer came just now and is being handled
        if pending.step is None:  # refused, or the zygote ended: the pipe is ours to close
            os.close(read_end)
            raise ZygoteUnavailable(pending.refusal or "the zygote ended")
        return pending.step

    def signal(self, pid: int, sig: int) -> None:
        try:
            self._send({"op": "signal", "pid": pid, "sig": int(sig)})
        except OSError:
            pass  # the zygote is gone, and its children with it (their parent-death signal)

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """The zygote's own view: its pid, the steps it has not reaped, its open database
        connections (always none: it never queries)."""
        self._status_event.clear()
        self._send({"op": "status"})
        if not self._status_event.wait(timeout):
            raise ZygoteUnavailable("no status from the zygote")
        return self._status[-1]

    def stop(self) -> None:
        """End the zygote: closing our end makes it leave its loop and exit."""
        self.retired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._process is not None:
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def _send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(message).encode()
        with self._send_lock:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.send(data)

    def _forget(self, request_id: int) -> None:
        with self._state_lock:
            self._pending.pop(request_id, None)

    def _retire_if_idle(self) -> None:
        with self._state_lock:
            idle = not self._children and not self._pending
        if self.retired and idle:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    # -- the reading thread -----------------------------------------------------------------
    def _serve(self, theirs: socket.socket) -> None:
        # This thread starts the zygote and lives exactly as long as it: the zygote's
        # parent-death signal fires when the thread that started it ends.
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "queueing.zygote", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                cwd=_base_dir(),
                env=_child_env(),
                stdin=subprocess.DEVNULL,
            )
            self.pid = self._process.pid
        except OSError:
            log.exception("the step zygote could not start; steps start cold")
            self._ended()
            return
        finally:
            theirs.close()
        while True:
            try:
                data = self._sock.recv(MESSAGE_BYTES)
            except OSError:
                data = b""
            if not data:
                break
            try:
                self._on_message(json.loads(data))
            except Exception:  # a bad message must not leave steps unwatched
                log.exception("step zygote: bad message %r", data[:200])
        self._process.wait()
        self._ended()

    def _on_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            self.ready.set()
        elif op in ("forked", "refused"):
            with self._state_lock:
                pending = self._pending.pop(message["id"], None)
            if op == "forked":
                pid = int(message["pid"])
                if pending is None:  # asked too long ago: the step already started cold
                    self.signal(pid, signal.SIGKILL)
                    return
                step = ForkedStep(self, pid, os.fdopen(pending.stderr_read, "rb"))
                with self._state_lock:
                    self._children[pid] = step
                pending.step = step
            else:
                self.retired = True  # stale: the worker starts a fresh zygote
                if pending is not None:
                    pending.refusal = str(message.get("reason", "refused"))
            if pending is not None:
                pending.answered.set()
            self._retire_if_idle()
        elif op == "exited":
            with self._state_lock:
                ended = self._children.pop(int(message["pid"]), None)
            if ended is not None:
                ended._exited(int(message["code"]))
            self._retire_if_idle()
        elif op == "status":
            self._status.append(message)
            self._status_event.set()

    def _ended(self) -> None:
        """The zygote is gone: its steps died with it (parent-death SIGKILL)."""
        self.dead.set()
        with self._state_lock:
            children, self._children = list(self._children.values()), {}
            pending, self._pending = list(self._pending.values()), {}
        for waiting in pending:
            waiting.answered.set()  # `fork` closes the pipe it made
        for step in children:
            _wait_gone(step.pid)
            step._exited(-signal.SIGKILL)
        self._sock.close()
        if not self.retired:
            log.warning("the step zygote ended; a new one starts with the next step")


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Until an orphaned step (killed by its parent-death signal) has been reaped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return  # the pid is someone else's now
        time.sleep(0.01)


# --- the zygote process ----------------------------------------------------------------------


def _die_with_parent(parent: int) -> bool:
    from queueing.step_process import _die_with_parent as set_pdeathsig

    set_pdeathsig()
    # The parent may have died before the signal was set: then we are already an orphan.
    return os.getppid() == parent


def code_files() -> list[str]:
    """The files whose change makes a zygote stale: every imported module outside the
    interpreter's and the virtualenv's directories (the project, code locations in a source
    tree or installed editable), and every module of a code location's top-level package
    wherever it is installed."""
    from queueing.locations import default_location_modules

    skip = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    packages = {path.partition(":")[0].split(".")[0] for path in default_location_modules()}
    files = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if not path.startswith(skip) or name.split(".")[0] in packages:
            files.add(os.path.abspath(path))
    return sorted(files)


def fingerprint(files: list[str]) -> list[tuple[str, int, int]]:
    result = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            result.append((path, -1, -1))
        else:
            result.append((path, info.st_mtime_ns, info.st_size))
    return result


def _open_connections() -> list[str]:
    from django.db import connections

    return [c.alias for c in connections.all(initialized_only=True) if c.connection is not None]


def serve(fd: int, parent: int) -> int:
    """The zygote's loop: fork a step on request, report each child's exit, pass signals on."""
    if not _die_with_parent(parent):
        return 1
    # Ctrl-C in a terminal and a SIGTERM to the process group reach the steps themselves,
    # as on the cold path; the zygote stays until its worker is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from django.db import connections

    from queueing import step_process

    sock = socket.socket(fileno=fd)
    step_process.prepare()
    connections.close_all()
    # Everything loaded so far is the children's to share: out of the collector's sight, so
    # a child's collections do not touch (and copy) the pages it shares with the zygote.
    gc.collect()
    gc.freeze()
    files = code_files()
    loaded = fingerprint(files)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: set[int] = set()

    def send(message: dict[str, Any]) -> None:
        sock.send(json.dumps(message).encode())

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            send({"op": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def fork(message: dict[str, Any], stderr: int) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        connections.close_all()  # the child opens its own
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            _in_child(
                lambda: step_process.run_step(message["run_id"], message["step_key"]),
                me,
                stderr,
                closing=[sock.fileno(), wake_read, wake_write, selector.fileno()],
            )
        os.close(stderr)
        return pid

    send({"op": "ready", "pid": os.getpid()})
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        events = selector.select()
        if any(key.fd == wake_read for key, _ in events):
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        reap()
        if not any(key.fd == sock.fileno() for key, _ in events):
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MESSAGE_BYTES, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            return 0  # the worker closed our socket (or is gone)
        message = json.loads(data)
        op = message.get("op")
        if op == "fork":
            if not fds or fingerprint(files) != loaded:
                for extra in fds:
                    os.close(extra)
                reason = "the code changed" if fds else "no stderr descriptor came with it"
                send({"op": "refused", "id": message["id"], "reason": reason})
                continue
            pid = fork(message, fds[0])
            for extra in fds[1:]:
                os.close(extra)
            children.add(pid)
            send({"op": "forked", "id": message["id"], "pid": pid})
        elif op == "signal":
            # Only a child not reaped yet: its pid cannot have been given to another process.
            if message["pid"] in children:
                try:
                    os.kill(message["pid"], message["sig"])
                except ProcessLookupError:
                    pass
        elif op == "status":
            send(
                {
                    "op": "status",
                    "pid": os.getpid(),
                    "children": sorted(children),
                    "open_connections": _open_connections(),
                }
            )


def _in_child(body: Callable[[], int], parent: int, stderr: int, closing: list[int]) -> None:
    """In a forked step: become a step process like the cold path's, run, and never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum, handler in (
            (signal.SIGCHLD, signal.SIG_DFL),
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, signal.SIG_DFL),
        ):
            signal.signal(signum, handler)
        for fd in closing:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(stderr, 2)
        os.close(devnull)
        os.close(stderr)
        if _die_with_parent(parent):
            code = body()
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
