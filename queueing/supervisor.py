"""The supervisor behind `manage.py dev`: child processes that come back when they die.

A child that exits while nobody asked it to (a crash, an OOM kill, `kill -9`) has its
remaining output printed in full with its prefix, and is started again after a back-off
(1, 2, 4, 8, 16, then every 30 s while it keeps failing; a child that stayed up a minute
starts again at 1 s). The others, the web server included, keep running meanwhile. Only
SIGINT (Ctrl-C) or SIGTERM stop everything.

What happened is written to `VAR_DIR/supervisor.json` (replaced atomically, refreshed every
few seconds): per child its pid, since when it runs, how many restarts, the last exit code
and when. The Daemons page and the doctor read it (`read_state`).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .engine.supervision import BACKOFF_SECONDS, STABLE_SECONDS, describe_exit, restart_delay

COLORS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m"]
RESET = "\033[0m"
STATE_FILE = "supervisor.json"
# How often the state file is refreshed while nothing happens (the doctor's freshness rule,
# engine.doctor.SUPERVISOR_STALE_SECONDS, allows several misses).
STATE_EVERY_SECONDS = 5.0
# After a child exits, how long its pipe is still read for the rest of its output (its own
# children may hold the pipe open; they are killed then).
DRAIN_SECONDS = 2.0
STOP_SECONDS = 15.0

__all__ = ["BACKOFF_SECONDS", "STABLE_SECONDS", "Supervisor", "read_state", "state_path"]


def state_path(var_dir: Path) -> Path:
    return Path(var_dir) / STATE_FILE


def read_state(var_dir: Path) -> dict[str, Any] | None:
    """The last state a supervisor wrote under `var_dir`, or None (none, or unreadable)."""
    try:
        data = json.loads(state_path(var_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Child:
    name: str
    command: list[str]
    color: str
    proc: subprocess.Popen | None = None
    started_at: float | None = None  # wall clock
    started_mono: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    restart_at: float | None = None  # monotonic
    exited_mono: float | None = None  # exit seen, output still being drained
    pending: bytes = b""
    open_pipe: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        specs: Sequence[tuple[str, list[str]]],
        *,
        cwd: str,
        env: dict[str, str],
        var_dir: Path,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.children = [
            Child(name, list(command), COLORS[i % len(COLORS)])
            for i, (name, command) in enumerate(specs)
        ]
        self.cwd = cwd
        self.env = env
        self.var_dir = Path(var_dir)
        self.out = out
        self.clock = clock
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.started_at = time.time()
        self._next_state = 0.0
        self._width = max(len(c.name) for c in self.children)

    # --- output -----------------------------------------------------------------------

    def say(self, child: Child | None, text: str) -> None:
        if child is None:
            self.out.write(f"{'dev':>{self._width}} | {text}\n")
        else:
            self.out.write(f"{child.color}{child.name:>{self._width}} |{RESET} {text}\n")
        self.out.flush()

    def _emit(self, child: Child, data: bytes, final: bool = False) -> None:
        child.pending += data
        *lines, child.pending = child.pending.split(b"\n")
        if final and child.pending:
            lines.append(child.pending)
            child.pending = b""
        for line in lines:
            self.say(child, line.decode(errors="replace").rstrip("\r"))

    def _read(self, child: Child) -> None:
        assert child.proc is not None and child.proc.stdout is not None
        try:
            data = os.read(child.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._emit(child, data)
        else:
            self._close_pipe(child)

    def _close_pipe(self, child: Child) -> None:
        if child.open_pipe and child.proc is not None and child.proc.stdout is not None:
            self.selector.unregister(child.proc.stdout)
            child.proc.stdout.close()
            child.open_pipe = False
            self._emit(child, b"", final=True)

    # --- children ---------------------------------------------------------------------

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C reaches only the supervisor, which stops the
            # children in order, and a dead child's own children can be cleaned up with it.
            start_new_session=True,
        )
        assert child.proc.stdout is not None
        os.set_blocking(child.proc.stdout.fileno(), False)
        self.selector.register(child.proc.stdout, selectors.EVENT_READ, child)
        child.open_pipe = True
        child.started_at = time.time()
        child.started_mono = self.clock()
        child.restart_at = None
        child.exited_mono = None

    def _on_exit(self, child: Child, now: float) -> None:
        """The child's output is drained: report the exit and schedule the restart."""
        assert child.proc is not None
        code = child.proc.returncode
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)  # whatever it left behind
        except (ProcessLookupError, PermissionError):
            pass
        uptime = now - child.started_mono
        if uptime >= STABLE_SECONDS:
            child.failures_in_a_row = 0
        delay = restart_delay(child.failures_in_a_row)
        child.failures_in_a_row += 1
        child.last_exit_code = code
        child.last_exit_at = time.time()
        child.restart_at = now + delay
        child.exited_mono = None
        self.say(
            child,
            f"exited unexpectedly ({describe_exit(code)}) after {uptime:.0f} s; "
            f"restarting in {delay:g} s (restart #{child.restarts + 1})",
        )
        self.write_state(force=True)

    def step(self, timeout: float = 0.5) -> None:
        """Read output, notice exits, restart children that are due; one pass."""
        for key, _ in self.selector.select(timeout=timeout):
            self._read(key.data)
        now = self.clock()
        for child in self.children:
            if child.proc is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    child.restarts += 1
                    try:
                        self.start(child)
                    except OSError as exc:  # e.g. out of processes or file descriptors
                        delay = restart_delay(child.failures_in_a_row)
                        child.failures_in_a_row += 1
                        child.restart_at = now + delay
                        self.say(child, f"could not start ({exc}); trying again in {delay:g} s")
                        continue
                    self.say(child, f"started again (pid {child.proc.pid})")
                    self.write_state(force=True)
                continue
            if child.exited_mono is None and child.proc.poll() is not None:
                child.exited_mono = now
            if child.exited_mono is not None:
                if child.open_pipe and now - child.exited_mono < DRAIN_SECONDS:
                    continue  # still reading the rest of its output (the traceback)
                self._close_pipe(child)
                self._on_exit(child, now)
        self.write_state()

    def stop(self) -> None:
        """SIGTERM every child's group, wait, SIGKILL what is left; print their last words."""
        self.stopping = True
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = self.clock() + STOP_SECONDS
        while self.clock() < deadline and any(
            c.proc is not None and c.proc.poll() is None for c in self.children
        ):
            for key, _ in self.selector.select(timeout=0.1):
                self._read(key.data)
        for child in self.children:
            if child.proc is None:
                continue
            if child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait()
            while child.open_pipe:
                self._read(child)
            self.say(child, "stopped")
        self.write_state(force=True, stopped=True)

    def run(self) -> None:
        def on_signal(signum, frame):  # noqa: ARG001
            self.stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            for child in self.children:
                self.start(child)
            self.write_state(force=True)
            while not self.stopping:
                self.step()
        finally:
            self.stop()

    # --- state ------------------------------------------------------------------------

    def state(self, stopped: bool = False) -> dict[str, Any]:
        now_mono = self.clock()
        now = time.time()
        processes = []
        for child in self.children:
            running = (
                child.proc is not None and child.restart_at is None and child.proc.poll() is None
            )
            processes.append(
                {
                    "name": child.name,
                    "running": running and not stopped,
                    "pid": child.proc.pid if child.proc is not None else None,
                    "started_at": child.started_at,
                    "restarts": child.restarts,
                    "last_exit_code": child.last_exit_code,
                    "last_exit_at": child.last_exit_at,
                    "next_restart_at": (
                        now + max(0.0, child.restart_at - now_mono)
                        if child.restart_at is not None and not stopped
                        else None
                    ),
                }
            )
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": self.started_at,
            "updated_at": now,
            "stopped_at": now if stopped else None,
            "processes": processes,
        }

    def write_state(self, force: bool = False, stopped: bool = False) -> None:
        now = self.clock()
        if not force and now < self._next_state:
            return
        self._next_state = now + STATE_EVERY_SECONDS
        path = state_path(self.var_dir)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.state(stopped)))
            os.replace(tmp, path)
        except OSError as exc:  # a full disk must not stop the supervisor
            self.say(None, f"could not write {path}: {exc}")
