"""Fixtures for the CLI contract tests: run a command, get its output and exit status."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from django.core.management import call_command

from queueing.models import AuditEntry, DeploymentSettings, Pool, PoolClaim, Run, Step
from queueing.services import config as config_service


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


def db_state() -> dict:
    """Everything a refused command must leave alone."""
    row = DeploymentSettings.objects.filter(pk=1).first()
    return {
        "runs": list(
            Run.objects.order_by("id").values_list("run_id", "status", "priority", "tags")
        ),
        "steps": Step.objects.count(),
        "pools": list(Pool.objects.order_by("key").values_list("key", "limit", "from_default")),
        "claims": PoolClaim.objects.count(),
        "config": None if row is None else (row.document, row.sources),
        "audit": AuditEntry.objects.count(),
    }


def snapshot():
    """Record the state now; calling the returned function asserts nothing changed since."""
    config_service.settings_row()
    before = db_state()

    def check() -> None:
        assert db_state() == before

    return check


@pytest.fixture
def unchanged(db):
    return snapshot()
