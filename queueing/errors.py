"""The error every service raises for bad input: a list of (path, message) problems."""

from __future__ import annotations

from collections.abc import Iterable

from .engine.types import ConfigError


class InvalidInput(ValueError):
    """Bad input; nothing was changed. Each problem names the field and the rule."""

    def __init__(self, errors: Iterable[ConfigError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def one(cls, path: str, message: str) -> InvalidInput:
        return cls([ConfigError(path, message)])

    def as_json(self) -> dict:
        return {"errors": [{"path": e.path, "message": e.message} for e in self.errors]}


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The request is valid but the object's state does not allow it (e.g. terminate a finished run)."""
