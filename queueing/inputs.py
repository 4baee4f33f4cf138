"""The input boundary as the shells use it: the engine's reader with the deployment's limits.

Every YAML or JSON document from a user (dagster.yaml imports, run configs, the simulator,
the launchpad, files named on the command line, API bodies through `api.parsers`) is read
by one of these functions; the rules themselves live in `queueing.engine.inputs`. Each
refusal is an `InvalidInput` naming the path and the rule, so every shell reports it the way
it reports any bad input (400 with `{"errors": [...]}`, a form error, `path: message` on
stderr).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from .engine import inputs as engine
from .errors import InvalidInput


def limits() -> engine.Limits:
    """The limits set by INPUT_MAX_BYTES, INPUT_MAX_DEPTH and INPUT_MAX_NODES."""
    return engine.Limits(
        max_bytes=settings.INPUT_MAX_BYTES,
        max_depth=settings.INPUT_MAX_DEPTH,
        max_nodes=settings.INPUT_MAX_NODES,
    )


def read_yaml(text: str, prefix: str = "", root: str = engine.FILE_PATH) -> Any:
    """The value of a YAML document; InvalidInput when the boundary refuses it."""
    try:
        return engine.read_yaml(text, limits(), prefix, root).value
    except engine.InputRefused as exc:
        raise InvalidInput([exc.error]) from None


def read_json(text: str | bytes, root: str = "body") -> Any:
    try:
        return engine.read_json(text, limits(), root=root)
    except engine.InputRefused as exc:
        raise InvalidInput([exc.error]) from None


def check_value(value: Any, prefix: str) -> None:
    """Refuse a value built elsewhere (a Python caller, a form) that the readers would have."""
    try:
        engine.check_value(value, limits(), prefix, root=prefix)
    except engine.InputRefused as exc:
        raise InvalidInput([exc.error]) from None


def read_bounded(stream: Any) -> bytes | None:
    """The bytes of `stream` (a file, an upload, a request body), or None when they are more
    than INPUT_MAX_BYTES: one byte past the limit is read, so a huge input is refused
    without ever being held whole."""
    maximum = settings.INPUT_MAX_BYTES
    data = stream.read(maximum + 1) if stream is not None else b""
    return None if len(data) > maximum else data


def read_text_file(name: str, option: str | None = None) -> str:
    """The UTF-8 text of the file `name` named on the command line (by `option`, or as the
    error's path if None); at most INPUT_MAX_BYTES are read, so a huge file is refused
    without loading it."""
    path = Path(name)
    where, it = (name, "file") if option is None else (option, str(path))
    try:
        with path.open("rb") as handle:
            data = read_bounded(handle)
    except OSError as exc:
        reading = "cannot read" if option is None else f"cannot read {path}"
        raise InvalidInput.one(where, f"{reading}: {exc.strerror}") from None
    if data is None:
        maximum = settings.INPUT_MAX_BYTES
        raise InvalidInput.one(where, f"{it} is larger than {maximum} bytes (INPUT_MAX_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput.one(where, f"{it} is not a UTF-8 text file") from None


def server_environment(trusted: bool) -> Mapping[str, str] | None:
    """The environment `{env: VAR}` values are resolved from: the server's for a trusted
    caller (an admin, the command line), none for anyone else, whose simulations then get
    an error asking for the number itself (a viewer must not probe `SECRET_KEY`)."""
    return os.environ if trusted else None
