"""Loading code locations: the modules whose `defs` hold the jobs runs are made of.

A location that fails to load (import error, no `defs`, invalid definitions) becomes an
entry carrying its traceback, never an exception, so one broken module cannot take the
dashboard or the daemon down with it; the UI shows the error instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from queueing.definitions import Definitions, JobDefinition

CODE_LOCATIONS_ENV = "CODE_LOCATIONS"
DEFAULT_LOCATIONS = ("queueing.demo.definitions",)
DEFS_ATTRIBUTE = "defs"


@dataclass(frozen=True)
class LoadedLocation:
    """One code location. Exactly one of `defs` and `error` (a full traceback) is set."""

    name: str
    defs: Definitions | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.defs is not None


def default_location_modules() -> list[str]:
    """Module paths from env CODE_LOCATIONS (comma-separated); the demo if unset or empty.

    An entry may be `module:attribute` to read something other than `defs`.
    """
    raw = os.environ.get(CODE_LOCATIONS_ENV, "")
    modules = [part.strip() for part in raw.split(",") if part.strip()]
    return list(dict.fromkeys(modules)) or list(DEFAULT_LOCATIONS)


def load_location(path: str, *, reload: bool = False) -> LoadedLocation:
    """Import `path` ("pkg.module" or "pkg.module:attr") and read its Definitions.

    With `reload`, a module imported before is re-executed so code changes show up.
    """
    module_name, _, attribute = path.partition(":")
    attribute = attribute or DEFS_ATTRIBUTE
    try:
        if reload and module_name in sys.modules:
            module = importlib.reload(sys.modules[module_name])
        else:
            module = importlib.import_module(module_name)
    # SystemExit too: a module that calls sys.exit() must not stop the server.
    except (Exception, SystemExit):
        return LoadedLocation(name=path, defs=None, error=traceback.format_exc())
    defs = getattr(module, attribute, None)
    if defs is None:
        return LoadedLocation(
            name=path,
            defs=None,
            error=f"module '{module_name}' has no attribute '{attribute}': "
            f"a code location must define `{attribute} = Definitions(...)`",
        )
    if not isinstance(defs, Definitions):
        return LoadedLocation(
            name=path,
            defs=None,
            error=f"'{module_name}.{attribute}' is a {type(defs).__name__}, not a Definitions",
        )
    return LoadedLocation(name=path, defs=defs)


def load_locations(module_paths: Sequence[str], *, reload: bool = False) -> list[LoadedLocation]:
    """One LoadedLocation per distinct path, in order; never raises for a broken location."""
    return [load_location(path, reload=reload) for path in dict.fromkeys(module_paths)]


class Workspace:
    """Every loaded code location of this process, and job lookup across them."""

    def __init__(self, locations: Sequence[LoadedLocation]) -> None:
        self._locations = tuple(locations)

    @classmethod
    def load(cls, modules: Sequence[str] | None = None, *, reload: bool = False) -> Workspace:
        paths = default_location_modules() if modules is None else list(modules)
        return cls(load_locations(paths, reload=reload))

    @property
    def locations(self) -> tuple[LoadedLocation, ...]:
        return self._locations

    def errors(self) -> list[LoadedLocation]:
        return [location for location in self._locations if location.error is not None]

    def jobs(self) -> Iterator[tuple[str, JobDefinition]]:
        """(location name, job) for every job of every location that loaded, in order."""
        for location in self._locations:
            if location.defs is not None:
                for job_def in location.defs.jobs:
                    yield location.name, job_def

    def find_job(self, name: str) -> tuple[str, JobDefinition] | None:
        """(location name, job) for `name`, or None.

        Job names are not required to be unique across locations: the first location in
        CODE_LOCATIONS order that has the job wins, so list the authoritative one first.
        """
        for location_name, job_def in self.jobs():
            if job_def.name == name:
                return location_name, job_def
        return None


_workspace: Workspace | None = None
_workspace_lock = threading.Lock()


def get_workspace() -> Workspace:
    """The process-wide workspace, loaded from CODE_LOCATIONS on first use."""
    global _workspace
    with _workspace_lock:
        if _workspace is None:
            _workspace = Workspace.load()
        return _workspace


def reload_workspace(modules: Sequence[str] | None = None) -> Workspace:
    """Re-import every location (re-reading CODE_LOCATIONS unless `modules` is given)."""
    global _workspace
    with _workspace_lock:
        _workspace = Workspace.load(modules, reload=True)
        return _workspace
