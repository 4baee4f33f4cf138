"""Fixtures for the REST API contract tests: one logged-in client per role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from tests.support.state import db_state, snapshot  # noqa: F401 (re-exported to tests)

ROLES = ("viewer", "operator", "admin")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Launches after a tick would go to Celery; these tests only look at the database."""
    sent: list[str] = []
    monkeypatch.setattr("queueing.services.run_queue.send_launches", sent.extend)
    return sent


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The real hasher costs ~0.3 s per user; these tests are not about hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(role: str) -> User:
    user = User.objects.create_user(f"{role}-user", password="pw-for-tests")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def clients(db) -> dict[str, APIClient]:
    """`anonymous`, `viewer`, `operator`, `admin`: clients logged in by session."""
    result = {"anonymous": APIClient()}
    for role in ROLES:
        client = APIClient()
        client.force_login(make_user(role))
        result[role] = client
    return result


@pytest.fixture
def admin_client(clients) -> APIClient:
    return clients["admin"]


@pytest.fixture
def operator_client(clients) -> APIClient:
    return clients["operator"]


@pytest.fixture
def viewer_client(clients) -> APIClient:
    return clients["viewer"]


@pytest.fixture
def unchanged(db):
    """`snapshot()` taken when the test starts."""
    return snapshot()


def errors_of(response) -> list[tuple[str, str]]:
    """The `(path, message)` pairs of a 400 answer, asserting its shape."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"], body
    return [(e["path"], e["message"]) for e in body["errors"]]
