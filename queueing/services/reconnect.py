"""Surviving a dropped database connection in long-lived work (the run executor, step processes).

A database restart, a failover or an idle-connection reaper kills connections under a run
that may have been executing for hours. Django does not reconnect by itself inside one
task: every later query on a dead connection fails. `reconnecting` closes the dead
connection and tries again on a new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connection
from django.db.utils import InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Django's wrappers of psycopg's errors for a lost connection (and for deadlocks and lock
# timeouts, where trying the whole transaction again is right too).
DISCONNECTED = (OperationalError, InterfaceError)


def reconnecting(fn: Callable[..., T], *args, attempts: int = 8, delay: float = 0.5, **kwargs) -> T:
    """Call `fn`; if the connection fails, close it and call `fn` again, up to `attempts` times.

    Only for work that is safe to repeat: one whole transaction (an `atomic` block inside
    `fn`), or statements whose repetition changes nothing (conditional updates, reads).
    Inside an outer atomic block nothing can be retried, so the error is raised at once.
    Waits grow by `delay` each time (0.5 s, 1 s, ...): about 14 s in all by default, long
    enough for a database restart or a failover.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except DISCONNECTED as exc:
            if connection.in_atomic_block or attempt == attempts:
                raise
            log.warning(
                "database error in %s (attempt %d of %d), reconnecting: %s",
                getattr(fn, "__qualname__", fn),
                attempt,
                attempts,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            connection.close()
            time.sleep(delay * attempt)
    raise AssertionError("unreachable")  # pragma: no cover
