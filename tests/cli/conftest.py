"""Fixtures for the CLI contract tests: run a command, get its output and exit status."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from django.core.management import call_command

from tests.support.state import db_state, snapshot  # noqa: F401 (re-exported to tests)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Launches after a tick would go to Celery; these tests only look at the database."""
    monkeypatch.setattr("queueing.services.run_queue.send_launches", lambda run_ids: None)


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)

    @property
    def error_lines(self) -> list[str]:
        return self.err.splitlines()


def cli(*args: str) -> Result:
    """Run `manage.py <args>`; a command that exits 1 gives status 1 instead of raising."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return Result(status, out.getvalue(), err.getvalue())


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.status == 0, result.err
    return result


def failed(*args: str) -> Result:
    """Run a command that must exit 1 with one `path: message` line per problem."""
    result = cli(*args)
    assert result.status == 1, (result.out, result.err)
    assert result.out == ""
    assert result.error_lines
    return result


@pytest.fixture
def unchanged(db):
    return snapshot()
