"""The attached Dagster deployment: `DAGSTER_HOME` read through Dagster's own API.

Importing this package never imports Dagster: `reader` (and `writes`) do, and only
`load_state` / `instance` import them, after `installed()` said the extra is there.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from ..services.runs import unique_prefix_match

if TYPE_CHECKING:
    from .state import DagsterState

_lock = threading.Lock()
_instances: dict[str, Any] = {}


class DagsterUnavailable(Exception):
    """Why no deployment can be read: extra missing, DAGSTER_HOME unset or unreadable."""


def installed() -> bool:
    """The `dagster` extra is installed (looked up without importing it)."""
    try:
        return importlib.util.find_spec("dagster") is not None
    except (ImportError, ValueError):
        return False


def home() -> str | None:
    return settings.DAGSTER_HOME or None


def attached() -> bool:
    """A deployment is configured and the extra is installed (the pages and commands work)."""
    return bool(home()) and installed()


def writes_enabled() -> bool:
    return bool(settings.DAGSTER_WRITES_ENABLED)


def check_available() -> str:
    """DAGSTER_HOME if it can be read; else raise DagsterUnavailable saying what to do."""
    folder = home()
    if not folder:
        raise DagsterUnavailable(
            "No Dagster deployment is attached: set DAGSTER_HOME to its instance folder "
            "(the one holding dagster.yaml)."
        )
    if not installed():
        raise DagsterUnavailable(
            "DAGSTER_HOME is set but Dagster is not installed: pip install -e '.[dagster]' "
            "(or make dev-dagster)."
        )
    if not Path(folder, "dagster.yaml").is_file():
        raise DagsterUnavailable(f"DAGSTER_HOME={folder} has no dagster.yaml.")
    return folder


def instance() -> Any:
    """The deployment's DagsterInstance, built once per process."""
    folder = check_available()
    with _lock:
        found = _instances.get(folder)
        if found is None:
            from .reader import open_instance

            try:
                found = open_instance(folder)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise DagsterUnavailable(
                    f"Dagster could not load {folder}/dagster.yaml: {type(exc).__name__}: {first}"
                ) from None
            _instances[folder] = found
        return found


def load_state(now: float | None = None) -> DagsterState:
    """The attached deployment as it is now. Raises DagsterUnavailable."""
    current = instance()  # raises DagsterUnavailable before anything imports Dagster
    from .reader import read_state

    try:
        return read_state(current, check_available(), time.time() if now is None else now)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DagsterUnavailable(
            f"Reading the Dagster deployment failed: {type(exc).__name__}: {first}"
        ) from None


def forget() -> None:
    """Drop cached instances (tests switching DAGSTER_HOME)."""
    with _lock:
        for found in _instances.values():
            try:
                found.dispose()
            except Exception:
                pass
        _instances.clear()


def resolve_run_id(state: DagsterState, text: str) -> str:
    """The whole id of the run `text` names in the deployment: a unique prefix of at least
    `engine.run_ids.MIN_PREFIX` characters of a run the pages know (queued, in progress or
    holding pool entries) becomes its id, with the ambiguity error (InvalidInput) of every
    other page; anything else is returned as given (Dagster then says whether it exists)."""
    if state.run(text) is not None:
        return text
    return unique_prefix_match(text, state.run_ids_starting_with) or text
